package workflows_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"

	"github.com/wmtna/referrals/internal/referral"
	"github.com/wmtna/referrals/workflows"
)

// waitingHarness starts a referral that is approved at 1h and waits (no
// therapist is ever free), with check-ins every 10 days, 3 days to answer,
// and a warning 14 days before the cut-off.
func waitingHarness(t *testing.T, cutoff string) (*harness, *[]workflows.CheckInInput, *int) {
	h := newHarness(t, referral.Eligibility{Eligible: true, Cutoff: cutoff})
	h.env.OnActivity(workflows.ActivityEnqueue, mock.Anything, "r1").Return(nil, nil)
	h.env.OnActivity(workflows.ActivityReconcile, mock.Anything, "r1").Return(nil, nil)
	h.env.OnActivity(workflows.ActivityLeave, mock.Anything, "r1").Return(nil)
	var asked []workflows.CheckInInput
	h.env.OnActivity(workflows.ActivityAskCheckIn, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in workflows.CheckInInput) error { asked = append(asked, in); return nil })
	warned := 0
	h.env.OnActivity(workflows.ActivityWarnLapse, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in workflows.LapseWarningInput) error {
			if in.Cutoff != cutoff {
				t.Errorf("warned about cut-off %s, want %s", in.Cutoff, cutoff)
			}
			warned++
			return nil
		})
	h.at(time.Hour, workflows.UpdateReview, approve())
	return h, &asked, &warned
}

var wellTimings = func() workflows.Timings {
	t := timings
	t.CheckInInterval, t.CheckInGrace, t.LapseWarning = 10*24*time.Hour, 3*24*time.Hour, 14*24*time.Hour
	return t
}()

func (h *harness) runWith(in workflows.Timings) workflows.Result {
	h.env.ExecuteWorkflow(workflows.WorkflowName, workflows.Input{ReferralID: "r1", Timings: in})
	if err := h.env.GetWorkflowError(); err != nil {
		h.t.Fatalf("workflow failed: %v", err)
	}
	var res workflows.Result
	if err := h.env.GetWorkflowResult(&res); err != nil {
		h.t.Fatal(err)
	}
	return res
}

var stillWaiting = workflows.CheckInAnswer{StillWaiting: true, Actor: trainee}

func TestCheckInYesKeepsThePlace(t *testing.T) {
	h, asked, _ := waitingHarness(t, "2028-07-01")
	h.at(11*24*time.Hour, workflows.UpdateCheckIn, stillWaiting)
	h.at(22*24*time.Hour, workflows.UpdateWithdraw, workflows.WithdrawRequest{Actor: trainee})
	h.want(h.runWith(wellTimings), withdrawn, submitted, review, matching, waiting, waiting, withdrawn)
	// Asked at 10 days, answered at 11, asked again 10 days after the answer.
	if len(*asked) != 2 || (*asked)[0].N != 1 || (*asked)[1].N != 2 {
		t.Fatalf("check-ins asked: %+v, want two", *asked)
	}
	if got := (*asked)[1].Deadline.Sub(start); got < 24*24*time.Hour-2*time.Hour || got > 24*24*time.Hour+2*time.Hour {
		t.Errorf("second check-in's deadline %s after start, want about 24 days (11 + 10 + 3)", got)
	}
}

func TestCheckInNoWithdraws(t *testing.T) {
	h, _, _ := waitingHarness(t, "2028-07-01")
	h.at(11*24*time.Hour, workflows.UpdateCheckIn, workflows.CheckInAnswer{StillWaiting: false, Actor: trainee})
	h.want(h.runWith(wellTimings), withdrawn, submitted, review, matching, waiting, withdrawn)
}

func TestUnansweredCheckInClosesTheReferral(t *testing.T) {
	h, asked, _ := waitingHarness(t, "2028-07-01")
	// Answering when no check-in is open is refused.
	h.at(2*24*time.Hour, workflows.UpdateCheckIn, stillWaiting)
	h.want(h.runWith(wellTimings), referral.StatusClosedNoResponse, submitted, review, matching, waiting, referral.StatusClosedNoResponse)
	if len(*asked) != 1 {
		t.Errorf("asked %d check-ins, want 1", len(*asked))
	}
	assertRefused(t, h.rejected[workflows.UpdateCheckIn], workflows.ErrTypeInvalidState)
	if d := h.env.Now().Sub(start); d < 13*24*time.Hour || d > 13*24*time.Hour+2*time.Hour {
		t.Errorf("closed %s after start, want 13 days (asked at 10, 3 days to answer)", d)
	}
}

func TestWaitingTraineeIsWarnedBeforeTheCutoffThenLapses(t *testing.T) {
	// Cut-off 31 Dec 2026, 37 days after the start: check-ins at days 10,
	// 21 and 32, each answered the next day; the warning on 17 Dec (day
	// 23); the lapse on 31 Dec.
	h, _, warned := waitingHarness(t, "2026-12-31")
	for _, day := range []time.Duration{11, 22, 33} {
		h.at(day*24*time.Hour, workflows.UpdateCheckIn, stillWaiting)
	}
	h.want(h.runWith(wellTimings), lapsed, submitted, review, matching, waiting, waiting, waiting, waiting, lapsed)
	if *warned != 1 {
		t.Errorf("warned %d times, want once", *warned)
	}
	cutoff, err := referral.ParseDate("2026-12-31")
	if err != nil {
		t.Fatal(err)
	}
	// Neither before the cut-off day begins nor long after.
	if late := h.env.Now().Sub(cutoff.Start()); late < 0 || late > time.Minute {
		t.Errorf("lapsed at %s, want the start of the cut-off day %s", h.env.Now(), cutoff.Start())
	}
}

func TestReferralsWithoutWaitingWellTimingsWaitAsBefore(t *testing.T) {
	h, asked, warned := waitingHarness(t, "2026-12-10")
	h.want(h.runWith(timings), lapsed, submitted, review, matching, waiting, lapsed)
	if len(*asked) != 0 || *warned != 0 {
		t.Errorf("check-ins %d, warnings %d, want none", len(*asked), *warned)
	}
}

// A place can be offered to a referral between Enqueue finding none and the
// referral reaching the waitlist; the nudge for it must not be lost, or the
// offer would sit unseen until the next daily recheck.
func TestNudgeBeforeTheWaitIsNotLost(t *testing.T) {
	h := newHarness(t, eligible())
	h.env.OnActivity(workflows.ActivityEnqueue, mock.Anything, "r1").Return(nil, nil)
	h.env.OnActivity(workflows.ActivityReconcile, mock.Anything, "r1").Return(offer("o1", "t1"), nil).Once()
	h.env.OnActivity(workflows.ActivityLeave, mock.Anything, "r1").Return(nil)
	h.env.RegisterDelayedCallback(func() { h.env.SignalWorkflow(workflows.SignalPlaceFreed, nil) }, 30*time.Minute)
	h.at(time.Hour, workflows.UpdateReview, approve())
	h.at(2*time.Hour, workflows.UpdateWithdraw, workflows.WithdrawRequest{Actor: trainee})
	h.want(h.run(), withdrawn, submitted, review, matching, waiting, offered, withdrawn)
}
