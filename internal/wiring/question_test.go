package wiring_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wmtna/referrals/internal/postgres"
	"github.com/wmtna/referrals/internal/stacktest"
)

// TestQuestionAnsweredOrClosedThroughTheAPI: the committee asks a trainee
// a question instead of declining; answered, the referral goes back for
// review and is approved; unanswered, the trainee is reminded and the
// referral closes as incomplete. The question and the answer stay in
// PostgreSQL: never in a history, a log or an email.
func TestQuestionAnsweredOrClosedThroughTheAPI(t *testing.T) {
	timings := fast
	timings.AnswerWithin, timings.AnswerReminder = 6*time.Second, 2*time.Second
	s := stacktest.Start(t, timings)
	chair := committeeMember(t, s)
	const question, answer = "Could you tell us which team you work in?", "The perinatal team in Dudley."
	answered, silent := submit(t, s, "answers@nhs.example"), submit(t, s, "silent@nhs.example")
	for _, ref := range []submitted{answered, silent} {
		s.WaitStatus(ref.id, "awaiting_review", 10*time.Second)
	}

	ask := "/v1/referrals/" + answered.id + "/question"
	for _, bad := range []struct {
		token string
		body  any
		want  int
		field string
	}{
		{chair, map[string]any{}, 422, `"question"`},
		{chair, map[string]any{"question": "  "}, 422, `"question"`},
		{chair, map[string]any{"question": strings.Repeat("x", 2001)}, 422, `"question"`},
		{answered.token, map[string]any{"question": question}, 403, ""},
	} {
		if r := s.Do("POST", ask, bad.token, bad.body); r.Status != bad.want || !strings.Contains(r.Raw, bad.field) {
			t.Errorf("ask %v: %d %s, want %d naming %s", bad.body, r.Status, r.Raw, bad.want, bad.field)
		}
	}
	if r := s.Do("POST", "/v1/referrals/"+answered.id+"/answer", answered.token, map[string]any{"answer": answer}); r.Status != 409 {
		t.Errorf("an answer before any question: %d %s, want 409", r.Status, r.Raw)
	}
	for _, ref := range []submitted{answered, silent} {
		if r := s.Do("POST", "/v1/referrals/"+ref.id+"/question", chair, map[string]any{"question": question}); r.Status != 200 || r.Str("status") != "awaiting_information" {
			t.Fatalf("ask: %d %s", r.Status, r.Raw)
		}
	}
	if r := s.Do("GET", "/v1/referrals/"+answered.id, answered.token, nil); r.Str("question") != question {
		t.Errorf("the trainee's referral does not show the question: %s", r.Raw)
	}
	if r := s.Do("POST", "/v1/referrals/"+answered.id+"/answer", answered.token, map[string]any{"answer": ""}); r.Status != 422 || !strings.Contains(r.Raw, `"answer"`) {
		t.Errorf("a blank answer: %d %s, want 422 naming answer", r.Status, r.Raw)
	}
	if r := s.Do("POST", "/v1/referrals/"+answered.id+"/answer", silent.token, map[string]any{"answer": answer}); r.Status != 404 {
		t.Errorf("answering someone else's question: %d %s, want 404", r.Status, r.Raw)
	}
	if r := s.Do("POST", "/v1/referrals/"+answered.id+"/answer", answered.token, map[string]any{"answer": answer}); r.Status != 200 || r.Str("status") != "awaiting_review" {
		t.Fatalf("answer: %d %s", r.Status, r.Raw)
	}
	waitForMessage(t, s, answered.id, "committee.answered", 1)
	approve(t, s, chair, answered.id)
	done := s.WaitStatus(answered.id, "waitlisted", 10*time.Second)
	want := []string{"awaiting_review:eligible", "awaiting_information:information-requested", "awaiting_review:information-given", "matching:approved"}
	if got := reasons(done); len(got) < 5 || !slices.Equal(got[1:5], want) {
		t.Errorf("events %v, want %v after submission", got, want)
	}
	committeeView := s.Do("GET", "/v1/referrals/"+answered.id, chair, nil)
	if !strings.Contains(committeeView.Raw, answer) {
		t.Errorf("the committee does not see the answer: %s", committeeView.Raw)
	}

	// Unanswered: reminded every 2 seconds, closed after 6.
	closed := s.WaitStatus(silent.id, "closed_no_response", 15*time.Second)
	if got := reasons(closed); got[len(got)-1] != "closed_no_response:incomplete" {
		t.Errorf("events %v, want the last closed_no_response:incomplete", got)
	}
	waitForMessage(t, s, silent.id, "trainee.question_reminder", 2)
	waitForMessage(t, s, silent.id, "trainee.closed_incomplete", 1)
	checkHistory(t, s, answered.id, "asked-then-answered", "answers@nhs.example", question, answer)
	checkHistory(t, s, silent.id, "asked-then-closed-incomplete", "silent@nhs.example", question)
	for _, m := range append(outbox(t, s, answered.id), outbox(t, s, silent.id)...) {
		if strings.Contains(m.Body, question) || strings.Contains(m.Body, answer) {
			t.Errorf("%s email carries the question or the answer", m.Kind)
		}
	}
}

// outbox returns every message written about a referral.
func outbox(t *testing.T, s *stacktest.Stack, referralID string) []postgres.OutboxMessage {
	t.Helper()
	msgs, err := s.DB.Outbox(t.Context(), referralID)
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}
