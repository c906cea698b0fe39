package httpapi

import (
	"errors"
	"net/http"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/wmtna/referrals/internal/referral"
	"github.com/wmtna/referrals/workflows"
)

func temporalStatus(s referral.Status) temporal.SearchAttributes {
	return temporal.NewSearchAttributes(workflows.StatusKey.ValueSet(string(s)))
}

// update sends a decision to a referral's workflow and reports what became
// of it: 200 with the new status, or 409 with the current status when the
// referral is not in a state that allows it. The workflow's validator
// refuses a wrong decision before it reaches the history. An Idempotency-Key
// header becomes the update ID, so a retried request is applied once.
func (s *Server) update(w http.ResponseWriter, r *http.Request, referralID, name string, arg any) {
	ctx := r.Context()
	opts := client.UpdateWorkflowOptions{
		WorkflowID:   workflows.WorkflowID(referralID),
		UpdateName:   name,
		Args:         []any{arg},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	}
	if key := r.Header.Get("Idempotency-Key"); key != "" {
		if len(key) > 200 {
			writeError(w, &apiError{Status: http.StatusBadRequest, Code: "invalid_header", Field: "Idempotency-Key", Message: "Idempotency-Key must be at most 200 characters"})
			return
		}
		opts.UpdateID = name + ":" + key
	}
	var v workflows.StatusView
	h, err := s.Temporal.UpdateWorkflow(ctx, opts)
	if err == nil {
		err = h.Get(ctx, &v)
	}
	if err == nil {
		s.Logger.InfoContext(ctx, "decision applied", "referral_id", referralID, "workflow_id", workflows.WorkflowID(referralID), "update", name, "status", v.Status)
		writeJSON(w, http.StatusOK, v)
		return
	}
	var appErr *temporal.ApplicationError
	var notFound *serviceerror.NotFound
	switch {
	case errors.As(err, &appErr) && (appErr.Type() == workflows.ErrTypeInvalidState || appErr.Type() == workflows.ErrTypeConflict):
		var current workflows.StatusView
		if appErr.HasDetails() {
			_ = appErr.Details(&current)
		}
		writeError(w, &apiError{Status: http.StatusConflict, Code: "invalid_state", Message: appErr.Message(), Current: string(current.Status)})
	case errors.As(err, &appErr) && appErr.Type() == workflows.ErrTypeInvalidRequest:
		writeError(w, &apiError{Status: http.StatusUnprocessableEntity, Code: "invalid_request", Message: appErr.Message()})
	case errors.As(err, &notFound):
		// The workflow has completed (or never started): the referral has
		// ended, and its status is in Postgres.
		ref, dbErr := s.DB.Referral(ctx, referralID)
		if dbErr != nil {
			s.storeError(w, r, dbErr)
			return
		}
		if !ref.Status.Terminal() {
			s.Logger.ErrorContext(ctx, "referral workflow missing", "referral_id", referralID, "workflow_id", workflows.WorkflowID(referralID), "status", ref.Status)
			writeError(w, errUnavailable)
			return
		}
		writeError(w, &apiError{Status: http.StatusConflict, Code: "invalid_state", Message: "the referral has ended", Current: string(ref.Status)})
	default:
		s.Logger.ErrorContext(ctx, "update referral workflow", "referral_id", referralID, "workflow_id", workflows.WorkflowID(referralID), "update", name, "err", err)
		writeError(w, errUnavailable)
	}
}
