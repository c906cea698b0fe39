package workflows_test

import (
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	sdkpb "go.temporal.io/api/sdk/v1"

	"github.com/wmtna/referrals/workflows"
)

// timers follows a test workflow's timers: those started and not yet fired
// or cancelled, and how many were cancelled.
type timers struct {
	pending   map[string]time.Duration
	cancelled int
	fired     int
}

func watchTimers(h *harness) *timers {
	tm := &timers{pending: map[string]time.Duration{}}
	h.env.SetOnTimerScheduledListener(func(id string, d time.Duration) { tm.pending[id] = d })
	h.env.SetOnTimerFiredListener(func(id string) { delete(tm.pending, id); tm.fired++ })
	h.env.SetOnTimerCanceledListener(func(id string) { delete(tm.pending, id); tm.cancelled++ })
	return tm
}

// details asks the workflow what the Temporal UI shows as its current
// details.
func details(h *harness) string {
	v, err := h.env.QueryWorkflow("__temporal_workflow_metadata")
	if err != nil {
		h.t.Fatalf("metadata query: %v", err)
	}
	var md sdkpb.WorkflowMetadata
	if err := v.Get(&md); err != nil {
		h.t.Fatal(err)
	}
	return md.GetCurrentDetails()
}

// TestTimersThatNoLongerApplyAreCancelled: once the committee has reviewed
// a referral its review reminder is cancelled, and once the therapist has
// answered the offer its expiry is cancelled, so a matched referral shows an
// operator no reminder or offer expiry still to come. The UI's current
// details say where the referral is, by ID and status.
func TestTimersThatNoLongerApplyAreCancelled(t *testing.T) {
	h := newHarness(t, eligible())
	tm := watchTimers(h)
	h.env.OnActivity(workflows.ActivityEnqueue, mock.Anything, "r1").Return(offer("o1", "t1"), nil)
	h.env.OnActivity(workflows.ActivityAcceptOffer, mock.Anything, "o1").Return(nil).Once()
	h.env.OnActivity(workflows.ActivityLeave, mock.Anything, "r1").Return(nil).Once()
	var awaiting, offeredNow, matchedNow, afterReview []time.Duration
	snapshot := func(into *[]time.Duration, text *string) func() {
		return func() {
			*into = slices.Collect(maps.Values(tm.pending))
			if text != nil {
				*text = details(h)
			}
		}
	}
	var inReview, inOffer, inMatch string
	h.env.RegisterDelayedCallback(snapshot(&awaiting, &inReview), 30*time.Minute)
	h.at(time.Hour, workflows.UpdateReview, approve())
	h.env.RegisterDelayedCallback(snapshot(&afterReview, &inOffer), 90*time.Minute)
	h.at(2*time.Hour, workflows.UpdateAcceptOffer, answer("o1", "t1"))
	h.env.RegisterDelayedCallback(snapshot(&matchedNow, &inMatch), 3*time.Hour)
	// Long after both timers would have fired: nothing has.
	h.env.RegisterDelayedCallback(snapshot(&offeredNow, nil), 20*24*time.Hour)
	h.at(30*24*time.Hour, workflows.UpdateEndTherapy, workflows.OfferAnswer{OfferID: "o1", Actor: therapist})
	h.want(h.run(), ended, submitted, review, matching, offered, matched, ended)
	h.env.AssertExpectations(t)

	if !slices.Equal(awaiting, []time.Duration{timings.ReviewReminder}) {
		t.Errorf("awaiting review, pending timers %v, want the review reminder alone", awaiting)
	}
	if !slices.Equal(afterReview, []time.Duration{timings.OfferTTL}) {
		t.Errorf("offered, pending timers %v, want the offer's expiry alone", afterReview)
	}
	if len(matchedNow) != 0 || len(offeredNow) != 0 {
		t.Errorf("matched, pending timers %v and later %v, want none", matchedNow, offeredNow)
	}
	if tm.cancelled != 2 || tm.fired != 0 {
		t.Errorf("%d timers cancelled and %d fired, want 2 and 0", tm.cancelled, tm.fired)
	}
	for _, c := range []struct{ got, want string }{
		{inReview, "Referral r1 is awaiting_review."},
		{inOffer, "Referral r1 is offered. Offer o1 to therapist t1 lapses at 2026-12-01 11:00 UTC unless answered."},
		{inMatch, "Referral r1 is matched. Matched with therapist t1 (offer o1)."},
	} {
		if c.got != c.want {
			t.Errorf("current details %q, want %q", c.got, c.want)
		}
	}
}
