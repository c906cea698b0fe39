package workflows

import (
	"encoding/json"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// Registered names of the erasure workflows; they are part of every
// history, so they never change.
const (
	RetentionWorkflowName = "Retention"
	ErasureWorkflowName   = "Erasure"
)

// RetentionScheduleID is the Temporal Schedule that starts RetentionWorkflow
// every day (see worker.EnsureRetentionSchedule).
const RetentionScheduleID = "wmtna-retention"

// ErasureWorkflowID is the ID of the workflow erasing one referral at the
// trainee's request: one at a time per referral.
func ErasureWorkflowID(referralID string) string { return "erase-" + referralID }

// Activity names of the erasure workflows, methods of activities.Activities.
const (
	ActivityEraseReferral    = "EraseReferral"
	ActivityExpiredReferrals = "ExpiredReferrals"
)

// Why a referral was erased, as recorded in the erasures table.
const (
	ErasureReasonRetention = "retention"
	ErasureReasonRequest   = "request"
)

// RetentionRequester is who requested erasures made by the retention
// workflow.
const RetentionRequester = "system:retention"

// DefaultRetentionBatch is how many referrals the retention workflow erases
// at once when RetentionInput.Batch is 0.
const DefaultRetentionBatch = 50

// retentionBatchesPerRun bounds a retention run's history: after this many
// batches it continues as new.
const retentionBatchesPerRun = 20

// RetentionInput starts a retention run: every finished referral that ended
// more than Retention ago is erased, Batch at a time.
type RetentionInput struct {
	Retention time.Duration `json:"retention"`
	Batch     int           `json:"batch,omitempty"`
	// Erased counts the referrals erased by earlier runs of the same
	// retention pass, carried across continue-as-new.
	Erased int `json:"erased,omitempty"`
}

// MarshalJSON writes the retention as a duration an operator reads in the
// Temporal UI ("8760h0m0s"), not as nanoseconds.
func (in RetentionInput) MarshalJSON() ([]byte, error) {
	type plain RetentionInput
	return json.Marshal(struct {
		Retention jsonDuration `json:"retention"`
		plain
	}{jsonDuration(in.Retention), plain(in)})
}

// UnmarshalJSON reads the retention either way, as the schedule's action
// and the runs started before were written in nanoseconds.
func (in *RetentionInput) UnmarshalJSON(b []byte) error {
	type plain RetentionInput
	var v struct {
		Retention jsonDuration `json:"retention"`
		plain
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*in = RetentionInput(v.plain)
	in.Retention = time.Duration(v.Retention)
	return nil
}

// RetentionResult is how a retention pass ends.
type RetentionResult struct {
	Erased int `json:"erased"`
}

// EraseInput asks for one referral's personal details to be erased.
// RequestedBy is an actor (role:id), never a name.
type EraseInput struct {
	ReferralID  string `json:"referral_id"`
	RequestedBy string `json:"requested_by"`
	Reason      string `json:"reason"`
}

// RetentionWorkflow erases, batch by batch, every finished referral whose
// retention period has passed, until none is left. A long pass continues as
// new, carrying its count.
func RetentionWorkflow(ctx workflow.Context, in RetentionInput) (RetentionResult, error) {
	if in.Retention < 0 || in.Batch < 0 {
		return RetentionResult{}, temporal.NewNonRetryableApplicationError("retention and batch must not be negative", ErrTypeInvalidRequest, nil)
	}
	if in.Batch == 0 {
		in.Batch = DefaultRetentionBatch
	}
	actx := activityCtx(ctx)
	for batches := 0; ; batches++ {
		if batches >= retentionBatchesPerRun || workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
			return RetentionResult{Erased: in.Erased}, workflow.NewContinueAsNewError(ctx, RetentionWorkflowName, in)
		}
		ids, err := expiredReferrals(actx, in)
		if err != nil {
			return RetentionResult{Erased: in.Erased}, err
		}
		if len(ids) == 0 {
			return RetentionResult{Erased: in.Erased}, nil
		}
		futures := make([]future[bool], len(ids))
		for i, id := range ids {
			futures[i] = startEraseReferral(actx, EraseInput{ReferralID: id, RequestedBy: RetentionRequester, Reason: ErasureReasonRetention})
		}
		erased := 0
		for _, f := range futures {
			ok, err := f.get(ctx)
			if err != nil {
				return RetentionResult{Erased: in.Erased}, err
			}
			if ok {
				erased++
			}
		}
		in.Erased += erased
		if erased == 0 {
			// Everything listed was already erased by someone else: nothing
			// more is due, and looping again would list the same rows.
			return RetentionResult{Erased: in.Erased}, nil
		}
		if len(ids) < in.Batch {
			return RetentionResult{Erased: in.Erased}, nil
		}
	}
}

// ErasureWorkflow erases one finished referral at the trainee's request and
// reports whether anything was erased (false if it already had been). An
// open referral is refused (ErrTypeConflict): it must be withdrawn first.
func ErasureWorkflow(ctx workflow.Context, in EraseInput) (bool, error) {
	if in.ReferralID == "" || in.RequestedBy == "" {
		return false, temporal.NewNonRetryableApplicationError("referral and requester are required", ErrTypeInvalidRequest, nil)
	}
	in.Reason = ErasureReasonRequest
	return eraseReferral(activityCtx(ctx), in)
}
