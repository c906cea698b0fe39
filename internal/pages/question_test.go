package pages_test

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/wmtna/referrals/internal/referral"
	"github.com/wmtna/referrals/internal/stacktest"
	"github.com/wmtna/referrals/workflows"
)

// TestCommitteeAsksAndTraineeAnswers: instead of declining, a committee
// member asks the trainee a question from the review page; the trainee
// reads it on their page and answers (a blank answer first); the referral
// is back on the committee's list with the answer, to approve.
func TestCommitteeAsksAndTraineeAnswers(t *testing.T) {
	s := stacktest.Start(t, workflows.Timings{ReviewReminder: time.Hour, OfferTTL: time.Hour, WaitlistRecheck: time.Hour})
	chair := s.Do("POST", "/v1/committee-members", stacktest.AdminToken, map[string]any{"name": "Chair", "email": "chair@example.org", "role": "chair"})
	trainee := newBrowser(t, s.API.URL)
	referAndConfirm(t, s, trainee, "asked@nhs.net")
	committee := signedInAs(t, s, referral.Principal{Role: referral.RoleCommittee, Subject: chair.Str("id")})
	var id string
	deadline := time.Now().Add(20 * time.Second)
	for id == "" && time.Now().Before(deadline) {
		if list := s.Do("GET", "/v1/referrals?status=awaiting_review", chair.Str("token"), nil); len(list.Body["referrals"].([]any)) == 1 {
			id = list.Body["referrals"].([]any)[0].(map[string]any)["id"].(string)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if id == "" {
		t.Fatal("no referral awaiting review")
	}
	review := committee.get("/committee/referrals/" + id)
	review.want(t, 200, "Or ask the trainee a question first", "Without an answer within 4 weeks it closes")
	committee.post("/committee/referrals/"+id+"/question", url.Values{"csrf": {review.csrf(t)}, "question": {"  "}}).
		want(t, 422, "There is a problem", `href="#question"`, "Enter the question for the trainee")
	const question = "Which service do you work in at the moment?"
	sent := committee.post("/committee/referrals/"+id+"/question", url.Values{"csrf": {review.csrf(t)}, "question": {question}})
	if sent.Status != 303 || sent.Location != "/committee?done=ask" {
		t.Fatalf("ask: %d %q\n%s", sent.Status, sent.Location, sent.Body)
	}
	list := committee.get(sent.Location)
	list.want(t, 200, "Question sent.", "Waiting for the trainee's answer (1)", "Waiting for review (0)")
	committee.get("/committee/referrals/"+id).want(t, 200, `id="asked"`, question)
	// A second question, from an old copy of the page, is refused.
	committee.post("/committee/referrals/"+id+"/question", url.Values{"csrf": {review.csrf(t)}, "question": {"Another?"}}).want(t, 409)

	mine := trainee.get("/my-referral")
	mine.want(t, 200, "The committee has a question for you", `id="question"`, question, "Send my answer",
		"Please answer by "+time.Now().Add(workflows.DefaultAnswerWithin).In(referral.London).Format("2 January 2006"))
	trainee.post("/my-referral/answer", url.Values{"csrf": {mine.csrf(t)}, "answer": {""}}).
		want(t, 422, "There is a problem", `href="#answer"`, "Enter your answer to the committee")
	answered := trainee.post("/my-referral/answer", url.Values{"csrf": {mine.csrf(t)}, "answer": {"The community team in Walsall."}})
	if answered.Status != 303 || answered.Location != "/my-referral?answered=1" {
		t.Fatalf("answer: %d %q\n%s", answered.Status, answered.Location, answered.Body)
	}
	after := trainee.get(answered.Location)
	after.want(t, 200, "your answer is with the committee", "Your referral is waiting for the committee")
	if strings.Contains(after.Body, `action="/my-referral/answer"`) {
		t.Error("an answered question still asks for an answer")
	}
	if again := trainee.post("/my-referral/answer", url.Values{"csrf": {mine.csrf(t)}, "answer": {"Again"}}); again.Status != 303 || again.Location != "/my-referral" {
		t.Errorf("second answer: %d %q", again.Status, again.Location)
	}
	committee.get("/committee").want(t, 200, "Waiting for review (1)")
	committee.get("/committee/referrals/"+id).want(t, 200, "The community team in Walsall.", "The trainee answered", `action="/committee/referrals/`+id+`/approve"`)
}
