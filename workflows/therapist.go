package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/wmtna/referrals/internal/referral"
)

// TherapistReturnWorkflowName is the registered name of the workflow that
// brings an away therapist back on the day they said; it is part of every
// such history, so it never changes.
const TherapistReturnWorkflowName = "TherapistReturn"

// ActivityReturnTherapist is the name of the activity that brings a
// therapist back, a method of activities.Activities.
const ActivityReturnTherapist = "ReturnTherapist"

// TherapistReturnWorkflowID is the ID of the workflow bringing a therapist
// back on a day: one per therapist and day, so asking twice starts one.
func TherapistReturnWorkflowID(therapistID string, until referral.Date) string {
	return "therapist-return-" + therapistID + "-" + until.String()
}

// TherapistReturnInput says who comes back, and on which UK calendar day
// (YYYY-MM-DD). IDs and a date only.
type TherapistReturnInput struct {
	TherapistID string        `json:"therapist_id"`
	Until       referral.Date `json:"until"`
}

// TherapistReturnResult says whether the therapist came back: false when
// they were no longer away until that day (they came back early, moved the
// date, or retired).
type TherapistReturnResult struct {
	Back bool `json:"back"`
}

var returnTherapistActivity = declare[TherapistReturnInput, bool](ActivityReturnTherapist)

// TherapistReturnWorkflow waits, durably, until the start of the day a
// therapist said they would be back (midnight in the UK), then brings them
// back if they are still away until that day, so their free places go to
// the waitlist. It is a timer in Temporal rather than a cron on one
// machine: it survives restarts of every process, and a stale one (the
// date moved since) finds nothing to do.
func TherapistReturnWorkflow(ctx workflow.Context, in TherapistReturnInput) (TherapistReturnResult, error) {
	if in.TherapistID == "" || in.Until.IsZero() {
		return TherapistReturnResult{}, temporal.NewNonRetryableApplicationError("therapist_id and until are required", ErrTypeInvalidRequest, nil)
	}
	if wait := in.Until.Start().Sub(workflow.Now(ctx)); wait > 0 {
		timer := workflow.NewTimerWithOptions(ctx, wait, workflow.TimerOptions{Summary: fmt.Sprintf("Back on %s", in.Until)})
		if err := timer.Get(ctx, nil); err != nil {
			return TherapistReturnResult{}, err
		}
	}
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, MaximumInterval: time.Minute},
	})
	back, err := returnTherapistActivity.run(actx, in)
	return TherapistReturnResult{Back: back}, err
}
