package pages

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wmtna/referrals/internal/referral"
)

// dateInput is a GOV.UK date input as typed: separate day (unless it asks
// for a month only), month and year fields, named name-day, name-month and
// name-year. The first field's id is the name itself, so that the error
// summary's link to the field lands on it.
type dateInput struct {
	Day, Month, Year string
	// Wrong are the parts to highlight ("day", "month", "year").
	Wrong []string
}

func readDateInput(form url.Values, name string, withDay bool) dateInput {
	in := dateInput{
		Month: strings.TrimSpace(form.Get(name + "-month")),
		Year:  strings.TrimSpace(form.Get(name + "-year")),
	}
	if withDay {
		in.Day = strings.TrimSpace(form.Get(name + "-day"))
	}
	return in
}

// Invalid reports whether a part is to be highlighted.
func (in dateInput) Invalid(part string) bool { return slices.Contains(in.Wrong, part) }

// Empty reports whether nothing was typed in any part.
func (in dateInput) Empty() bool { return in.Day == "" && in.Month == "" && in.Year == "" }

// monthNames are what people type for a month besides its number, as
// GOV.UK's date input accepts: "9", "09", "sep" or "September".
var monthNames = func() map[string]time.Month {
	m := map[string]time.Month{}
	for n := time.January; n <= time.December; n++ {
		name := strings.ToLower(n.String())
		m[name], m[name[:3]] = n, n
	}
	m["sept"] = time.September
	return m
}()

// read returns the day (the first of the month without a day) or, with the
// parts marked Wrong, what is wrong with it, starting with what: "The date
// you expect to qualify must include a year". GOV.UK's wording, naming the
// part at fault. Nothing typed at all is the caller's to word (in.Empty).
func (in *dateInput) read(what string, withDay bool) (referral.Date, string) {
	in.Wrong = nil
	parts := []struct{ name, typed string }{{"day", in.Day}, {"month", in.Month}, {"year", in.Year}}
	if !withDay {
		parts = parts[1:]
	}
	var missing []string
	for _, p := range parts {
		if p.typed == "" {
			in.Wrong = append(in.Wrong, p.name)
			missing = append(missing, "a "+p.name)
		}
	}
	if len(missing) > 0 {
		return referral.Date{}, what + " must include " + andList(missing)
	}
	year, err := strconv.Atoi(in.Year)
	if err != nil || len(in.Year) != 4 || year < 1 {
		in.Wrong = []string{"year"}
		return referral.Date{}, what + " must be a real date: the year must have 4 numbers, like 2025"
	}
	month, ok := monthNames[strings.ToLower(in.Month)]
	if n, err := strconv.Atoi(in.Month); err == nil && n >= 1 && n <= 12 && len(in.Month) <= 2 {
		month, ok = time.Month(n), true
	}
	if !ok {
		in.Wrong = []string{"month"}
		return referral.Date{}, what + " must be a real date: the month must be a number from 1 to 12"
	}
	day := 1
	if withDay {
		last := time.Date(year, month+1, 0, 0, 0, 0, 0, time.UTC).Day()
		n, err := strconv.Atoi(in.Day)
		if err != nil || n < 1 || n > last || len(in.Day) > 2 {
			in.Wrong = []string{"day"}
			return referral.Date{}, fmt.Sprintf("%s must be a real date: the day must be a number from 1 to %d in %s", what, last, month)
		}
		day = n
	}
	return referral.Date{Year: year, Month: month, Day: day}, ""
}
