//go:build !fuzzing

package browsertest

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/wmtna/referrals/internal/referral"
	"github.com/wmtna/referrals/internal/stacktest"
	"github.com/wmtna/referrals/workflows"
)

// TestPauseInChromium: a waiting trainee pauses their place from their
// page (a mistake first), sees it paused, the committee sees the pause on
// its waiting list, and the trainee takes the place back. At a desktop's
// width and a phone's, each page kept as a screenshot and audited.
func TestPauseInChromium(t *testing.T) {
	b := browser(t)
	s := stacktest.Start(t, workflows.Timings{ReviewReminder: time.Hour, OfferTTL: time.Hour, WaitlistRecheck: time.Hour})
	j := &journey{t: t, stack: s, shots: t.ArtifactDir()}
	base := s.API.URL
	until := referral.DateOf(time.Now()).AddDays(28)
	untilText := until.Start().Format("2 January 2006")

	for i, size := range sizes {
		shot := j.shooter(size, "pause")
		member, address := "member"+strconv.Itoa(i)+"@example.org", "waiting"+strconv.Itoa(i)+"@nhs.net"
		chair := s.Do("POST", "/v1/committee-members", stacktest.AdminToken, map[string]any{"name": "Member " + strconv.Itoa(i), "email": member, "role": []string{"chair", "secretary"}[i]})
		ref := s.MustRefer(map[string]any{"name": "Wren Waiting", "email": address, "programme": "clinical", "employer": "RXT",
			"training_start": s.TrainingMonth(), "concerns": "c", "consent": true})
		s.WaitStatus(ref.Str("id"), "awaiting_review", 10*time.Second)
		// Nobody is on the register: the referral waits.
		if a := s.Do("POST", "/v1/referrals/"+ref.Str("id")+"/review", chair.Str("token"), map[string]any{"decision": "approve"}); a.Str("status") != "waitlisted" {
			t.Fatalf("approve: %s", a.Raw)
		}

		trainee := person(t, b)
		j.run(trainee, "viewport", size.viewport())
		j.signIn(trainee, address, nil)
		j.waitText(trainee, base+"/my-referral", "#status", "waiting list")
		shot(trainee, "my-referral")
		j.run(trainee, "open the pause question",
			chromedp.Click(chromedp.CSS(`main a[href="/my-referral/pause"]`)),
			chromedp.WaitVisible(chromedp.ID("until")),
		)
		shot(trainee, "question")
		pause := chromedp.Click(chromedp.Search(`//button[normalize-space(.)="Pause my place"]`))
		j.run(trainee, "pause without a date", pause, chromedp.WaitVisible(chromedp.CSS(".error-summary")))
		if got := j.text(trainee, ".error-summary"); !strings.Contains(got, "Enter the date you want your place back") {
			t.Errorf("error summary = %q", got)
		}
		shot(trainee, "error")
		j.run(trainee, "give the date",
			chromedp.SendKeys(chromedp.ID("until"), strconv.Itoa(until.Day)),
			chromedp.SendKeys(chromedp.ID("until-month"), strconv.Itoa(int(until.Month))),
			chromedp.SendKeys(chromedp.ID("until-year"), strconv.Itoa(until.Year)),
			pause,
			chromedp.WaitVisible(chromedp.ID("paused")),
		)
		if got := j.text(trainee, "#paused"); !strings.Contains(got, "Your place is paused until "+untilText) {
			t.Errorf("the paused place says %q", got)
		}
		shot(trainee, "paused")

		committee := person(t, b)
		j.run(committee, "viewport", size.viewport())
		j.signIn(committee, member, nil)
		j.waitText(committee, base+"/committee", "#waitlist-title", "Waiting list")
		if got := j.text(committee, "main"); !strings.Contains(got, "PAUSED UNTIL "+strings.ToUpper(untilText)) && !strings.Contains(got, "Paused until "+untilText) {
			t.Errorf("the committee's waiting list does not show the pause: %q", got)
		}
		shot(committee, "committee")

		j.run(trainee, "resume",
			chromedp.Click(chromedp.Search(`//button[normalize-space(.)="Resume my place now"]`)),
			chromedp.WaitVisible(chromedp.Search(`//*[contains(@class, "notice")][contains(., "Your place is active again")]`)),
		)
		shot(trainee, "resumed")
	}
}
