//go:build !fuzzing

package browsertest

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/wmtna/referrals/internal/stacktest"
	"github.com/wmtna/referrals/workflows"
)

// TestQuestionInChromium: a committee member asks a trainee a question
// from the review page instead of declining (a blank question first); the
// trainee reads it on their page and answers; the referral is back for
// review with the answer. At a desktop's width and a phone's, each page
// kept as a screenshot and audited.
func TestQuestionInChromium(t *testing.T) {
	b := browser(t)
	s := stacktest.Start(t, workflows.Timings{ReviewReminder: time.Hour, OfferTTL: time.Hour, WaitlistRecheck: time.Hour})
	j := &journey{t: t, stack: s, shots: t.ArtifactDir()}
	base := s.API.URL
	const question, answer = "Which team do you work in at the moment?", "The community team in Walsall."

	for i, size := range sizes {
		shot := j.shooter(size, "question")
		member, address := "asker"+strconv.Itoa(i)+"@example.org", "asked"+strconv.Itoa(i)+"@nhs.net"
		s.Do("POST", "/v1/committee-members", stacktest.AdminToken, map[string]any{"name": "Member " + strconv.Itoa(i), "email": member, "role": []string{"chair", "secretary"}[i]})
		ref := s.MustRefer(map[string]any{"name": "Ash Asked", "email": address, "programme": "clinical", "employer": "RXT",
			"training_start": s.TrainingMonth(), "concerns": "c", "consent": true})
		id := ref.Str("id")
		s.WaitStatus(id, "awaiting_review", 10*time.Second)

		committee := person(t, b)
		j.run(committee, "viewport", size.viewport())
		j.signIn(committee, member, nil)
		j.run(committee, "open the referral",
			chromedp.Navigate(base+"/committee/referrals/"+id),
			chromedp.WaitVisible(chromedp.ID("question")),
		)
		send := chromedp.Click(chromedp.Search(`//button[normalize-space(.)="Send the question"]`))
		j.run(committee, "send a blank question", send, chromedp.WaitVisible(chromedp.CSS(".error-summary")))
		if got := j.text(committee, ".error-summary"); !strings.Contains(got, "Enter the question for the trainee") {
			t.Errorf("error summary = %q", got)
		}
		shot(committee, "error")
		j.run(committee, "ask",
			chromedp.SendKeys(chromedp.ID("question"), question),
			send,
			chromedp.WaitVisible(chromedp.Search(`//*[contains(@class, "notice")][contains(., "Question sent.")]`)),
		)
		shot(committee, "sent")

		trainee := person(t, b)
		j.run(trainee, "viewport", size.viewport())
		j.signIn(trainee, address, nil)
		j.waitText(trainee, base+"/my-referral", "#status", "The committee has a question for you")
		if got := j.text(trainee, "#question"); !strings.Contains(got, question) {
			t.Errorf("the trainee's page shows %q, want the question", got)
		}
		shot(trainee, "asked")
		j.run(trainee, "answer",
			chromedp.SendKeys(chromedp.ID("answer"), answer),
			chromedp.Click(chromedp.Search(`//button[normalize-space(.)="Send my answer"]`)),
			chromedp.WaitVisible(chromedp.Search(`//*[contains(@class, "notice")][contains(., "your answer is with the committee")]`)),
		)
		shot(trainee, "answered")

		j.run(committee, "open the referral again",
			chromedp.Navigate(base+"/committee/referrals/"+id),
			chromedp.WaitVisible(chromedp.Search(`//button[normalize-space(.)="Approve"]`)),
		)
		if got := j.text(committee, "main"); !strings.Contains(got, answer) {
			t.Errorf("the review page does not show the answer: %q", got)
		}
		shot(committee, "review-again")
	}
}
