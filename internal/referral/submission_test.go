package referral

import (
	"strings"
	"testing"
)

// Draft.Check takes a training start up to this month, and no later: a
// trainee whose training has not started is not yet a trainee.
func TestCheckTrainingStart(t *testing.T) {
	ok := Draft{Name: "Jo", Email: "jo@nhs.net", Programme: "clinical", Employer: "RXT", Concerns: "c", Consent: true}
	for _, tc := range []struct {
		today Date
		start string
		want  string // in the problem's message; "" for none
	}{
		{Date{2026, 11, 30}, "2026-11", ""},
		{Date{2026, 11, 1}, "2026-11", ""},
		{Date{2026, 11, 30}, "2024-09", ""},
		{Date{2026, 11, 30}, "2000-01", ""},
		{Date{2026, 11, 30}, "2026-12", "must not be after this month"},
		{Date{2026, 11, 30}, "2027-05", "must not be after this month"},
		{Date{2026, 12, 31}, "2027-01", "must not be after this month"},
		{Date{2027, 1, 1}, "2026-12", ""},
		{Date{2026, 11, 30}, "1999-12", "2000 or later"},
		{Date{2026, 11, 30}, "2026-13", "YYYY-MM"},
	} {
		d := ok
		d.TrainingStart = tc.start
		s, problems := d.Check(tc.today)
		switch {
		case tc.want == "" && len(problems) > 0:
			t.Errorf("start %s on %s: refused: %v", tc.start, tc.today, problems)
		case tc.want == "" && s.TrainingStart.String()[:7] != tc.start:
			t.Errorf("start %s on %s: got %s", tc.start, tc.today, s.TrainingStart)
		case tc.want != "" && (len(problems) != 1 || problems[0].Field != "training_start" || !strings.Contains(problems[0].Message, tc.want)):
			t.Errorf("start %s on %s: problems %v, want one for training_start saying %q", tc.start, tc.today, problems, tc.want)
		}
	}
}

// Draft.Check refuses an address without a dot in its domain, saying why.
func TestCheckRefusesAnAddressWithoutADomain(t *testing.T) {
	d := Draft{Name: "Jo", Email: "jo@nhs", Programme: "clinical", Employer: "RXT", TrainingStart: "2025-09", Concerns: "c", Consent: true}
	_, problems := d.Check(Date{2026, 11, 30})
	if len(problems) != 1 || problems[0].Field != "email" || !strings.Contains(problems[0].Message, "name@nhs.net") {
		t.Errorf("problems = %v, want one for email", problems)
	}
}

// A trainee names their employer by its code on the register or, for a
// service not on it, by name for the committee to check: one or the other.
func TestCheckEmployerOrServiceName(t *testing.T) {
	for _, tc := range []struct {
		code, name           string
		wantCode, wantName   string
		wantField, wantWords string // the one problem; "" for none
	}{
		{code: "rxt", wantCode: "RXT"},
		{name: "  Midlands Psychology CIC ", wantName: "Midlands Psychology CIC"},
		{code: "RXT", name: "Midlands Psychology CIC", wantField: "employer_name", wantWords: "not both"},
		{wantField: "employer", wantWords: "employer_name"},
		{code: "   ", name: " ", wantField: "employer", wantWords: "is required"},
		{name: strings.Repeat("x", MaxEmployerName+1), wantField: "employer_name", wantWords: "at most 200"},
		{name: "Line\nbreak", wantField: "employer_name", wantWords: "plain text"},
		{code: "R-XT", wantField: "employer", wantWords: "ODS code"},
	} {
		d := Draft{Name: "Jo", Email: "jo@nhs.net", Programme: "clinical", Employer: tc.code, EmployerName: tc.name,
			TrainingStart: "2025-09", Concerns: "c", Consent: true}
		s, problems := d.Check(Date{2026, 11, 30})
		switch {
		case tc.wantField == "" && (len(problems) > 0 || s.Employer != tc.wantCode || s.EmployerName != tc.wantName):
			t.Errorf("employer %q name %q: got %q %q, problems %v", tc.code, tc.name, s.Employer, s.EmployerName, problems)
		case tc.wantField != "" && (len(problems) != 1 || problems[0].Field != tc.wantField || !strings.Contains(problems[0].Message, tc.wantWords)):
			t.Errorf("employer %q name %q: problems %v, want one for %s saying %q", tc.code, tc.name, problems, tc.wantField, tc.wantWords)
		}
	}
}
