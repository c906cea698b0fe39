//go:build !fuzzing

package pages_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wmtna/referrals/internal/referral"
	"github.com/wmtna/referrals/internal/stacktest"
	"github.com/wmtna/referrals/workflows"
)

// newTherapistForm is the add form filled in as a committee member would.
func newTherapistForm(csrf string) url.Values {
	return url.Values{
		"csrf": {csrf}, "name": {"Dr Sam Patel"}, "email": {"sam.patel@example.org"}, "hcpc_number": {"PYL01234"},
		"disciplines": {"clinical", "counselling"}, "online": {"yes"}, "in_person": {"yes"}, "areas": {"birmingham", "coventry"},
		"capacity": {"2"}, "conflict_programmes": {"forensic"}, "conflict_employers": {"RXT"},
	}
}

// dateForm fills the away-until date input with a day d days from today
// by the stack's clock.
func dateForm(s *stacktest.Stack, form url.Values, days int) url.Values {
	d := referral.DateOf(s.Now().AddDate(0, 0, days))
	form.Set("away", "until")
	form.Set("away_until-day", strconv.Itoa(d.Day))
	form.Set("away_until-month", strconv.Itoa(int(d.Month)))
	form.Set("away_until-year", strconv.Itoa(d.Year))
	return form
}

var entryPath = regexp.MustCompile(`^/committee/register/([0-9a-f-]{36})\?done=added$`)

// The committee adds a therapist from its page, with every mistake shown
// beside its field; changes them; marks them away and back; retires them;
// and reads what happened in the register's history.
func TestCommitteeKeepsTheRegister(t *testing.T) {
	s := stacktest.Start(t, workflows.Timings{ReviewReminder: time.Hour, OfferTTL: time.Hour, WaitlistRecheck: time.Hour})
	testLogs = s.Logs
	chair := s.Do("POST", "/v1/committee-members", stacktest.AdminToken, map[string]any{"name": "Chair", "email": "chair@example.org", "role": "chair"})
	b := signedInAs(t, s, referral.Principal{Role: referral.RoleCommittee, Subject: chair.Str("id")})

	b.get("/committee").want(t, 200, `href="/committee/register"`)
	b.get("/committee/register").want(t, 200, "No therapists are on the register yet", `href="/committee/register/new"`, "Add a therapist")
	form := b.get("/committee/register/new")
	form.want(t, 200, `<label for="hcpc_number">HCPC registration number</label>`, "PYL followed by digits",
		"<legend>Their discipline or disciplines</legend>", `<label for="disciplines-clinical">Clinical psychology</label>`,
		"<legend>How do they see clients?</legend>", `<label for="areas-birmingham">Birmingham</label>`,
		"<legend>Programmes they teach or supervise on (optional)</legend>", "<legend>Employers they work for (optional)</legend>")
	csrf := form.csrf(t)

	for _, c := range []struct {
		name   string
		change func(url.Values)
		field  string
		says   string
	}{
		{"HCPC number without digits", func(f url.Values) { f.Set("hcpc_number", "PYL") }, "hcpc_number", "Enter the HCPC number as PYL followed by digits"},
		{"in person with no area", func(f url.Values) { f.Del("areas") }, "areas", "Choose at least one area where the therapist sees people in person"},
		{"neither online nor in person", func(f url.Values) { f.Del("online"); f.Del("in_person") }, "works", "Choose how the therapist works"},
		{"capacity not a number", func(f url.Values) { f.Set("capacity", "two") }, "capacity", "as a number, like 2"},
		{"capacity too high", func(f url.Values) { f.Set("capacity", "99") }, "capacity", "Enter a number of clients from 0 to 50"},
		{"no email", func(f url.Values) { f.Del("email") }, "email", "Enter the therapist&#39;s email address"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newTherapistForm(csrf)
			c.change(f)
			got := b.post("/committee/register/new", f)
			got.want(t, 422, "<title>Error: Add a therapist", "There is a problem", `href="#`+c.field+`"`, `id="`+c.field+`-error"`, c.says,
				`value="Dr Sam Patel"`)
		})
	}

	added := b.post("/committee/register/new", newTherapistForm(csrf))
	m := entryPath.FindStringSubmatch(added.Location)
	if added.Status != http.StatusSeeOther || m == nil {
		t.Fatalf("add: %d %q\n%s", added.Status, added.Location, added.Body)
	}
	id := m[1]
	b.get(added.Location).want(t, 200, "Dr Sam Patel is on the register. Their free places have been offered to the waiting list.",
		"PYL01234", "Clinical psychology and Counselling psychology", "Online, and in person in Birmingham and Coventry",
		"Forensic psychology", "Birmingham and Solihull", ">Active<", `href="/committee/register/`+id+`/edit#capacity"`)
	// The token the use case issues is never shown: the therapist signs in
	// by email.
	if strings.Contains(b.get("/committee/register/"+id).Body, "token") {
		t.Error("the therapist's page shows a token")
	}
	// The same form sent again (a double click) adds no one, and goes to
	// the entry the first made.
	if again := b.post("/committee/register/new", newTherapistForm(csrf)); again.Status != 303 || again.Location != added.Location {
		t.Errorf("the same form again: %d %q, want %q", again.Status, again.Location, added.Location)
	}
	// Another therapist with the same HCPC number is refused beside the field.
	dup := newTherapistForm(csrf)
	dup.Set("email", "other@example.org")
	b.post("/committee/register/new", dup).want(t, 409, `href="#hcpc_number"`, "already on the register")
	b.get("/committee/register").want(t, 200, `href="/committee/register/`+id+`"`, "Dr Sam Patel", "PYL01234", "Online, and in person in Birmingham and Coventry", "Takes 2, 0 in use", "Active")

	// Changing: the form comes back filled in; unticking every area of an
	// online-only therapist clears them.
	edit := b.get("/committee/register/" + id + "/edit")
	edit.want(t, 200, "Change Dr Sam Patel", `value="sam.patel@example.org"`, `id="areas-coventry" name="areas" type="checkbox" value="coventry" checked`)
	change := newTherapistForm(csrf)
	change.Del("hcpc_number")
	change.Del("in_person")
	change.Set("capacity", "3")
	if p := b.post("/committee/register/"+id+"/edit", change); p.Status != 303 {
		t.Fatalf("change: %d\n%s", p.Status, p.Body)
	}
	b.get("/committee/register/"+id+"?done=changed").want(t, 200, "Dr Sam Patel&#39;s entry is changed.", "<dd>Online</dd>", "<dd>3</dd>")
	change.Set("capacity", "-1")
	b.post("/committee/register/"+id+"/edit", change).want(t, 422, "<title>Error: Change Dr Sam Patel", `href="#capacity"`, "from 0 to 50")

	// Away: a date in the past is refused beside the date input; a date
	// ahead is kept, and the entry says so.
	avail := b.get("/committee/register/" + id + "/availability")
	avail.want(t, 200, "Is Dr Sam Patel available for new referrals?", `<label for="away_until">Day</label>`, `<label for="away_until-year">Year</label>`)
	past := dateForm(s, url.Values{"csrf": {csrf}, "capacity": {"3"}, "online": {"yes"}}, -1)
	b.post("/committee/register/"+id+"/availability", past).want(t, 422, "<title>Error: Availability of Dr Sam Patel",
		`href="#away_until"`, `id="away_until-error"`, "The date they come back must be in the future")
	half := url.Values{"csrf": {csrf}, "capacity": {"3"}, "online": {"yes"}, "away": {"until"}, "away_until-day": {"3"}}
	b.post("/committee/register/"+id+"/availability", half).want(t, 422, "must include a month and a year")
	ahead := dateForm(s, url.Values{"csrf": {csrf}, "capacity": {"3"}, "online": {"yes"}}, 30)
	if p := b.post("/committee/register/"+id+"/availability", ahead); p.Status != 303 {
		t.Fatalf("away: %d\n%s", p.Status, p.Body)
	}
	back := referral.DateOf(s.Now().AddDate(0, 0, 30)).Start().Format("2 January 2006")
	entry := b.get("/committee/register/" + id)
	entry.want(t, 200, "Away until "+back, "Mark Dr Sam Patel as available now", "Marked away", "By a committee member")
	b.get("/committee/register").want(t, 200, "Away until "+back)
	if p := b.post("/committee/register/"+id+"/back", url.Values{"csrf": {csrf}}); p.Status != 303 {
		t.Fatalf("back: %d\n%s", p.Status, p.Body)
	}
	b.get("/committee/register/"+id+"?done=back").want(t, 200, "Dr Sam Patel is back.", ">Active<", "Marked available again")
	indefinitely := url.Values{"csrf": {csrf}, "capacity": {"3"}, "online": {"yes"}, "away": {"indefinitely"}}
	b.post("/committee/register/"+id+"/availability", indefinitely).want(t, 303)
	b.get("/committee/register").want(t, 200, "Away until further notice")

	// Retiring asks first.
	b.get("/committee/register/"+id+"/retire").want(t, 200, "Retire Dr Sam Patel from the register?",
		"They will be offered no new referrals. Their current clients stay with them until their therapy ends.", "Yes, retire Dr Sam Patel")
	if p := b.post("/committee/register/"+id+"/retire", url.Values{"csrf": {csrf}}); p.Status != 303 {
		t.Fatalf("retire: %d\n%s", p.Status, p.Body)
	}
	retired := b.get("/committee/register/" + id + "?done=retired")
	retired.want(t, 200, "Dr Sam Patel has retired from the register.", "Retired on", "Retired from the register")
	if strings.Contains(retired.Body, "/availability") {
		t.Error("a retired therapist's page still offers to change their availability")
	}

	// The history, in plain words: who by their part, what from what.
	history := b.get("/committee/register/" + id)
	history.want(t, 200, "Added to the register", "Clients they take: from 2 to 3", "Works in person: from yes to no",
		"Areas for in-person work: from Birmingham and Coventry to none")
	if strings.Contains(history.Body, chair.Str("id")) {
		t.Error("the history shows the committee member's ID")
	}

	// The whole register's history, a page at a time.
	for i := range 30 {
		s.Do("PATCH", "/v1/therapists/"+id, stacktest.AdminToken, map[string]any{"capacity": i % 5})
	}
	first := b.get("/committee/register/history")
	first.want(t, 200, "History of the register", `<a href="/committee/register/`+id+`">Dr Sam Patel</a>`, "By an operator", "Older changes")
	older := regexp.MustCompile(`href="(/committee/register/history\?before=[0-9]+)">Older changes`).FindStringSubmatch(first.Body)
	if older == nil {
		t.Fatalf("no link to older changes:\n%s", first.Body)
	}
	next := b.get(older[1])
	next.want(t, 200, "Added to the register", "Newest changes")
	if strings.Contains(first.Body, "Added to the register") {
		t.Error("the first page of history reaches the oldest change")
	}
}

// A therapist keeps their own availability: their page says where they
// stand, and the availability form refuses mistakes beside the field.
func TestTherapistKeepsTheirAvailability(t *testing.T) {
	s := stacktest.Start(t, workflows.Timings{ReviewReminder: time.Hour, OfferTTL: time.Hour, WaitlistRecheck: time.Hour})
	testLogs = s.Logs
	th := s.Do("POST", "/v1/therapists", stacktest.AdminToken, map[string]any{"name": "Dr One", "email": "one@example.org", "hcpc_number": "PYL1", "capacity": 2})
	b := signedInAs(t, s, referral.Principal{Role: referral.RoleTherapist, Subject: th.Str("id")})

	b.get("/therapist").want(t, 200, "You are available: you can be offered 2 clients.", `href="/therapist/availability"`)
	form := b.get("/therapist/availability")
	form.want(t, 200, "<h1>Your availability</h1>", "<legend>Are you available for new referrals?</legend>", "I am away until a date",
		"I am away until further notice", `id="away-available" name="away" type="radio" value="available" checked`,
		"How many clients can you see through the network at one time?", `value="2"`)
	csrf := form.csrf(t)
	for _, c := range []struct {
		name  string
		form  url.Values
		field string
		says  string
	}{
		{"an away date in the past", dateForm(s, url.Values{"capacity": {"2"}, "online": {"yes"}}, -3), "away_until", "The date you come back must be in the future"},
		{"an away date that is not a date", url.Values{"capacity": {"2"}, "online": {"yes"}, "away": {"until"},
			"away_until-day": {"31"}, "away_until-month": {"2"}, "away_until-year": {"2030"}}, "away_until", "must be a real date"},
		{"in person with no area", url.Values{"capacity": {"2"}, "in_person": {"yes"}, "away": {"available"}}, "areas", "Choose at least one area where you see people in person"},
		{"no capacity", url.Values{"online": {"yes"}, "away": {"available"}}, "capacity", "Enter how many clients you can see"},
		{"no answer to away", url.Values{"capacity": {"2"}, "online": {"yes"}}, "away", "Choose whether you are available or away"},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.form.Set("csrf", csrf)
			b.post("/therapist/availability", c.form).want(t, 422, "<title>Error: Your availability", "There is a problem",
				`href="#`+c.field+`"`, `id="`+c.field+`-error"`, c.says)
		})
	}

	away := dateForm(s, url.Values{"csrf": {csrf}, "capacity": {"2"}, "online": {"yes"}, "in_person": {"yes"}, "areas": {"coventry"}}, 10)
	done := b.post("/therapist/availability", away)
	if done.Status != 303 || done.Location != "/therapist?done=availability" {
		t.Fatalf("save: %d %q\n%s", done.Status, done.Location, done.Body)
	}
	back := referral.DateOf(s.Now().AddDate(0, 0, 10)).Start().Format("2 January 2006")
	b.get(done.Location).want(t, 200, "Your availability is saved.", "You are away until "+back+": you will not be offered referrals until then.")
	b.get("/therapist/availability").want(t, 200, `id="away-until" name="away" type="radio" value="until" checked`,
		`id="areas-coventry" name="areas" type="checkbox" value="coventry" checked`)
	r := s.Do("GET", "/v1/therapists/"+th.Str("id"), stacktest.AdminToken, nil)
	if r.Str("status") != "away" || r.Str("away_until") != referral.DateOf(s.Now().AddDate(0, 0, 10)).String() || r.Body["in_person"] != true {
		t.Errorf("after saving: %s", r.Raw)
	}
	// The committee sees who changed it.
	chair := s.Do("POST", "/v1/committee-members", stacktest.AdminToken, map[string]any{"name": "Chair", "email": "chair@example.org", "role": "chair"})
	committee := signedInAs(t, s, referral.Principal{Role: referral.RoleCommittee, Subject: chair.Str("id")})
	committee.get("/committee/register/"+th.Str("id")).want(t, 200, "Marked away", "By the therapist")

	// On the day, the durable timer brings them back (here, its store
	// step, as the TherapistReturn workflow runs it): the history says it
	// was the automatic return, and their page that they are available.
	if ok, err := s.DB.ReturnTherapist(context.Background(), th.Str("id"), referral.DateOf(s.Now().AddDate(0, 0, 10))); err != nil || !ok {
		t.Fatalf("return: %v %v", ok, err)
	}
	committee.get("/committee/register/"+th.Str("id")).want(t, 200, "Came back", "By automatic return, on the day they had given", ">Active<")
	b.get("/therapist").want(t, 200, "You are available: you can be offered 2 clients.")
}

// A therapist who comes back, or who makes room, gives their place to the
// referral waiting for one, at once.
func TestTherapistComingBackGivesTheirPlaceToTheWaitingList(t *testing.T) {
	s := stacktest.Start(t, workflows.Timings{ReviewReminder: time.Hour, OfferTTL: time.Hour, WaitlistRecheck: time.Hour})
	testLogs = s.Logs
	admin := stacktest.AdminToken
	chair := s.Do("POST", "/v1/committee-members", admin, map[string]any{"name": "Chair", "email": "chair@example.org", "role": "chair"})
	for i, c := range []struct {
		name     string
		capacity int
		away     bool
		form     url.Values
	}{
		{"back from away", 1, true, url.Values{"capacity": {"1"}, "online": {"yes"}, "away": {"available"}}},
		{"more room", 0, false, url.Values{"capacity": {"1"}, "online": {"yes"}, "away": {"available"}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			th := s.Do("POST", "/v1/therapists", admin, map[string]any{"name": "Dr " + c.name, "email": fmt.Sprintf("t%d@example.org", i),
				"hcpc_number": fmt.Sprintf("PYL9%d", i), "capacity": c.capacity})
			b := signedInAs(t, s, referral.Principal{Role: referral.RoleTherapist, Subject: th.Str("id")})
			csrf := b.get("/therapist").csrf(t)
			if c.away {
				b.post("/therapist/availability", url.Values{"csrf": {csrf}, "capacity": {"1"}, "online": {"yes"}, "away": {"indefinitely"}}).want(t, 303)
				b.get("/therapist").want(t, 200, "You are away until further notice")
			}
			ref := s.MustRefer(map[string]any{"name": "N", "email": fmt.Sprintf("w%d@nhs.example", i), "programme": "clinical", "employer": "RXT",
				"training_start": s.TrainingMonth(), "concerns": "c", "consent": true})
			s.WaitStatus(ref.Str("id"), "awaiting_review", 10*time.Second)
			if r := s.Do("POST", "/v1/referrals/"+ref.Str("id")+"/review", chair.Str("token"), map[string]any{"decision": "approve"}); r.Str("status") != "waitlisted" {
				t.Fatalf("approve with nobody free: %d %s, want waitlisted", r.Status, r.Raw)
			}
			c.form.Set("csrf", csrf)
			b.post("/therapist/availability", c.form).want(t, 303)
			if r := s.WaitStatus(ref.Str("id"), "offered", 10*time.Second); !strings.Contains(r.Raw, th.Str("id")) {
				t.Fatalf("the waiting referral was not offered to the therapist: %s", r.Raw)
			}
			b.get("/therapist").want(t, 200, "Offers waiting for your answer (1)")
		})
	}
}

// A capacity lowered below the places in use is said plainly on the
// register and the therapist's entry.
func TestRegisterSaysWhenCapacityIsBelowThePlacesInUse(t *testing.T) {
	s := stacktest.Start(t, workflows.Timings{ReviewReminder: time.Hour, OfferTTL: time.Hour, WaitlistRecheck: time.Hour})
	testLogs = s.Logs
	admin := stacktest.AdminToken
	chair := s.Do("POST", "/v1/committee-members", admin, map[string]any{"name": "Chair", "email": "chair@example.org", "role": "chair"})
	th := s.Do("POST", "/v1/therapists", admin, map[string]any{"name": "Dr Busy", "email": "busy@example.org", "hcpc_number": "PYL5", "capacity": 2})
	for i := range 2 {
		ref := s.MustRefer(map[string]any{"name": "N", "email": fmt.Sprintf("c%d@nhs.example", i), "programme": "clinical", "employer": "RXT",
			"training_start": s.TrainingMonth(), "concerns": "c", "consent": true})
		s.WaitStatus(ref.Str("id"), "awaiting_review", 10*time.Second)
		if r := s.Do("POST", "/v1/referrals/"+ref.Str("id")+"/review", chair.Str("token"), map[string]any{"decision": "approve"}); r.Str("status") != "offered" {
			t.Fatalf("approve: %d %s", r.Status, r.Raw)
		}
	}
	b := signedInAs(t, s, referral.Principal{Role: referral.RoleCommittee, Subject: chair.Str("id")})
	csrf := b.get("/committee/register").csrf(t)
	lower := url.Values{"csrf": {csrf}, "capacity": {"1"}, "online": {"yes"}, "away": {"available"}}
	b.post("/committee/register/"+th.Str("id")+"/availability", lower).want(t, 303)
	note := "Capacity lowered to 1: 2 places are still in use, and those clients keep them. No new referrals will be offered until no places are in use."
	b.get("/committee/register").want(t, 200, note, "Takes 1, 2 in use")
	b.get("/committee/register/"+th.Str("id")).want(t, 200, note, "Clients they take: from 2 to 1")
	therapist := signedInAs(t, s, referral.Principal{Role: referral.RoleTherapist, Subject: th.Str("id")})
	therapist.get("/therapist").want(t, 200, "you take 1 client and 2 places are in use: you will not be offered a referral until no places are in use")
}
