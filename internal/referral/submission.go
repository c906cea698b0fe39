package referral

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Draft is a self-referral as a person typed it, on the form or in the
// API's JSON, before it is checked. An empty field was not given.
type Draft struct {
	Name, Email, Programme, Employer string
	// EmployerName is the NHS-contracted service a trainee works in when
	// it is not on the register, in their words; given instead of
	// Employer, for the committee to check.
	EmployerName string
	// TrainingStart is a month (YYYY-MM); ExpectedQualification a day
	// (YYYY-MM-DD), optional.
	TrainingStart, ExpectedQualification string
	Concerns                             string
	Preferences                          Preferences
	Consent                              bool
	AtRisk                               bool
}

// Problem is what is wrong with one field of what a person typed, named as
// the API names it.
type Problem struct {
	Field, Message string
}

// MaxEmployerName is the longest name of a service not on the register.
const MaxEmployerName = 200

var (
	programmePattern = regexp.MustCompile(`^[a-z_]{2,40}$`)
	// OrgCodePattern is the shape of an NHS ODS organisation code.
	OrgCodePattern = regexp.MustCompile(`^[A-Z0-9]{3,6}$`)
)

// Check checks the shape of a draft on the given day and returns the
// submission, with every problem in the form's order, so a page can show
// each beside its field. Whether the trainee is eligible is not its
// business: the workflow decides that, with a reason the trainee is told.
func (d Draft) Check(today Date) (Submission, []Problem) {
	var s Submission
	var problems []Problem
	bad := func(field, format string, args ...any) {
		problems = append(problems, Problem{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	given := func(name, v string, max int) (string, bool) {
		switch {
		case strings.TrimSpace(v) == "":
			bad(name, "%s is required", name)
		case utf8.RuneCountInString(v) > max:
			bad(name, "%s must be at most %d characters", name, max)
		case !Typed(v, name == "concerns"):
			bad(name, "%s must be plain text, without control characters such as line breaks", name)
		default:
			return strings.TrimSpace(v), true
		}
		return "", false
	}
	s.Name, _ = given("name", d.Name, 200)
	if email, ok := given("email", d.Email, MaxEmailLength); ok {
		if addr, err := ParseEmail(email); err != nil {
			bad("email", "%s", err)
		} else {
			s.Email = addr
		}
	}
	if programme, ok := given("programme", d.Programme, 40); ok {
		if !programmePattern.MatchString(programme) {
			bad("programme", "programme must be a programme code such as clinical; the network's programmes are %s", strings.Join(Programmes, ", "))
		} else {
			s.Programme = programme
		}
	}
	switch {
	case strings.TrimSpace(d.Employer) != "" && strings.TrimSpace(d.EmployerName) != "":
		bad("employer_name", "give either employer, a code from the register, or employer_name, a service not on it, not both")
	case strings.TrimSpace(d.EmployerName) != "":
		s.EmployerName, _ = given("employer_name", d.EmployerName, MaxEmployerName)
	case strings.TrimSpace(d.Employer) == "":
		bad("employer", "employer is required: the NHS ODS code of your organisation, such as RXT, or employer_name if your service is not on the register")
	default:
		if employer, ok := given("employer", d.Employer, 6); ok {
			s.Employer = strings.ToUpper(employer)
			if !OrgCodePattern.MatchString(s.Employer) {
				bad("employer", "employer must be the NHS ODS code of your organisation, such as RXT")
			}
		}
	}
	startOK := false
	if month, ok := given("training_start", d.TrainingStart, 7); ok {
		start, err := ParseMonth(month)
		switch {
		case err != nil:
			bad("training_start", "training_start must be a month of the form YYYY-MM")
		case start.Year < 2000:
			bad("training_start", "training_start must be in 2000 or later")
		case (Date{Year: today.Year, Month: today.Month, Day: 1}).Before(start):
			// Nobody is a trainee before their training starts, and a
			// cut-off reckoned from a start yet to come would be wrong.
			bad("training_start", "training_start must not be after this month: you can refer yourself once your training has started")
		default:
			s.TrainingStart, startOK = start, true
		}
	}
	if d.ExpectedQualification != "" {
		eq, err := ParseDate(d.ExpectedQualification)
		switch {
		case err != nil:
			bad("expected_qualification", "expected_qualification must be a real date of the form YYYY-MM-DD")
		case startOK && !s.TrainingStart.Before(eq):
			bad("expected_qualification", "expected_qualification must be after training_start")
		default:
			s.ExpectedQualification = &eq
		}
	}
	s.Concerns, _ = given("concerns", d.Concerns, 5000)
	s.Preferences = checkPreferences(d.Preferences, bad)
	s.AtRisk = d.AtRisk
	if !d.Consent {
		bad("consent", "consent must be true: we need your consent to store and share your referral with the committee and a therapist")
	}
	return s, problems
}

// AreaCodePattern is the shape of an area's code in the committee's list
// of areas.
var AreaCodePattern = regexp.MustCompile(`^[a-z][a-z0-9-]{1,39}$`)

// MaxAreas is how many areas a trainee or therapist may name.
const MaxAreas = 20

// checkPreferences checks how the trainee can meet and what they would like.
// Whether each area is on the committee's list is the caller's to check:
// the list is data, not code.
func checkPreferences(p Preferences, bad func(field, format string, args ...any)) Preferences {
	if p.Meeting == "" {
		p.Meeting = MeetEither
	}
	if !slices.Contains(Meetings, p.Meeting) {
		bad("preferences.meeting", `preferences.meeting must be "online", "in_person" or "either"`)
	}
	switch {
	case len(p.Areas) > MaxAreas:
		bad("preferences.areas", "preferences.areas may name at most %d areas", MaxAreas)
	case p.Meeting == MeetOnline && len(p.Areas) > 0:
		bad("preferences.areas", "preferences.areas must be empty when you can meet online only")
	case p.Meeting == MeetInPerson && len(p.Areas) == 0:
		bad("preferences.areas", "preferences.areas must name at least one area where you can meet in person")
	}
	var areas []string
	for _, a := range p.Areas {
		if !AreaCodePattern.MatchString(a) {
			bad("preferences.areas", "preferences.areas must be area codes such as birmingham")
			break
		}
		if !slices.Contains(areas, a) {
			areas = append(areas, a)
		}
	}
	p.Areas = areas
	p.Note = strings.TrimSpace(p.Note)
	switch {
	case utf8.RuneCountInString(p.Note) > 1000:
		bad("preferences.note", "preferences.note must be at most 1000 characters")
	case !Typed(p.Note, true):
		bad("preferences.note", "preferences.note must be plain text, without control characters")
	}
	return p
}

// Typed reports whether s is text a person could have typed: valid UTF-8
// without control characters, bar line breaks and tabs where multiline.
// Anything else is refused where it is read, so no field can smuggle a
// header-like line into an email ("Dear Name\r\n\r\nClick here") or a NUL
// byte into PostgreSQL.
func Typed(s string, multiline bool) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if multiline && (r == '\n' || r == '\r' || r == '\t') {
			continue
		}
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return false
		}
	}
	return true
}

// CheckPause is the rule for pausing a waiting place until a date, given
// as YYYY-MM-DD: a day after today (in London, as of now), no further off
// than longest, and before the cut-off (when known), after which the
// referral closes whatever its pause. It returns the date.
func CheckPause(now time.Time, until string, longest time.Duration, cutoff Date) (Date, *Problem) {
	problem := func(msg string) (Date, *Problem) { return Date{}, &Problem{Field: "until", Message: msg} }
	if strings.TrimSpace(until) == "" {
		return problem("until is required: the date you want your place back, such as 2027-03-01")
	}
	d, err := ParseDate(strings.TrimSpace(until))
	if err != nil {
		return problem("until must be a real date, such as 2027-03-01")
	}
	if !d.Start().After(now) {
		return problem("until must be a date after today")
	}
	if latest := DateOf(now.Add(longest)); latest.Before(d) {
		return problem(fmt.Sprintf("until must be no later than %s: a place can be paused for up to %s", latest.Start().Format("2 January 2006"), Weeks(longest)))
	}
	if !cutoff.IsZero() && !d.Before(cutoff) {
		return problem(fmt.Sprintf("until must be before %s, when referrals close for you", cutoff.Start().Format("2 January 2006")))
	}
	return d, nil
}

// Weeks says a duration in whole weeks, or days when shorter than two
// weeks: "12 weeks", "3 days" (as Go writes it when under a day, which
// only tests' timings are).
func Weeks(d time.Duration) string {
	day := 24 * time.Hour
	switch n := int(d / (7 * day)); {
	case d < day:
		return d.String()
	case n >= 2:
		return fmt.Sprintf("%d weeks", n)
	case d/day == 1:
		return "1 day"
	default:
		return fmt.Sprintf("%d days", int(d/day))
	}
}
