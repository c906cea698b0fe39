package httpapi

import (
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/wmtna/referrals/internal/referral"
)

// FuzzSubmissionDecoder feeds arbitrary bodies to the submission decoder
// and validator. Whatever arrives, they must not panic, every refusal must
// be a 4xx, and whatever they accept must satisfy the contract. The seed
// corpus is in testdata/fuzz/FuzzSubmissionDecoder; CI runs it briefly.
// programmePattern is the shape of a programme code, as the contract says.
var programmePattern = regexp.MustCompile(`^[a-z_]{2,40}$`)

func FuzzSubmissionDecoder(f *testing.F) {
	f.Add(`{"name":"Sam","email":"sam@nhs.example","programme":"clinical","employer":"RXT","training_start":"2025-10","concerns":"stress","consent":true}`)
	f.Add(`{"name":"Sam","email":"sam@nhs.example","programme":"health","employer":"rrk","training_start":"2024-09","expected_qualification":"2027-10-01","concerns":"x","preferences":{"meeting":"in_person","areas":["coventry"],"same_discipline":true,"note":"a woman"},"consent":true}`)
	f.Add(`{"name":"Sam","email":"sam@nhs.example","programme":"clinical","employer_name":" Midlands Psychology CIC ","training_start":"2025-10","concerns":"stress","consent":true}`)
	f.Add(`{"name":"Sam","email":"sam@nhs.example","programme":"clinical","employer":"RXT","employer_name":"Both","training_start":"2025-10","concerns":"stress","consent":true}`)
	f.Add(`{"name":"Jo","email":"jo@nhs","programme":"clinical","employer":"RXT","training_start":"2027-05","concerns":"x","consent":true}`)
	f.Add(`{"name":1}`)
	f.Add(`{"preferences":{"meeting":"yes"}}`)
	f.Add(`{"preferences":{"areas":"coventry"}}`)
	f.Add(`[]`)
	f.Add(`{"consent":true,"consent":false}`)
	f.Add(`{"consent":false,"Consent":true}`)
	f.Add("{\"name\":\"\\ud800\"}")
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest("POST", "/v1/referrals", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		var q submissionRequest
		if e := decode(httptest.NewRecorder(), req, &q); e != nil {
			if e.Outcome < 400 || e.Outcome > 499 || e.Message == "" {
				t.Fatalf("decode refused with %d %q", e.Outcome, e.Message)
			}
			return
		}
		// The shape only: whether each area is on the committee's list is
		// the store's to say (see the wiring tests).
		s, problems := q.draft().Check(referral.DateOf(now))
		if problems != nil {
			for _, e := range problems {
				if e.Field == "" || e.Message == "" {
					t.Fatalf("validate refused with field %q message %q", e.Field, e.Message)
				}
			}
			return
		}
		switch {
		case s.Name == "" || utf8.RuneCountInString(s.Name) > 200 || !referral.Typed(s.Name, false):
			t.Fatalf("accepted name %q", s.Name)
		case !referral.Typed(s.Concerns, true) || !referral.Typed(s.Preferences.Note, true):
			t.Fatal("accepted a control character")
		case !strings.Contains(s.Email, "@") || len(s.Email) > 254:
			t.Fatalf("accepted email %q", s.Email)
		case strings.IndexFunc(s.Email, func(r rune) bool { return r < ' ' || r > '~' }) >= 0:
			t.Fatalf("accepted a look-alike email %+q: addresses are plain ASCII", s.Email)
		case (s.Employer == "") == (s.EmployerName == ""):
			t.Fatalf("accepted employer %q and employer_name %q: exactly one is given", s.Employer, s.EmployerName)
		case s.Employer != "" && !referral.OrgCodePattern.MatchString(s.Employer) || !programmePattern.MatchString(s.Programme):
			t.Fatalf("accepted employer %q programme %q", s.Employer, s.Programme)
		case utf8.RuneCountInString(s.EmployerName) > referral.MaxEmployerName || !referral.Typed(s.EmployerName, false) || s.EmployerName != strings.TrimSpace(s.EmployerName):
			t.Fatalf("accepted employer_name %q", s.EmployerName)
		case s.Concerns == "" || utf8.RuneCountInString(s.Concerns) > 5000:
			t.Fatalf("accepted concerns of %d characters", len(s.Concerns))
		case !slices.Contains(referral.Meetings, s.Preferences.Meeting):
			t.Fatalf("accepted meeting %q", s.Preferences.Meeting)
		case s.Preferences.Meeting == referral.MeetInPerson && len(s.Preferences.Areas) == 0:
			t.Fatal("accepted in person only with no area")
		case slices.ContainsFunc(s.Preferences.Areas, func(a string) bool { return !referral.AreaCodePattern.MatchString(a) }):
			t.Fatalf("accepted areas %q", s.Preferences.Areas)
		case q.Consent == nil || !*q.Consent:
			t.Fatal("accepted without consent")
		case s.ExpectedQualification != nil && !s.TrainingStart.Before(*s.ExpectedQualification):
			t.Fatalf("accepted qualification %s before start %s", s.ExpectedQualification, s.TrainingStart)
		case s.TrainingStart.Year < 2000 || (referral.Date{Year: now.Year(), Month: now.Month(), Day: 1}).Before(s.TrainingStart):
			t.Fatalf("accepted a start %s before 2000 or after this month", s.TrainingStart)
		case !strings.Contains(s.Email[strings.LastIndexByte(s.Email, '@')+1:], "."):
			t.Fatalf("accepted email %q, whose domain has no dot", s.Email)
		}
	})
}
