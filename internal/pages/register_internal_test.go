package pages

import (
	"testing"
	"time"

	"github.com/wmtna/referrals/internal/referral"
)

// The GOV.UK date input: what is missing, or not a day, is said plainly.
func TestReadDate(t *testing.T) {
	what := "The date you come back"
	for _, c := range []struct {
		d, m, y string
		want    referral.Date
		problem string
	}{
		{"3", "3", "2027", referral.Date{Year: 2027, Month: time.March, Day: 3}, ""},
		{"03", "03", "2027", referral.Date{Year: 2027, Month: time.March, Day: 3}, ""},
		{"", "", "", referral.Date{}, "Enter the date you come back"},
		{"3", "", "", referral.Date{}, "The date you come back must include a month and a year"},
		{"", "3", "2027", referral.Date{}, "The date you come back must include a day"},
		{"30", "2", "2027", referral.Date{}, "The date you come back must be a real date, like 3 3 2027"},
		{"3", "13", "2027", referral.Date{}, "The date you come back must be a real date, like 3 3 2027"},
		{"3", "3", "27", referral.Date{}, "The date you come back must be a real date, like 3 3 2027"},
		{"x", "3", "2027", referral.Date{}, "The date you come back must be a real date, like 3 3 2027"},
	} {
		got, problem := readDate(c.d, c.m, c.y, what)
		if got != c.want || problem != c.problem {
			t.Errorf("readDate(%q, %q, %q) = %v, %q; want %v, %q", c.d, c.m, c.y, got, problem, c.want, c.problem)
		}
	}
}

// How a therapist works, their status and a lowered capacity, in words.
func TestTherapistInWords(t *testing.T) {
	area := func(code string) string {
		return map[string]string{"birmingham": "Birmingham", "coventry": "Coventry"}[code]
	}
	until := referral.Date{Year: 2027, Month: time.March, Day: 3}
	retired := time.Date(2027, time.January, 5, 12, 0, 0, 0, referral.London)
	for _, c := range []struct {
		name                string
		t                   referral.Therapist
		works, status, note string
		own                 string
	}{
		{"online, free", referral.Therapist{Online: true, Active: true, Capacity: 2},
			"Online", "Active", "", "You are available: you can be offered 2 clients."},
		{"in person, one left", referral.Therapist{InPerson: true, Areas: []string{"birmingham", "coventry"}, Active: true, Capacity: 2, PlacesUsed: 1},
			"In person in Birmingham and Coventry", "Active", "", "You are available: you can be offered 1 more client."},
		{"both, full", referral.Therapist{Online: true, InPerson: true, Areas: []string{"coventry"}, Active: true, Capacity: 1, PlacesUsed: 1},
			"Online, and in person in Coventry", "Active", "", "You are available, and all the places you offer (1) are in use: you will be offered a referral when one becomes free."},
		{"lowered below use", referral.Therapist{Online: true, Active: true, Capacity: 1, PlacesUsed: 2},
			"Online", "Active",
			"Capacity lowered to 1: 2 places are still in use, and those clients keep them. No new referrals will be offered until no places are in use.",
			"You are available, but you take 1 client and 2 places are in use: you will not be offered a referral until no places are in use."},
		{"lowered to none", referral.Therapist{Online: true, Active: true, Capacity: 0, PlacesUsed: 1},
			"Online", "Active",
			"Capacity lowered to 0: 1 place is still in use, and that client keeps it until their therapy ends. No new referrals will be offered.",
			"You are available, but you take no clients through the network just now: you will not be offered a referral until you raise the number you can see."},
		{"away until a day", referral.Therapist{Online: true, Capacity: 1, AwayUntil: &until},
			"Online", "Away until 3 March 2027", "", "You are away until 3 March 2027: you will not be offered referrals until then."},
		{"away until further notice", referral.Therapist{Online: true, Capacity: 1},
			"Online", "Away until further notice", "", "You are away until further notice: you will not be offered referrals until you say you are available again."},
		{"retired", referral.Therapist{Online: true, Active: true, Capacity: 0, PlacesUsed: 1, RetiredAt: &retired},
			"Online", "Retired on 5 January 2027", "", "You have retired from the register: you will not be offered new referrals. Your current clients stay with you until their therapy ends."},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := works(c.t, area); got != c.works {
				t.Errorf("works = %q, want %q", got, c.works)
			}
			if got := therapistStatus(c.t); got != c.status {
				t.Errorf("status = %q, want %q", got, c.status)
			}
			if got := capacityNote(c.t); got != c.note {
				t.Errorf("capacity note = %q, want %q", got, c.note)
			}
			if got := ownStatus(c.t); got != c.own {
				t.Errorf("own status = %q, want %q", got, c.own)
			}
		})
	}
}
