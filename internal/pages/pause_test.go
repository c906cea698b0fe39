package pages_test

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/wmtna/referrals/internal/referral"
	"github.com/wmtna/referrals/internal/stacktest"
	"github.com/wmtna/referrals/workflows"
)

// untilForm is a GOV.UK date input named until, as typed.
func untilForm(csrf string, d referral.Date) url.Values {
	return url.Values{"csrf": {csrf}, "until-day": {fmt.Sprint(d.Day)}, "until-month": {fmt.Sprint(int(d.Month))}, "until-year": {fmt.Sprint(d.Year)}}
}

// TestPauseFromThePage: a waiting trainee pauses their place from their
// page (a date question with GOV.UK's errors), sees it paused, the
// committee sees it on the waiting list and the referral, and the trainee
// takes it back early.
func TestPauseFromThePage(t *testing.T) {
	s := stacktest.Start(t, workflows.Timings{ReviewReminder: time.Hour, OfferTTL: time.Hour, WaitlistRecheck: time.Hour})
	chair := s.Do("POST", "/v1/committee-members", stacktest.AdminToken, map[string]any{"name": "Chair", "email": "chair@example.org", "role": "chair"})
	trainee := newBrowser(t, s.API.URL)
	referAndConfirm(t, s, trainee, "pausing@nhs.net")
	list := s.Do("GET", "/v1/referrals?status=awaiting_review", chair.Str("token"), nil)
	deadline := time.Now().Add(20 * time.Second)
	for len(list.Body["referrals"].([]any)) == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		list = s.Do("GET", "/v1/referrals?status=awaiting_review", chair.Str("token"), nil)
	}
	if len(list.Body["referrals"].([]any)) != 1 {
		t.Fatalf("awaiting review: %s", list.Raw)
	}
	id := list.Body["referrals"].([]any)[0].(map[string]any)["id"].(string)
	// Nobody is on the register: the referral waits.
	if a := s.Do("POST", "/v1/referrals/"+id+"/review", chair.Str("token"), map[string]any{"decision": "approve"}); a.Str("status") != "waitlisted" {
		t.Fatalf("approve: %s", a.Raw)
	}
	trainee.get("/my-referral").want(t, 200, "Need a break from waiting?", `href="/my-referral/pause"`, "up to 12 weeks")

	today := referral.DateOf(time.Now())
	latest := referral.DateOf(time.Now().Add(workflows.DefaultPauseLimit))
	form := trainee.get("/my-referral/pause")
	form.want(t, 200, "When do you want your place back?", "the latest date is "+latest.Start().Format("2 January 2006"), `class="back"`)
	csrf := form.csrf(t)
	for _, c := range []struct {
		form url.Values
		want string
	}{
		{url.Values{"csrf": {csrf}}, "Enter the date you want your place back"},
		{url.Values{"csrf": {csrf}, "until-day": {"31"}, "until-month": {"2"}, "until-year": {"2027"}}, "must be a real date: the day must be a number from 1 to 28"},
		{untilForm(csrf, today), "The date you want your place back must be a date after today"},
		{untilForm(csrf, latest.AddDays(1)), "The date you want your place back must be no later than " + latest.Start().Format("2 January 2006")},
	} {
		p := trainee.post("/my-referral/pause", c.form)
		p.want(t, 422, "There is a problem", `href="#until"`, c.want)
	}

	until := today.AddDays(30)
	done := trainee.post("/my-referral/pause", untilForm(csrf, until))
	if done.Status != 303 || done.Location != "/my-referral?paused=1" {
		t.Fatalf("pause: %d %q\n%s", done.Status, done.Location, done.Body)
	}
	untilText := until.Start().Format("2 January 2006")
	paused := trainee.get(done.Location)
	paused.want(t, 200, "Your place is paused until "+untilText+".", `id="paused"`, "Resume my place now")
	if strings.Contains(paused.Body, `href="/my-referral/pause"`) {
		t.Error("a paused place still offers to pause")
	}
	// A second tab's pause changes nothing and goes back to the page.
	if again := trainee.post("/my-referral/pause", untilForm(csrf, until.AddDays(1))); again.Status != 303 || again.Location != "/my-referral" {
		t.Errorf("second pause: %d %q", again.Status, again.Location)
	}
	trainee.get("/my-referral/pause").want(t, 303)

	committee := signedInAs(t, s, referral.Principal{Role: referral.RoleCommittee, Subject: chair.Str("id")})
	committee.get("/committee").want(t, 200, id, "Paused until "+untilText)
	committee.get("/committee/referrals/"+id).want(t, 200, `id="paused"`, "paused their place until "+untilText)
	if r := s.Do("GET", "/v1/referrals/"+id, chair.Str("token"), nil); !strings.Contains(r.Raw, `"paused_until":"`+until.String()+`"`) {
		t.Errorf("the API's referral does not say it is paused: %s", r.Raw)
	}

	resumed := trainee.post("/my-referral/resume", url.Values{"csrf": {paused.csrf(t)}})
	if resumed.Status != 303 || resumed.Location != "/my-referral?resumed=1" {
		t.Fatalf("resume: %d %q\n%s", resumed.Status, resumed.Location, resumed.Body)
	}
	trainee.get(resumed.Location).want(t, 200, "Your place is active again", `href="/my-referral/pause"`)
	committee.get("/committee/referrals/"+id).want(t, 200, "Earlier pauses: less than a day in all")
	// Resuming again, from the old page, changes nothing.
	if again := trainee.post("/my-referral/resume", url.Values{"csrf": {paused.csrf(t)}}); again.Status != 303 || again.Location != "/my-referral" {
		t.Errorf("second resume: %d %q", again.Status, again.Location)
	}
}
