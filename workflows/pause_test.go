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

// pauseTimings are wellTimings with pauses of up to 12 weeks and a
// reminder a week before one ends.
var pauseTimings = func() workflows.Timings {
	t := wellTimings
	t.PauseLimit, t.PauseReminder = 12*7*24*time.Hour, 7*24*time.Hour
	return t
}()

// pauseCalls records what the pause activities were asked, and when.
type pauseCalls struct {
	paused    []workflows.PauseInput
	resumed   []time.Time
	reminded  []workflows.PauseReminderInput
	remindAt  []time.Time
	reconcile []time.Time
}

// mockPauses answers the pause activities; resumeOffer is what a
// resumption finds (nil: no free place).
func mockPauses(h *harness, resumeOffer *referral.Offer) *pauseCalls {
	c := &pauseCalls{}
	h.env.OnActivity(workflows.ActivityPause, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in workflows.PauseInput) (*referral.Offer, error) {
			c.paused = append(c.paused, in)
			return nil, nil
		})
	h.env.OnActivity(workflows.ActivityResume, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in workflows.ResumeInput) (*referral.Offer, error) {
			c.resumed = append(c.resumed, in.At)
			return resumeOffer, nil
		})
	h.env.OnActivity(workflows.ActivityRemindPauseEnds, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in workflows.PauseReminderInput) error {
			c.reminded = append(c.reminded, in)
			c.remindAt = append(c.remindAt, h.env.Now())
			return nil
		})
	return c
}

func pauseUntil(date string) workflows.PauseRequest {
	return workflows.PauseRequest{Until: date, Actor: trainee}
}

func day(n int) time.Duration { return time.Duration(n) * 24 * time.Hour }

func mustDate(t *testing.T, s string) referral.Date {
	t.Helper()
	d, err := referral.ParseDate(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// A paused place is asked no check-in (pausing answers the one open), is
// not looked at when a place is freed, and its trainee is reminded a week
// before the pause ends; on the day, it waits again, and check-ins start
// again an interval later.
func TestPausedPlaceIsOfferedNothingThenComesBack(t *testing.T) {
	h := newHarness(t, referral.Eligibility{Eligible: true, Cutoff: "2028-07-01"})
	h.env.OnActivity(workflows.ActivityEnqueue, mock.Anything, "r1").Return(nil, nil)
	h.env.OnActivity(workflows.ActivityLeave, mock.Anything, "r1").Return(nil)
	calls := mockPauses(h, nil)
	h.env.OnActivity(workflows.ActivityReconcile, mock.Anything, "r1").Return(
		func(context.Context, string) (*referral.Offer, error) {
			calls.reconcile = append(calls.reconcile, h.env.Now())
			return nil, nil
		})
	var asked []time.Time
	h.env.OnActivity(workflows.ActivityAskCheckIn, mock.Anything, mock.Anything).Return(
		func(context.Context, workflows.CheckInInput) error { asked = append(asked, h.env.Now()); return nil })
	h.at(time.Hour, workflows.UpdateReview, approve())
	// The first check-in is asked at day 10; the trainee pauses at day 11,
	// before its deadline at day 13, until 10 January.
	h.at(day(11), workflows.UpdatePause, pauseUntil("2027-01-10"))
	h.env.RegisterDelayedCallback(func() { h.env.SignalWorkflow(workflows.SignalPlaceFreed, nil) }, day(20))
	// Back on 10 January (day 46 and 14 hours); the next check-in is 10
	// days on, on 20 January; the trainee withdraws the day after it.
	h.at(day(58), workflows.UpdateWithdraw, workflows.WithdrawRequest{Actor: trainee})
	h.want(h.runWith(pauseTimings), withdrawn, submitted, review, matching, waiting, waiting, waiting, withdrawn)
	if want := []string{referral.CodePaused, referral.CodePauseEnded}; !slices.Equal(h.reasons[4:6], want) {
		t.Errorf("reasons %v, want %v after the wait began", h.reasons, want)
	}
	until := mustDate(t, "2027-01-10").Start()
	if len(calls.paused) != 1 || !calls.paused[0].Until.Equal(until) {
		t.Fatalf("paused %+v, want once until %s", calls.paused, until)
	}
	pausedAt := calls.paused[0].At
	if len(calls.resumed) != 1 || calls.resumed[0].Sub(until) < 0 || calls.resumed[0].Sub(until) > time.Minute {
		t.Errorf("resumed at %v, want once at the start of %s", calls.resumed, until)
	}
	if len(calls.reminded) != 1 || calls.reminded[0].N != 1 || !calls.reminded[0].Until.Equal(until) {
		t.Errorf("reminded %+v, want once, of pause 1 ending %s", calls.reminded, until)
	} else if d := until.Sub(calls.remindAt[0]); d < 7*24*time.Hour-time.Minute || d > 7*24*time.Hour {
		t.Errorf("reminded %s before the pause ended, want a week", d)
	}
	for _, at := range calls.reconcile {
		if at.After(pausedAt) && at.Before(until) {
			t.Errorf("looked for a place at %s, while paused", at)
		}
	}
	// Asked at day 10, then not until 10 days after the pause ended.
	if len(asked) != 2 || asked[0].Sub(start) > day(10)+2*time.Hour || asked[1].Sub(until) < day(10) || asked[1].Sub(until) > day(10)+time.Minute {
		t.Errorf("check-ins asked at %v, want day 10 and 10 days after %s", asked, until)
	}
}

// Resuming early puts the place back in line, and a place free for it is
// offered at once; no reminder goes for a pause already over.
func TestResumeEarlyTakesAFreePlace(t *testing.T) {
	h, _, _ := waitingHarness(t, "2028-07-01")
	calls := mockPauses(h, offer("o1", "t1"))
	h.at(day(2), workflows.UpdatePause, pauseUntil("2027-02-01"))
	h.at(day(5), workflows.UpdateResume, workflows.ResumeRequest{Actor: trainee})
	h.at(day(6), workflows.UpdateWithdraw, workflows.WithdrawRequest{Actor: trainee})
	h.want(h.runWith(pauseTimings), withdrawn, submitted, review, matching, waiting, waiting, waiting, offered, withdrawn)
	if want := []string{referral.CodePaused, referral.CodeResumed, referral.CodePlaceReserved}; !slices.Equal(h.reasons[4:7], want) {
		t.Errorf("reasons %v, want %v after the wait began", h.reasons, want)
	}
	if len(calls.resumed) != 1 || len(calls.reminded) != 0 {
		t.Errorf("resumed %d times, reminded %d, want once and none", len(calls.resumed), len(calls.reminded))
	}
}

// A place offered just before the pause was applied stands: the pause is
// refused and the referral goes to its offer.
func TestPauseRefusedWhenAPlaceWasOfferedFirst(t *testing.T) {
	h, _, _ := waitingHarness(t, "2028-07-01")
	h.env.OnActivity(workflows.ActivityPause, mock.Anything, mock.Anything).Return(offer("o1", "t1"), nil)
	h.at(day(2), workflows.UpdatePause, pauseUntil("2027-02-01"))
	h.at(day(3), workflows.UpdateWithdraw, workflows.WithdrawRequest{Actor: trainee})
	h.want(h.runWith(pauseTimings), withdrawn, submitted, review, matching, waiting, offered, withdrawn)
	assertRefused(t, h.rejected[workflows.UpdatePause], workflows.ErrTypeInvalidState)
}

// Every wrong pause or resume is refused by the validator, before it acts.
func TestWrongPausesAreRefused(t *testing.T) {
	committeePause := pauseUntil("2027-01-10")
	committeePause.Actor = committee
	for _, c := range []struct {
		name    string
		at      time.Duration // workflow time; approval is at 1h
		update  string
		arg     any
		errType string
	}{
		{"before approval", 30 * time.Minute, workflows.UpdatePause, pauseUntil("2027-01-10"), workflows.ErrTypeInvalidState},
		{"not a date", day(1), workflows.UpdatePause, pauseUntil("10/01/2027"), workflows.ErrTypeInvalidRequest},
		{"no date", day(1), workflows.UpdatePause, pauseUntil(""), workflows.ErrTypeInvalidRequest},
		{"today", day(1), workflows.UpdatePause, pauseUntil("2026-11-25"), workflows.ErrTypeInvalidRequest},
		{"over 12 weeks", day(1), workflows.UpdatePause, pauseUntil("2027-02-18"), workflows.ErrTypeInvalidRequest},
		{"past the cut-off", day(1), workflows.UpdatePause, pauseUntil("2028-07-01"), workflows.ErrTypeInvalidRequest},
		{"by the committee", day(1), workflows.UpdatePause, committeePause, workflows.ErrTypeInvalidRequest},
		{"resume, not paused", day(1), workflows.UpdateResume, workflows.ResumeRequest{Actor: trainee}, workflows.ErrTypeInvalidState},
	} {
		t.Run(c.name, func(t *testing.T) {
			h, _, _ := waitingHarness(t, "2027-02-10")
			calls := mockPauses(h, nil)
			h.at(c.at, c.update, c.arg)
			h.at(day(2), workflows.UpdateWithdraw, workflows.WithdrawRequest{Actor: trainee})
			h.want(h.runWith(pauseTimings), withdrawn, submitted, review, matching, waiting, withdrawn)
			assertRefused(t, h.rejected[c.update], c.errType)
			if len(calls.paused)+len(calls.resumed) != 0 {
				t.Errorf("a refused %s acted: %+v", c.update, calls)
			}
		})
	}
	t.Run("twice", func(t *testing.T) {
		h, _, _ := waitingHarness(t, "2028-07-01")
		calls := mockPauses(h, nil)
		h.at(day(1), workflows.UpdatePause, pauseUntil("2027-01-10"))
		h.at(day(1)+time.Hour, workflows.UpdatePause, pauseUntil("2027-01-20"))
		h.at(day(2), workflows.UpdateWithdraw, workflows.WithdrawRequest{Actor: trainee})
		h.want(h.runWith(pauseTimings), withdrawn, submitted, review, matching, waiting, waiting, withdrawn)
		assertRefused(t, h.rejected[workflows.UpdatePause], workflows.ErrTypeInvalidState)
		if len(calls.paused) != 1 {
			t.Errorf("paused %d times, want once", len(calls.paused))
		}
	})
}

// A pause is carried across continue-as-new: the new run neither looks
// for a place nor asks a check-in until the pause ends on its day.
func TestPauseSurvivesContinueAsNew(t *testing.T) {
	h := newHarness(t, eligible())
	calls := mockPauses(h, nil)
	h.env.OnActivity(workflows.ActivityReconcile, mock.Anything, "r1").Return(
		func(context.Context, string) (*referral.Offer, error) {
			calls.reconcile = append(calls.reconcile, h.env.Now())
			return nil, nil
		})
	h.env.OnActivity(workflows.ActivityLeave, mock.Anything, "r1").Return(nil)
	h.transitions = []referral.Status{submitted, review, matching, waiting, waiting}
	h.reasons = make([]string, 5)
	until := start.Add(day(3))
	h.at(day(4), workflows.UpdateWithdraw, workflows.WithdrawRequest{Actor: trainee})
	h.env.ExecuteWorkflow(workflows.WorkflowName, workflows.Input{ReferralID: "r1", Timings: pauseTimings,
		Resume: &workflows.State{Status: waiting, Seq: 5, Cutoff: "2027-07-01", PausedUntil: until, Pauses: 1, PauseReminded: true}})
	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	h.want(workflows.Result{Status: h.transitions[len(h.transitions)-1]}, withdrawn, submitted, review, matching, waiting, waiting, waiting, withdrawn)
	if len(calls.resumed) != 1 || calls.resumed[0].Sub(until) < 0 || calls.resumed[0].Sub(until) > time.Minute {
		t.Errorf("resumed at %v, want once at %s", calls.resumed, until)
	}
	for _, at := range calls.reconcile {
		if at.Before(until) {
			t.Errorf("looked for a place at %s, while paused", at)
		}
	}
}
