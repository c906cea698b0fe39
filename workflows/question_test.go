package workflows_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"

	"github.com/wmtna/referrals/internal/referral"
	"github.com/wmtna/referrals/workflows"
)

const awaitingInfo = referral.StatusAwaitingInformation

var (
	question = workflows.AskRequest{Actor: committee, NoteID: 7}
	reply    = workflows.AnswerRequest{Actor: trainee, NoteID: 8}
)

// questionTimings give the trainee 10 days to answer, reminded every 3.
var questionTimings = func() workflows.Timings {
	t := timings
	t.AnswerWithin, t.AnswerReminder = 10*24*time.Hour, 3*24*time.Hour
	return t
}()

// mockReminders records the reminders of a question, and when they went;
// the first is numbered first.
func mockReminders(h *harness, first int) *[]time.Time {
	var at []time.Time
	h.env.OnActivity(workflows.ActivityRemindQuestion, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in workflows.QuestionReminderInput) error {
			if in.K != first+len(at) {
				h.t.Errorf("reminder %d numbered %d", len(at)+1, in.K)
			}
			at = append(at, h.env.Now())
			return nil
		})
	return &at
}

// Asked a question, the trainee is reminded until they answer; the answer
// sends the referral back to the committee, who can then approve it.
func TestAnsweredQuestionGoesBackForReview(t *testing.T) {
	h := newHarness(t, eligible())
	h.env.OnActivity(workflows.ActivityEnqueue, mock.Anything, "r1").Return(nil, nil)
	h.env.OnActivity(workflows.ActivityReconcile, mock.Anything, "r1").Return(nil, nil)
	h.env.OnActivity(workflows.ActivityLeave, mock.Anything, "r1").Return(nil)
	h.env.OnActivity(workflows.ActivityRemindCommittee, mock.Anything, mock.Anything).Return(nil)
	reminded := mockReminders(h, 1)
	h.at(time.Hour, workflows.UpdateAsk, question)
	// Reminded at 3 and 6 days after the question; answered at 7.
	h.at(time.Hour+day(7), workflows.UpdateAnswer, reply)
	h.at(time.Hour+day(7)+time.Hour, workflows.UpdateReview, approve())
	h.at(time.Hour+day(8), workflows.UpdateWithdraw, workflows.WithdrawRequest{Actor: trainee})
	h.want(h.runWith(questionTimings), withdrawn, submitted, review, awaitingInfo, review, matching, waiting, withdrawn)
	if want := []string{referral.CodeInformationRequested, referral.CodeInformationGiven}; !slices.Equal(h.reasons[2:4], want) {
		t.Errorf("reasons %v, want %v", h.reasons, want)
	}
	if len(*reminded) != 2 {
		t.Fatalf("reminded at %v, want twice", *reminded)
	}
	for i, at := range *reminded {
		if d := at.Sub(start.Add(time.Hour)); d < day(3*(i+1)) || d > day(3*(i+1))+time.Minute {
			t.Errorf("reminder %d at %s after the question, want %s", i+1, d, day(3*(i+1)))
		}
	}
}

// Unanswered by the deadline, the referral closes as incomplete, with no
// reminder due at or after the deadline.
func TestUnansweredQuestionClosesTheReferral(t *testing.T) {
	h := newHarness(t, eligible())
	h.env.OnActivity(workflows.ActivityRemindCommittee, mock.Anything, mock.Anything).Return(nil)
	reminded := mockReminders(h, 1)
	h.at(time.Hour, workflows.UpdateAsk, question)
	h.want(h.runWith(questionTimings), referral.StatusClosedNoResponse, submitted, review, awaitingInfo, referral.StatusClosedNoResponse)
	if got := h.reasons[len(h.reasons)-1]; got != referral.CodeIncomplete {
		t.Errorf("closed with %q, want %q", got, referral.CodeIncomplete)
	}
	if len(*reminded) != 3 { // at 3, 6 and 9 days of 10
		t.Errorf("reminded %d times, want 3", len(*reminded))
	}
	if d := h.env.Now().Sub(start.Add(time.Hour)); d < day(10) || d > day(10)+time.Minute {
		t.Errorf("closed %s after the question, want 10 days", d)
	}
}

// Wrong questions and answers are refused before they act; the trainee
// can withdraw while asked.
func TestWrongQuestionsAndAnswersAreRefused(t *testing.T) {
	for _, c := range []struct {
		name    string
		update  string
		arg     any
		errType string
	}{
		{"an answer when nothing was asked", workflows.UpdateAnswer, reply, workflows.ErrTypeInvalidState},
		{"a question from the trainee", workflows.UpdateAsk, workflows.AskRequest{Actor: trainee, NoteID: 7}, workflows.ErrTypeInvalidRequest},
		{"a question without its text", workflows.UpdateAsk, workflows.AskRequest{Actor: committee}, workflows.ErrTypeInvalidRequest},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, eligible())
			h.env.OnActivity(workflows.ActivityLeave, mock.Anything, "r1").Return(nil)
			h.at(time.Hour, c.update, c.arg)
			h.at(2*time.Hour, workflows.UpdateWithdraw, workflows.WithdrawRequest{Actor: trainee})
			h.want(h.run(), withdrawn, submitted, review, withdrawn)
			assertRefused(t, h.rejected[c.update], c.errType)
		})
	}
	t.Run("an answer from the committee, then a second question, then withdrawn", func(t *testing.T) {
		h := newHarness(t, eligible())
		h.env.OnActivity(workflows.ActivityLeave, mock.Anything, "r1").Return(nil)
		mockReminders(h, 1)
		h.at(time.Hour, workflows.UpdateAsk, question)
		h.at(2*time.Hour, workflows.UpdateAnswer, workflows.AnswerRequest{Actor: committee, NoteID: 9})
		h.at(3*time.Hour, workflows.UpdateAsk, question)
		h.at(4*time.Hour, workflows.UpdateWithdraw, workflows.WithdrawRequest{Actor: trainee})
		h.want(h.runWith(questionTimings), withdrawn, submitted, review, awaitingInfo, withdrawn)
		assertRefused(t, h.rejected[workflows.UpdateAnswer], workflows.ErrTypeInvalidRequest)
		assertRefused(t, h.rejected[workflows.UpdateAsk], workflows.ErrTypeInvalidState)
	})
}

// A question waiting for its answer is carried across continue-as-new,
// with the reminders already sent.
func TestQuestionSurvivesContinueAsNew(t *testing.T) {
	h := newHarness(t, eligible())
	reminded := mockReminders(h, 2)
	h.transitions = []referral.Status{submitted, review, awaitingInfo}
	h.reasons = make([]string, 3)
	asked := start.Add(-day(5)) // reminded once, at 3 days
	h.env.ExecuteWorkflow(workflows.WorkflowName, workflows.Input{ReferralID: "r1", Timings: questionTimings,
		Resume: &workflows.State{Status: awaitingInfo, Seq: 3, Cutoff: "2027-07-01", Questions: 1, AskedAt: asked, AnswerReminders: 1}})
	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	h.want(workflows.Result{Status: h.transitions[len(h.transitions)-1]}, referral.StatusClosedNoResponse, submitted, review, awaitingInfo, referral.StatusClosedNoResponse)
	if len(*reminded) != 2 { // at 6 and 9 days
		t.Errorf("reminded %d more times, want 2", len(*reminded))
	}
	if d := h.env.Now().Sub(asked); d < day(10) || d > day(10)+time.Minute {
		t.Errorf("closed %s after the question, want 10 days", d)
	}
}
