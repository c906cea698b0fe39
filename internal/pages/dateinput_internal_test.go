package pages

import (
	"net/url"
	"slices"
	"testing"

	"github.com/wmtna/referrals/internal/referral"
)

func TestDateInput(t *testing.T) {
	const what = "The date you qualify"
	for _, tc := range []struct {
		name           string
		day, mon, year string
		withDay        bool
		want           referral.Date
		msg            string
		wrong          []string
	}{
		{"a day", "3", "3", "2027", true, referral.Date{Year: 2027, Month: 3, Day: 3}, "", nil},
		{"leading zeros and spaces", " 03", "09 ", "2027", true, referral.Date{Year: 2027, Month: 9, Day: 3}, "", nil},
		{"a month by name", "", "Sept", "2025", false, referral.Date{Year: 2025, Month: 9, Day: 1}, "", nil},
		{"a month without a day", "", "10", "2025", false, referral.Date{Year: 2025, Month: 10, Day: 1}, "", nil},
		{"29 February in a leap year", "29", "2", "2028", true, referral.Date{Year: 2028, Month: 2, Day: 29}, "", nil},
		{"29 February otherwise", "29", "2", "2027", true, referral.Date{}, what + " must be a real date: the day must be a number from 1 to 28 in February", []string{"day"}},
		{"no day", "", "2", "2027", true, referral.Date{}, what + " must include a day", []string{"day"}},
		{"no day or year", "", "2", "", true, referral.Date{}, what + " must include a day and a year", []string{"day", "year"}},
		{"no year for a month", "", "2", "", false, referral.Date{}, what + " must include a year", []string{"year"}},
		{"month 0", "1", "0", "2027", true, referral.Date{}, what + " must be a real date: the month must be a number from 1 to 12", []string{"month"}},
		{"month in words unknown", "1", "Smarch", "2027", true, referral.Date{}, what + " must be a real date: the month must be a number from 1 to 12", []string{"month"}},
		{"a year of 2 numbers", "1", "1", "27", true, referral.Date{}, what + " must be a real date: the year must have 4 numbers, like 2025", []string{"year"}},
		{"a year in words", "1", "1", "twenty", true, referral.Date{}, what + " must be a real date: the year must have 4 numbers, like 2025", []string{"year"}},
		{"a negative day", "-1", "1", "2027", true, referral.Date{}, what + " must be a real date: the day must be a number from 1 to 31 in January", []string{"day"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := "d"
			in := readDateInput(url.Values{name + "-day": {tc.day}, name + "-month": {tc.mon}, name + "-year": {tc.year}}, name, tc.withDay)
			got, msg := in.read(what, tc.withDay)
			if got != tc.want || msg != tc.msg || !slices.Equal(in.Wrong, tc.wrong) {
				t.Errorf("read = %v, %q, wrong %v; want %v, %q, wrong %v", got, msg, in.Wrong, tc.want, tc.msg, tc.wrong)
			}
		})
	}
}
