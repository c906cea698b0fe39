package workflows_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/wmtna/referrals/activities"
	"github.com/wmtna/referrals/internal/referral"
	"github.com/wmtna/referrals/worker"
	"github.com/wmtna/referrals/workflows"
)

var (
	start     = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	therapist = referral.Actor{Role: referral.RoleTherapist, ID: "t1"}
	committee = referral.Actor{Role: referral.RoleCommittee, ID: "c1"}
	trainee   = referral.Actor{Role: referral.RoleTrainee}
	timings   = workflows.Timings{ReviewReminder: 72 * time.Hour, OfferTTL: 7 * 24 * time.Hour, WaitlistRecheck: 24 * time.Hour}
)

func offer(id, therapistID string) *referral.Offer {
	return &referral.Offer{ID: id, ReferralID: "r1", TherapistID: therapistID, State: referral.OfferOpen}
}

// harness runs the workflow against mocked activities and records every
// transition it asks to record, in order.
type harness struct {
	t           *testing.T
	env         *testsuite.TestWorkflowEnvironment
	transitions []referral.Status
	reasons     []string // of the transitions, in step
	rejected    map[string]error
	followUps   []workflows.FollowUpInput // follow-ups started

}

func newHarness(t *testing.T, eligibility referral.Eligibility) *harness {
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	env.SetStartTime(start)
	worker.Register(env, &activities.Activities{})
	h := &harness{t: t, env: env, rejected: map[string]error{}}
	env.OnWorkflow(workflows.FollowUpWorkflowName, mock.Anything, mock.Anything).Return(
		func(_ workflow.Context, in workflows.FollowUpInput) (string, error) {
			h.followUps = append(h.followUps, in)
			return "done", nil
		}).Maybe()
	env.OnActivity(workflows.ActivityCheckEligibility, mock.Anything, "r1").Return(eligibility, nil)
	env.OnActivity(workflows.ActivityRecordTransition, mock.Anything, mock.Anything).Return(
		func(_ context.Context, tr referral.Transition) error {
			if tr.Seq != len(h.transitions)+1 {
				t.Errorf("transition to %s has seq %d, want %d", tr.To, tr.Seq, len(h.transitions)+1)
			}
			h.transitions = append(h.transitions, tr.To)
			h.reasons = append(h.reasons, tr.Reason)
			return nil
		})
	return h
}

func eligible() referral.Eligibility {
	return referral.Eligibility{Eligible: true, Cutoff: "2027-07-01"}
}

// at sends an update after d of workflow time.
func (h *harness) at(d time.Duration, name string, arg any) {
	h.env.RegisterDelayedCallback(func() {
		h.env.UpdateWorkflow(name, "", &testsuite.TestUpdateCallback{
			OnReject: func(err error) { h.rejected[name] = err },
			OnAccept: func() {},
			OnComplete: func(_ any, err error) {
				if err != nil {
					h.rejected[name] = err
				}
			},
		}, arg)
	}, d)
}

func (h *harness) run() workflows.Result {
	h.env.ExecuteWorkflow(workflows.WorkflowName, workflows.Input{ReferralID: "r1", Timings: timings})
	if !h.env.IsWorkflowCompleted() {
		h.t.Fatal("workflow did not complete")
	}
	if err := h.env.GetWorkflowError(); err != nil {
		h.t.Fatalf("workflow failed: %v", err)
	}
	var res workflows.Result
	if err := h.env.GetWorkflowResult(&res); err != nil {
		h.t.Fatal(err)
	}
	return res
}

func (h *harness) want(res workflows.Result, final referral.Status, path ...referral.Status) {
	h.t.Helper()
	if res.Status != final {
		h.t.Errorf("ended %s, want %s", res.Status, final)
	}
	if len(path) != len(h.transitions) {
		h.t.Fatalf("transitions %v, want %v", h.transitions, path)
	}
	for i := range path {
		if path[i] != h.transitions[i] {
			h.t.Fatalf("transitions %v, want %v", h.transitions, path)
		}
	}
}

const (
	submitted = referral.StatusSubmitted
	ineligib  = referral.StatusIneligible
	review    = referral.StatusAwaitingReview
	declined  = referral.StatusDeclined
	matching  = referral.StatusMatching
	offered   = referral.StatusOffered
	waiting   = referral.StatusWaitlisted
	matched   = referral.StatusMatched
	ended     = referral.StatusEnded
	withdrawn = referral.StatusWithdrawn
	lapsed    = referral.StatusLapsed
)

func approve() workflows.ReviewRequest {
	return workflows.ReviewRequest{Decision: workflows.DecisionApprove, Actor: committee}
}

func answer(offerID, therapistID string) workflows.OfferAnswer {
	return workflows.OfferAnswer{OfferID: offerID, Actor: referral.Actor{Role: referral.RoleTherapist, ID: therapistID}}
}

func TestIneligibleReferralEndsWithItsReason(t *testing.T) {
	h := newHarness(t, referral.Eligibility{Eligible: false, Reason: referral.ReasonPastCutoff, Cutoff: "2026-07-01"})
	h.want(h.run(), ineligib, submitted, ineligib)
}

func TestCommitteeDeclines(t *testing.T) {
	h := newHarness(t, eligible())
	h.at(time.Hour, workflows.UpdateReview, workflows.ReviewRequest{Decision: workflows.DecisionDecline, Actor: committee, NoteID: 7})
	h.want(h.run(), declined, submitted, review, declined)
}

func TestMatchedThenEnded(t *testing.T) {
	h := newHarness(t, eligible())
	h.env.OnActivity(workflows.ActivityEnqueue, mock.Anything, "r1").Return(offer("o1", "t1"), nil)
	h.env.OnActivity(workflows.ActivityAcceptOffer, mock.Anything, "o1").Return(nil).Once()
	h.env.OnActivity(workflows.ActivityLeave, mock.Anything, "r1").Return(nil).Once()
	h.at(time.Hour, workflows.UpdateReview, approve())
	h.at(2*time.Hour, workflows.UpdateAcceptOffer, answer("o1", "t1"))
	h.at(30*24*time.Hour, workflows.UpdateEndTherapy, workflows.OfferAnswer{OfferID: "o1", Actor: therapist})
	h.want(h.run(), ended, submitted, review, matching, offered, matched, ended)
	h.env.AssertExpectations(t)
	// Its follow-ups start when therapy ends, as a workflow of their own.
	if len(h.followUps) != 1 || h.followUps[0].ReferralID != "r1" || !h.followUps[0].EndedAt.Equal(start.Add(30*24*time.Hour)) {
		t.Errorf("follow-ups started: %+v, want one, from the end of therapy", h.followUps)
	}
}

func TestDeclinedOfferGoesToTheNextTherapist(t *testing.T) {
	h := newHarness(t, eligible())
	h.env.OnActivity(workflows.ActivityEnqueue, mock.Anything, "r1").Return(offer("o1", "t1"), nil)
	h.env.OnActivity(workflows.ActivityCloseOffer, mock.Anything, workflows.CloseOfferInput{OfferID: "o1", Outcome: referral.OfferDeclined, ReasonCode: referral.CodeTherapistCapacity}).Return(offer("o2", "t2"), nil).Once()
	h.env.OnActivity(workflows.ActivityAcceptOffer, mock.Anything, "o2").Return(nil).Once()
	h.env.OnActivity(workflows.ActivityLeave, mock.Anything, "r1").Return(nil)
	h.at(time.Hour, workflows.UpdateReview, approve())
	decline := answer("o1", "t1")
	decline.ReasonCode = referral.CodeTherapistCapacity
	h.at(2*time.Hour, workflows.UpdateDeclineOffer, decline)
	// The first therapist can no longer accept; the second can.
	h.at(3*time.Hour, workflows.UpdateAcceptOffer, answer("o1", "t1"))
	h.at(4*time.Hour, workflows.UpdateAcceptOffer, answer("o2", "t2"))
	h.at(5*time.Hour, workflows.UpdateWithdraw, workflows.WithdrawRequest{Actor: trainee})
	h.want(h.run(), withdrawn, submitted, review, matching, offered, matching, offered, matched, withdrawn)
	assertRefused(t, h.rejected[workflows.UpdateAcceptOffer], workflows.ErrTypeInvalidState)
	h.env.AssertExpectations(t)
}

func TestUnansweredOfferExpiresAndWaitlistWakesOnSignal(t *testing.T) {
	h := newHarness(t, eligible())
	h.env.OnActivity(workflows.ActivityEnqueue, mock.Anything, "r1").Return(offer("o1", "t1"), nil)
	h.env.OnActivity(workflows.ActivityCloseOffer, mock.Anything, workflows.CloseOfferInput{OfferID: "o1", Outcome: referral.OfferExpired, ReasonCode: referral.CodeOfferExpired}).Return(nil, nil).Once()
	h.env.OnActivity(workflows.ActivityReconcile, mock.Anything, "r1").Return(offer("o2", "t2"), nil).Once()
	h.env.OnActivity(workflows.ActivityAcceptOffer, mock.Anything, "o2").Return(nil)
	h.env.OnActivity(workflows.ActivityLeave, mock.Anything, "r1").Return(nil)
	h.at(time.Hour, workflows.UpdateReview, approve())
	// The offer TTL is 7 days: at 8 days the referral is waiting; a place
	// frees up at 8 days and 2 hours, before the daily recheck.
	h.env.RegisterDelayedCallback(func() { h.env.SignalWorkflow(workflows.SignalPlaceFreed, nil) }, 8*24*time.Hour+2*time.Hour)
	h.at(9*24*time.Hour, workflows.UpdateAcceptOffer, answer("o2", "t2"))
	h.at(10*24*time.Hour, workflows.UpdateEndTherapy, workflows.OfferAnswer{Actor: referral.Actor{Role: referral.RoleTherapist, ID: "t2"}})
	h.want(h.run(), ended, submitted, review, matching, offered, matching, waiting, offered, matched, ended)
	h.env.AssertExpectations(t)
}

func TestWaitingReferralLapsesAtItsCutoff(t *testing.T) {
	h := newHarness(t, referral.Eligibility{Eligible: true, Cutoff: "2026-12-10"})
	h.env.OnActivity(workflows.ActivityEnqueue, mock.Anything, "r1").Return(nil, nil)
	h.env.OnActivity(workflows.ActivityReconcile, mock.Anything, "r1").Return(nil, nil)
	h.env.OnActivity(workflows.ActivityLeave, mock.Anything, "r1").Return(nil).Once()
	h.at(time.Hour, workflows.UpdateReview, approve())
	h.want(h.run(), lapsed, submitted, review, matching, waiting, lapsed)
	// Rechecked daily from 24 Nov until the cut-off on 10 Dec, and no later.
	h.env.AssertNumberOfCalls(t, workflows.ActivityReconcile, 15)
	h.env.AssertExpectations(t)
}

func TestWithdrawAtEveryStage(t *testing.T) {
	tests := []struct {
		name  string
		setup func(h *harness)
		at    time.Duration
		path  []referral.Status
	}{
		{"awaiting review", func(h *harness) {}, time.Hour, []referral.Status{submitted, review, withdrawn}},
		{"offered", func(h *harness) {
			h.env.OnActivity(workflows.ActivityEnqueue, mock.Anything, "r1").Return(offer("o1", "t1"), nil)
			h.at(time.Hour, workflows.UpdateReview, approve())
		}, 2 * time.Hour, []referral.Status{submitted, review, matching, offered, withdrawn}},
		{"waitlisted", func(h *harness) {
			h.env.OnActivity(workflows.ActivityEnqueue, mock.Anything, "r1").Return(nil, nil)
			h.at(time.Hour, workflows.UpdateReview, approve())
		}, 50 * time.Hour, []referral.Status{submitted, review, matching, waiting, withdrawn}},
		{"matched", func(h *harness) {
			h.env.OnActivity(workflows.ActivityEnqueue, mock.Anything, "r1").Return(offer("o1", "t1"), nil)
			h.env.OnActivity(workflows.ActivityAcceptOffer, mock.Anything, "o1").Return(nil)
			h.at(time.Hour, workflows.UpdateReview, approve())
			h.at(2*time.Hour, workflows.UpdateAcceptOffer, answer("o1", "t1"))
		}, 3 * time.Hour, []referral.Status{submitted, review, matching, offered, matched, withdrawn}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, eligible())
			h.env.OnActivity(workflows.ActivityReconcile, mock.Anything, "r1").Return(nil, nil).Maybe()
			h.env.OnActivity(workflows.ActivityLeave, mock.Anything, "r1").Return(nil).Once()
			tt.setup(h)
			h.at(tt.at, workflows.UpdateWithdraw, workflows.WithdrawRequest{Actor: trainee})
			// After the end, a second withdrawal is refused, not applied.
			h.want(h.run(), withdrawn, tt.path...)
			h.env.AssertExpectations(t)
		})
	}
}

func TestWrongDecisionsAreRefusedBeforeTheyAct(t *testing.T) {
	h := newHarness(t, eligible())
	h.env.OnActivity(workflows.ActivityEnqueue, mock.Anything, "r1").Return(offer("o1", "t1"), nil)
	h.env.OnActivity(workflows.ActivityLeave, mock.Anything, "r1").Return(nil)
	// Accepting before any offer, a made-up decision, and the wrong therapist.
	h.at(time.Minute, workflows.UpdateAcceptOffer, answer("o1", "t1"))
	h.at(2*time.Minute, workflows.UpdateEndTherapy, workflows.OfferAnswer{Actor: therapist})
	h.at(time.Hour, workflows.UpdateReview, workflows.ReviewRequest{Decision: "maybe", Actor: committee})
	h.at(2*time.Hour, workflows.UpdateReview, approve())
	wrong := answer("o1", "someone-else")
	wrong.ReasonCode = referral.CodeTherapistCapacity
	h.at(3*time.Hour, workflows.UpdateDeclineOffer, wrong)
	h.at(4*time.Hour, workflows.UpdateWithdraw, workflows.WithdrawRequest{Actor: trainee})
	h.want(h.run(), withdrawn, submitted, review, matching, offered, withdrawn)
	assertRefused(t, h.rejected[workflows.UpdateAcceptOffer], workflows.ErrTypeInvalidState)
	assertRefused(t, h.rejected[workflows.UpdateEndTherapy], workflows.ErrTypeInvalidState)
	assertRefused(t, h.rejected[workflows.UpdateDeclineOffer], workflows.ErrTypeInvalidRequest)
	if h.rejected[workflows.UpdateReview] == nil {
		t.Error("a review with decision \"maybe\" was not refused")
	}
}

func TestSecondApprovalIsRefused(t *testing.T) {
	h := newHarness(t, eligible())
	h.env.OnActivity(workflows.ActivityEnqueue, mock.Anything, "r1").Return(nil, nil).Once()
	h.env.OnActivity(workflows.ActivityLeave, mock.Anything, "r1").Return(nil)
	h.env.OnActivity(workflows.ActivityReconcile, mock.Anything, "r1").Return(nil, nil).Maybe()
	h.at(time.Hour, workflows.UpdateReview, approve())
	h.at(2*time.Hour, workflows.UpdateReview, approve())
	h.at(3*time.Hour, workflows.UpdateWithdraw, workflows.WithdrawRequest{Actor: trainee})
	h.want(h.run(), withdrawn, submitted, review, matching, waiting, withdrawn)
	assertRefused(t, h.rejected[workflows.UpdateReview], workflows.ErrTypeInvalidState)
	h.env.AssertExpectations(t)
}

func TestCommitteeIsRemindedUntilSomeoneDecides(t *testing.T) {
	h := newHarness(t, eligible())
	var reminders []int
	h.env.OnActivity(workflows.ActivityRemindCommittee, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in workflows.ReminderInput) error {
			reminders = append(reminders, in.N)
			return nil
		})
	h.at(10*24*time.Hour, workflows.UpdateReview, workflows.ReviewRequest{Decision: workflows.DecisionDecline, Actor: committee})
	h.want(h.run(), declined, submitted, review, declined)
	// Every 72 hours for 10 days: at 3, 6 and 9 days.
	if len(reminders) != 3 || reminders[0] != 1 || reminders[2] != 3 {
		t.Errorf("reminders %v, want [1 2 3]", reminders)
	}
}

func TestLongWaitContinuesAsNew(t *testing.T) {
	h := newHarness(t, eligible())
	h.env.OnActivity(workflows.ActivityEnqueue, mock.Anything, "r1").Return(nil, nil)
	h.env.OnActivity(workflows.ActivityReconcile, mock.Anything, "r1").Return(nil, nil)
	h.at(time.Hour, workflows.UpdateReview, approve())
	// The server suggests continuing as new once the history is long; the
	// waitlist loop takes the hint at its next wake-up.
	h.env.RegisterDelayedCallback(func() { h.env.SetContinueAsNewSuggested(true) }, 3*24*time.Hour)
	h.env.ExecuteWorkflow(workflows.WorkflowName, workflows.Input{ReferralID: "r1", Timings: timings})
	var can *workflow.ContinueAsNewError
	if err := h.env.GetWorkflowError(); !errors.As(err, &can) {
		t.Fatalf("workflow ended with %v, want continue-as-new", err)
	}
	var next workflows.Input
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &next); err != nil {
		t.Fatal(err)
	}
	if next.Resume == nil || next.Resume.Status != waiting || next.Resume.Seq != 4 || next.Resume.Cutoff != "2027-07-01" {
		t.Errorf("continued with %+v, want the waitlisted state carried over", next.Resume)
	}
}

func TestResumedWaitLooksForAnOfferAtOnce(t *testing.T) {
	h := newHarness(t, eligible())
	h.env.OnActivity(workflows.ActivityReconcile, mock.Anything, "r1").Return(offer("o9", "t9"), nil).Once()
	h.env.OnActivity(workflows.ActivityLeave, mock.Anything, "r1").Return(nil)
	h.transitions = []referral.Status{submitted, review, matching, waiting}
	h.at(time.Minute, workflows.UpdateWithdraw, workflows.WithdrawRequest{Actor: trainee})
	h.env.ExecuteWorkflow(workflows.WorkflowName, workflows.Input{ReferralID: "r1", Timings: timings,
		Resume: &workflows.State{Status: waiting, Seq: 4, Cutoff: "2027-07-01"}})
	if !h.env.IsWorkflowCompleted() {
		t.Fatal("workflow did not complete")
	}
	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	var res workflows.Result
	if err := h.env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	h.want(res, withdrawn, submitted, review, matching, waiting, offered, withdrawn)
}

func assertRefused(t *testing.T, err error, errType string) {
	t.Helper()
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != errType {
		t.Errorf("got %v, want a refusal of type %s", err, errType)
	}
}

// An answer the workflow took in just as its offer expired (the validator
// saw the offer still open while the expiry was being recorded) is judged
// against that offer when it is applied: it is refused, never applied to
// the offer the referral has moved on to, which another therapist holds. A
// history from before the check replays as it ran: the answer acted on the
// next offer.
func TestLateAnswerIsNotAppliedToTheNextOffer(t *testing.T) {
	for _, tt := range []struct {
		name   string
		update string
		old    bool // replaying a history from before the check
		path   []referral.Status
	}{
		{"accept", workflows.UpdateAcceptOffer, false, []referral.Status{submitted, review, matching, offered, matching, offered, withdrawn}},
		{"decline", workflows.UpdateDeclineOffer, false, []referral.Status{submitted, review, matching, offered, matching, offered, withdrawn}},
		{"accept before the check", workflows.UpdateAcceptOffer, true, []referral.Status{submitted, review, matching, offered, matching, offered, matched, withdrawn}},
		{"decline before the check", workflows.UpdateDeclineOffer, true, []referral.Status{submitted, review, matching, offered, matching, offered, matching, waiting, withdrawn}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, eligible())
			if tt.old {
				h.env.OnGetVersion("answer-own-offer", workflow.DefaultVersion, 1).Return(workflow.DefaultVersion)
			}
			late := answer("o1", "t1")
			late.ReasonCode = referral.CodeTherapistCapacity
			var lateErr error
			h.env.OnActivity(workflows.ActivityEnqueue, mock.Anything, "r1").Return(offer("o1", "t1"), nil)
			h.env.OnActivity(workflows.ActivityCloseOffer, mock.Anything, workflows.CloseOfferInput{OfferID: "o1", Outcome: referral.OfferExpired, ReasonCode: referral.CodeOfferExpired}).Return(
				func(context.Context, workflows.CloseOfferInput) (*referral.Offer, error) {
					// t1 answers while the expiry is being recorded.
					h.env.UpdateWorkflow(tt.update, "", &testsuite.TestUpdateCallback{
						OnReject:   func(err error) { lateErr = err },
						OnAccept:   func() {},
						OnComplete: func(_ any, err error) { lateErr = err },
					}, late)
					return offer("o2", "t2"), nil
				}).Once()
			h.env.OnActivity(workflows.ActivityAcceptOffer, mock.Anything, "o2").Return(nil).Maybe()
			h.env.OnActivity(workflows.ActivityCloseOffer, mock.Anything, mock.Anything).Return(nil, nil).Maybe()
			h.env.OnActivity(workflows.ActivityReconcile, mock.Anything, "r1").Return(nil, nil).Maybe()
			h.env.OnActivity(workflows.ActivityLeave, mock.Anything, "r1").Return(nil)
			h.at(time.Hour, workflows.UpdateReview, approve())
			h.at(8*24*time.Hour, workflows.UpdateWithdraw, workflows.WithdrawRequest{Actor: trainee})
			h.want(h.run(), withdrawn, tt.path...)
			if !tt.old {
				assertRefused(t, lateErr, workflows.ErrTypeInvalidState)
			}
		})
	}
}
