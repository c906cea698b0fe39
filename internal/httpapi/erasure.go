package httpapi

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/wmtna/referrals/internal/referral"
	"github.com/wmtna/referrals/workflows"
)

// eraseWait is how long the API waits for an erasure to complete. The
// erasure is a durable workflow, so it completes even if the caller stops
// waiting; asking again then reports it.
const eraseWait = 30 * time.Second

type eraseResponse struct {
	ID     string `json:"id"`
	Erased bool   `json:"erased"`
}

// eraseReferral erases a finished referral's personal details at the
// trainee's request (right to erasure), through the Erasure workflow, and
// answers whether anything was erased: false when it already had been. An
// open referral is 409: it must be withdrawn first. The body is optional:
// none, or {} as application/json.
func (s *Server) eraseReferral(w http.ResponseWriter, r *http.Request) {
	p, _ := principal(r)
	id := chi.URLParam(r, "id")
	if r.ContentLength != 0 || r.Header.Get("Content-Type") != "" {
		if e := decode(w, r, &struct{}{}); e != nil {
			writeError(w, e)
			return
		}
	}
	if !validID(id) {
		writeError(w, errNotFound)
		return
	}
	ctx := r.Context()
	ref, err := s.DB.Referral(ctx, id)
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	if !ref.Status.Terminal() {
		writeError(w, stillOpen(ref.Status))
		return
	}
	wctx, cancel := context.WithTimeout(ctx, eraseWait)
	defer cancel()
	actor := referral.Actor{Role: p.Role, ID: p.Subject}
	run, err := s.Temporal.ExecuteWorkflow(wctx, client.StartWorkflowOptions{
		ID:                       workflows.ErasureWorkflowID(id),
		TaskQueue:                workflows.TaskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
	}, workflows.ErasureWorkflowName, workflows.EraseInput{ReferralID: id, RequestedBy: actor.String(), Reason: workflows.ErasureReasonRequest})
	var erased bool
	if err == nil {
		err = run.Get(wctx, &erased)
	}
	if err == nil {
		s.Logger.InfoContext(ctx, "erasure requested", "referral_id", id, "workflow_id", workflows.ErasureWorkflowID(id), "erased", erased, "by", actor.String())
		writeJSON(w, http.StatusOK, eraseResponse{ID: id, Erased: erased})
		return
	}
	var appErr *temporal.ApplicationError
	switch {
	case errors.As(err, &appErr) && (appErr.Type() == workflows.ErrTypeConflict || appErr.Type() == workflows.ErrTypeInvalidState):
		current := ref.Status
		if now, dbErr := s.DB.Referral(ctx, id); dbErr == nil {
			current = now.Status
		}
		writeError(w, stillOpen(current))
	case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
		s.Logger.WarnContext(ctx, "erasure still running", "referral_id", id, "workflow_id", workflows.ErasureWorkflowID(id))
		writeError(w, &apiError{Status: http.StatusServiceUnavailable, Code: "unavailable",
			Message: "the erasure has been requested and will complete; ask again to learn its outcome"})
	default:
		s.Logger.ErrorContext(ctx, "erase referral", "referral_id", id, "workflow_id", workflows.ErasureWorkflowID(id), "err", err)
		writeError(w, errUnavailable)
	}
}

func stillOpen(s referral.Status) *apiError {
	return &apiError{Status: http.StatusConflict, Code: "invalid_state",
		Message: "the referral is still open: it must be withdrawn before it can be erased", Current: string(s)}
}
