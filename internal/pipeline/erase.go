package pipeline

import (
	"context"
	"errors"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/wmtna/referrals/internal/referral"
	"github.com/wmtna/referrals/workflows"
)

// eraseWait is how long Erase waits for an erasure to complete. The
// erasure is a durable workflow, so it completes even if the caller stops
// waiting; asking again then reports it.
const eraseWait = 30 * time.Second

// Erase erases a finished referral's personal details at the trainee's
// request (right to erasure), through the Erasure workflow, and reports
// whether anything was erased: false when it already had been. An open
// referral is a Conflict: it must be withdrawn first.
func (s *Service) Erase(ctx context.Context, p referral.Principal, id string) (erased bool, err error) {
	defer s.audited(ctx, p, ActErase, id, &err)
	if err := allowed(p, ActErase); err != nil {
		return false, err
	}
	if !validID(id) {
		return false, ErrNotFound
	}
	ref, err := s.DB.Referral(ctx, id)
	if err != nil {
		return false, s.failed(ctx, "load referral", id, err)
	}
	if !ref.Status.Terminal() {
		return false, stillOpen(ref.Status)
	}
	wctx, cancel := context.WithTimeout(ctx, eraseWait)
	defer cancel()
	actor := referral.Actor{Role: p.Role, ID: p.Subject}
	run, err := s.Temporal.ExecuteWorkflow(wctx, client.StartWorkflowOptions{
		ID:                       workflows.ErasureWorkflowID(id),
		TaskQueue:                workflows.TaskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		StaticSummary:            "Erase referral " + id,
	}, workflows.ErasureWorkflowName, workflows.EraseInput{ReferralID: id, RequestedBy: actor.String(), Reason: workflows.ErasureReasonRequest})
	if err == nil {
		err = run.Get(wctx, &erased)
	}
	log := s.Logger.With("referral_id", id, "workflow_id", workflows.ErasureWorkflowID(id))
	if err == nil {
		log.InfoContext(ctx, "erasure requested", "erased", erased, "by", actor.String())
		return erased, nil
	}
	var appErr *temporal.ApplicationError
	switch {
	case errors.As(err, &appErr) && (appErr.Type() == workflows.ErrTypeConflict || appErr.Type() == workflows.ErrTypeInvalidState):
		current := ref.Status
		if now, dbErr := s.DB.Referral(ctx, id); dbErr == nil {
			current = now.Status
		}
		return false, stillOpen(current)
	case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
		log.WarnContext(ctx, "erasure still running")
		return false, &Error{Outcome: Unavailable, Code: "unavailable",
			Message: "the erasure has been requested and will complete; ask again to learn its outcome"}
	}
	log.ErrorContext(ctx, "erase referral", "err", err)
	return false, ErrUnavailable
}

func stillOpen(s referral.Status) *Error {
	return &Error{Outcome: Conflict, Code: "invalid_state",
		Message: "the referral is still open: it must be withdrawn before it can be erased", Current: s}
}
