//go:build !fuzzing

package browsertest

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/wmtna/referrals/internal/referral"
	"github.com/wmtna/referrals/internal/stacktest"
	"github.com/wmtna/referrals/workflows"
)

// TestStatisticsInChromium: a committee member opens the statistics page
// after six referrals, types a period the wrong way round and is told
// which field to mend, then opens the year's printable summary. At a
// desktop's width and a phone's, each page kept as a screenshot and
// audited.
func TestStatisticsInChromium(t *testing.T) {
	b := browser(t)
	s := stacktest.Start(t, workflows.Timings{ReviewReminder: time.Hour, OfferTTL: time.Hour, WaitlistRecheck: time.Hour})
	j := &journey{t: t, stack: s, shots: t.ArtifactDir()}
	admin := stacktest.AdminToken
	for i := range 6 {
		r := s.MustRefer(map[string]any{"name": "Sam Statistic", "email": fmt.Sprintf("sam%d@nhs.net", i), "programme": []string{"clinical", "health"}[i%2],
			"employer": "RXT", "training_start": s.TrainingMonth(), "concerns": "c", "consent": true})
		s.WaitStatus(r.Str("id"), "awaiting_review", 10*time.Second)
	}
	year := strconv.Itoa(referral.DateOf(stacktest.EnvClock(t)()).Year)
	for i, size := range sizes {
		shot := j.shooter(size, "statistics")
		committee := person(t, b)
		j.run(committee, "viewport", size.viewport())
		// A member for each width: one address gets one sign-in link every
		// two minutes.
		member := fmt.Sprintf("member%d@example.org", i)
		s.Do("POST", "/v1/committee-members", admin, map[string]any{"name": "Member", "email": member, "role": []string{"secretary", "treasurer"}[i]})
		j.signIn(committee, member, nil)
		j.run(committee, "open the statistics",
			chromedp.Navigate(s.API.URL+"/committee"),
			chromedp.Click(chromedp.Search(`//a[normalize-space(.)="Statistics"]`)),
			chromedp.WaitVisible(chromedp.ID("referrals")),
		)
		if got := j.text(committee, "#referrals"); got != "6" {
			t.Errorf("referrals in the period = %q, want 6", got)
		}
		shot(committee, "page")
		j.run(committee, "type a period the wrong way round",
			chromedp.SetValue(chromedp.ID("from"), "2"), chromedp.SetValue(chromedp.ID("from-month"), "3"), chromedp.SetValue(chromedp.ID("from-year"), "2026"),
			chromedp.SetValue(chromedp.ID("to"), "1"), chromedp.SetValue(chromedp.ID("to-month"), "3"), chromedp.SetValue(chromedp.ID("to-year"), "2026"),
			chromedp.Click(chromedp.Search(`//button[normalize-space(.)="Show these figures"]`)),
			chromedp.WaitVisible(chromedp.ID("error-summary-title")),
		)
		if got := j.text(committee, "#from-error"); !strings.Contains(got, "The first day must be on or before the last day") {
			t.Errorf("the first day's error = %q", got)
		}
		shot(committee, "error")
		j.run(committee, "open the year's summary",
			chromedp.Navigate(s.API.URL+"/committee/statistics/"+year),
			chromedp.WaitVisible(chromedp.ID("referrals")),
		)
		if got := j.text(committee, "h1"); got != "The network's year, "+year {
			t.Errorf("the summary's heading = %q", got)
		}
		shot(committee, "summary")
	}
}
