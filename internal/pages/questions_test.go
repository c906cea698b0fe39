//go:build !fuzzing

package pages_test

import (
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

// The eligibility questions come one at a time, before the concerns: an
// answer that rules the trainee out is explained at once, with other
// support, and a trainee past the default cut-off is asked for the date
// they now expect to qualify. A service not on the register is named,
// sent, and flagged to the committee to check.
func TestQuestionPages(t *testing.T) {
	s := stacktest.Start(t, workflows.Timings{ReviewReminder: time.Hour, OfferTTL: time.Hour, WaitlistRecheck: time.Hour})
	chair := s.Do("POST", "/v1/committee-members", stacktest.AdminToken, map[string]any{"name": "Chair", "email": "chair@example.org", "role": "chair"})
	trainee := newBrowser(t, s.API.URL)
	answer := trainee.answer
	ruledOut := func(p page, wants ...string) {
		t.Helper()
		p.want(t, 200, append([]string{"<title>You cannot refer yourself to the network", "Other support you can get", "NHS Talking Therapies"}, wants...)...)
		if strings.Contains(p.Body, `name="concerns"`) {
			t.Error("the not-eligible page asks for the concerns")
		}
	}

	// Another programme is ruled out on the first page.
	first := trainee.get("/refer")
	ruledOut(answer(first, map[string]string{"programme": "none"}), "psychology training programmes", `name="show" value="programme"`)

	// Training that started three years ago, with no qualification date,
	// is past the default cut-off: the trainee is told why, and that an
	// extended or part-time programme may still be in time.
	employer := answer(first, map[string]string{"programme": "counselling"})
	started := answer(employer, map[string]string{"employer": "RXT"})
	today := referral.DateOf(s.Now())
	long := referral.Date{Year: today.Year - 3, Month: time.September, Day: 1}
	qualify := answer(started, map[string]string{"training_start-month": "9", "training_start-year": strconv.Itoa(long.Year)})
	cutoff := referral.Cutoff(long, nil)
	qualify.want(t, 200, "<title>When do you expect to qualify?", cutoff.Start().Format("2 January 2006"))
	late := answer(qualify, nil)
	ruledOut(late, "If your programme is extended or part-time", cutoff.Start().Format("2 January 2006"), `name="show" value="qualify"`)
	// They give the date they now expect, more than three months away,
	// and go on to the rest of the referral.
	again := questionFields(late.Body)
	again.Set("show", "qualify")
	later := today.AddMonths(6)
	details := answer(trainee.post("/refer", again), map[string]string{"expected_qualification-day": strconv.Itoa(later.Day),
		"expected_qualification-month": strconv.Itoa(int(later.Month)), "expected_qualification-year": strconv.Itoa(later.Year)})
	details.want(t, 200, `<label for="name">`)

	// A service not on the register: its name is asked next, and needed.
	employer = answer(trainee.get("/refer"), map[string]string{"programme": "clinical"})
	service := answer(employer, map[string]string{"employer": "not-listed"})
	service.want(t, 200, "<title>What is the name of the service you work for?", "The committee checks the service")
	answer(service, nil).want(t, 422, `href="#employer_name"`, "Enter the name of the service you work for")
	started = answer(service, map[string]string{"employer_name": "Midlands Psychology CIC"})
	start := stacktest.TrainingStart(s.Now())
	details = answer(answer(started, map[string]string{"training_start-month": strconv.Itoa(int(start.Month)), "training_start-year": strconv.Itoa(start.Year)}), nil)
	// The rest at once, as on the last page (the test's shortcut).
	check := answer(details, map[string]string{"name": "Sam Trainee", "email": "sam@nhs.net", "concerns": "placement stress", "at_risk": "no",
		"meeting": "online", "consent": "yes", "step": "meeting"})
	check.want(t, 200, "<title>Check your answers", "Midlands Psychology CIC (not on our list: the committee will check it)")
	// Changing the employer to one on the register drops the service.
	changed := hiddenFields(check.Body)
	changed.Set("show", "employer")
	onRegister := answer(trainee.post("/refer", changed), map[string]string{"employer": "RXT"})
	onRegister.want(t, 200, "<title>Check your answers", rxtName)
	if strings.Contains(onRegister.Body, "Midlands Psychology CIC") {
		t.Error("the service's name is kept after choosing an employer on the register")
	}
	sentForm := hiddenFields(check.Body)
	sentForm.Set("confirmed", "yes")
	if p := trainee.post("/refer", sentForm); p.Status != 303 || p.Location != "/refer/sent" {
		t.Fatalf("send: %d %q\n%s", p.Status, p.Location, p.Body)
	}
	confirm := "/confirm/" + s.MustConfirmCode("sam@nhs.net")
	trainee.post(confirm, url.Values{}).want(t, 303)
	m := regexp.MustCompile(`Your reference is <strong>([^<]+)</strong>`).FindStringSubmatch(trainee.get("/my-referral?welcome=1").Body)
	if m == nil {
		t.Fatal("no reference on the trainee's page")
	}
	id := m[1]
	s.WaitStatus(id, "awaiting_review", 10*time.Second)

	// The committee is asked to check the service before approving.
	b := signedInAs(t, s, referral.Principal{Role: referral.RoleCommittee, Subject: chair.Str("id")})
	b.get("/committee/referrals/"+id).want(t, 200, `id="check-employer"`, "Midlands Psychology CIC", "Midlands Psychology CIC (not on the employer register)")
	b.get("/committee").want(t, 200, "A service not on the employer register")
	// Through the API too: one or the other, the field named.
	both := s.Do("POST", "/v1/referrals", "", map[string]any{"name": "N", "email": "both@nhs.net", "programme": "clinical", "employer": "RXT",
		"employer_name": "Midlands Psychology CIC", "training_start": s.TrainingMonth(), "concerns": "c", "consent": true})
	if both.Status != 422 || !strings.Contains(both.Raw, `"employer_name"`) {
		t.Errorf("POST /v1/referrals with employer and employer_name: %d %s, want 422 naming employer_name", both.Status, both.Raw)
	}
	// The API shows the name on the one referral, not in lists.
	one := s.Do("GET", "/v1/referrals/"+id, stacktest.AdminToken, nil)
	if one.Str("employer_name") != "Midlands Psychology CIC" || one.Str("employer") != "" {
		t.Errorf("GET /v1/referrals/%s: employer %q employer_name %q", id, one.Str("employer"), one.Str("employer_name"))
	}
	if list := s.Do("GET", "/v1/referrals?status=awaiting_review", stacktest.AdminToken, nil); strings.Contains(list.Raw, "Midlands Psychology") {
		t.Errorf("the list of referrals carries the service's name: %s", list.Raw)
	}
}
