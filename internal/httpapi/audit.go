package httpapi

import (
	"context"
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/wmtna/referrals/internal/postgres"
	"github.com/wmtna/referrals/internal/referral"
	"github.com/wmtna/referrals/workflows"
)

type auditKey struct{}

// auditNote is where a handler says which referral a call concerned, when
// the URL does not (an offer's referral, a new submission).
type auditNote struct{ referralID string }

// concerns records that the request concerned a referral, for the audit log.
func concerns(r *http.Request, referralID string) {
	if n, ok := r.Context().Value(auditKey{}).(*auditNote); ok {
		n.referralID = referralID
	}
}

// audited writes an audit entry for every call of a route that has an audit
// action, once the handler has answered: who, what, which referral, and the
// status, so refused attempts are on record too.
func (s *Server) audited(rt route) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		if rt.Audit == "" {
			return next
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			note := &auditNote{}
			if strings.HasPrefix(rt.Pattern, "/v1/referrals/{id}") {
				if id := chi.URLParam(r, "id"); validID(id) {
					note.referralID = id
				}
			}
			ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
			next.ServeHTTP(ww, r.WithContext(context.WithValue(r.Context(), auditKey{}, note)))
			actor := "anonymous"
			if p, ok := principal(r); ok {
				actor = referral.Actor{Role: p.Role, ID: p.Subject}.String()
				if p.Role == referral.RoleTrainee {
					actor = string(referral.RoleTrainee)
				}
			}
			status := ww.Status()
			if status == 0 {
				status = http.StatusOK
			}
			// The call has happened; a failure to record it must not be
			// silent, but the caller's answer is already on its way.
			entry := postgres.AuditEntry{Actor: actor, Action: rt.Audit, ReferralID: note.referralID, Status: status}
			if err := s.DB.Audit(context.WithoutCancel(r.Context()), entry); err != nil {
				s.Logger.ErrorContext(r.Context(), "audit log write failed", "action", rt.Audit, "referral_id", note.referralID, "workflow_id", referralWorkflowID(note.referralID), "err", err)
			}
		})
	}
}

// referralWorkflowID is the workflow ID of the referral a log line is about,
// or "" when the call named none.
func referralWorkflowID(referralID string) string {
	if referralID == "" {
		return ""
	}
	return workflows.WorkflowID(referralID)
}
