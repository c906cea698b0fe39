//go:build !fuzzing

package browsertest

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/wmtna/referrals/internal/referral"
	"github.com/wmtna/referrals/internal/stacktest"
	"github.com/wmtna/referrals/workflows"
)

var feedbackLink = regexp.MustCompile(`https?://\S+/feedback/[A-Za-z0-9_-]+`)

// TestFeedbackInChromium: a former client follows the link emailed when
// therapy ended, gives feedback (a few answers, a comment), and is
// thanked; the link then no longer works. At a desktop's width and a
// phone's, each page kept as a screenshot and audited.
func TestFeedbackInChromium(t *testing.T) {
	b := browser(t)
	s := stacktest.Start(t, workflows.Timings{ReviewReminder: time.Hour, OfferTTL: time.Hour, WaitlistRecheck: time.Hour})
	j := &journey{t: t, stack: s, shots: t.ArtifactDir()}
	admin := stacktest.AdminToken
	chair := s.Do("POST", "/v1/committee-members", admin, map[string]any{"name": "Chair", "email": "chair@example.org", "role": "chair"})

	tokens := map[string]string{} // therapists' by ID
	for i, size := range sizes {
		shot := j.shooter(size, "feedback")
		n := strconv.Itoa(i)
		th := s.Do("POST", "/v1/therapists", admin, map[string]any{"name": "Dr " + n, "email": "dr" + n + "@example.org", "hcpc_number": "PYL7" + n, "capacity": 1})
		tokens[th.Str("id")] = th.Str("token")
		address := "former" + n + "@nhs.net"
		ref := s.MustRefer(map[string]any{"name": "Fran Former", "email": address, "programme": "health", "employer": "RXT",
			"training_start": s.TrainingMonth(), "concerns": "c", "consent": true})
		id := ref.Str("id")
		s.WaitStatus(id, "awaiting_review", 10*time.Second)
		approved := s.Do("POST", "/v1/referrals/"+id+"/review", chair.Str("token"), map[string]any{"decision": "approve"})
		// The place freed by the first width's therapy may take the second.
		therapist := tokens[approved.Str("therapist_id")]
		if a := s.Do("POST", "/v1/offers/"+approved.Str("offer_id")+"/accept", therapist, nil); a.Status != 200 {
			t.Fatalf("accept: %d %s", a.Status, a.Raw)
		}
		if e := s.Do("POST", "/v1/referrals/"+id+"/end", therapist, map[string]any{}); e.Status != 200 {
			t.Fatalf("end: %d %s", e.Status, e.Raw)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		body, err := s.LastEmail(ctx, address, "How was your therapy")
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		link := feedbackLink.FindString(body)
		if link == "" {
			t.Fatalf("no feedback link in:\n%s", body)
		}

		former := person(t, b)
		j.run(former, "viewport", size.viewport())
		j.run(former, "open the feedback link", chromedp.Navigate(link), chromedp.WaitVisible(chromedp.ID("wellbeing")))
		shot(former, "form")
		j.run(former, "answer some questions",
			chromedp.Click(chromedp.ID("wellbeing-4")),
			chromedp.Click(chromedp.ID("stay-5")),
			chromedp.SendKeys(chromedp.ID("comment"), "It kept me in my training."),
			chromedp.Click(chromedp.Search(`//button[normalize-space(.)="Send feedback"]`)),
			chromedp.WaitVisible(chromedp.Search(`//h1[contains(., "Thank you for your feedback")]`)),
		)
		shot(former, "thanks")
		j.run(former, "open the link again", chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS("h1")))
		if got := j.text(former, "h1"); !strings.Contains(got, "expired or has already been used") {
			t.Errorf("the used link shows %q", got)
		}
		shot(former, "used")

		committee := person(t, b)
		j.run(committee, "viewport", size.viewport())
		// A member for each width: one address gets one sign-in link every
		// two minutes.
		member := "member" + n + "@example.org"
		s.Do("POST", "/v1/committee-members", admin, map[string]any{"name": "Member " + n, "email": member, "role": []string{"secretary", "treasurer"}[i]})
		j.signIn(committee, member, nil)
		j.run(committee, "open what former clients said",
			chromedp.Navigate(s.API.URL+"/committee/feedback?year="+strconv.Itoa(time.Now().In(referral.London).Year())),
			chromedp.WaitVisible(chromedp.ID("given")),
		)
		if got := j.text(committee, "main"); !strings.Contains(got, "It kept me in my training.") {
			t.Errorf("the committee's page = %q", got)
		}
		shot(committee, "committee")
	}
}
