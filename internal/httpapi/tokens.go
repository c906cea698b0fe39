package httpapi

import (
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/wmtna/referrals/internal/referral"
)

type tokenRequest struct {
	Role    *string `json:"role"`
	Subject *string `json:"subject"`
}

// issueToken gives a therapist or committee member a new token (their old
// ones keep working until revoked), shown this once.
func (s *Server) issueToken(w http.ResponseWriter, r *http.Request) {
	var q tokenRequest
	if e := decode(w, r, &q); e != nil {
		writeError(w, e)
		return
	}
	if q.Role == nil || (*q.Role != string(referral.RoleTherapist) && *q.Role != string(referral.RoleCommittee)) {
		writeError(w, badField("role", `role must be "therapist" or "committee"`))
		return
	}
	if q.Subject == nil || !validID(*q.Subject) {
		writeError(w, badField("subject", "subject must be the id of a therapist or committee member"))
		return
	}
	ctx := r.Context()
	var err error
	if *q.Role == string(referral.RoleTherapist) {
		_, err = s.DB.Therapist(ctx, *q.Subject)
	} else {
		err = s.DB.CommitteeMemberExists(ctx, *q.Subject)
	}
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	token, err := s.DB.IssueToken(ctx, referral.Role(*q.Role), *q.Subject, nil)
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]string{"role": *q.Role, "subject": *q.Subject, "token": token})
}

// revokeTokens revokes every token of a person (or, for role trainee, of a
// referral). Revoking twice is harmless.
func (s *Server) revokeTokens(w http.ResponseWriter, r *http.Request) {
	role, subject := referral.Role(chi.URLParam(r, "role")), chi.URLParam(r, "subject")
	switch role {
	case referral.RoleTrainee, referral.RoleTherapist, referral.RoleCommittee:
	default:
		writeError(w, &apiError{Status: http.StatusBadRequest, Code: "invalid_parameter", Field: "role", Message: "role must be trainee, therapist or committee"})
		return
	}
	if !validID(subject) {
		writeError(w, errNotFound)
		return
	}
	if err := s.DB.RevokeTokens(r.Context(), role, subject); err != nil {
		s.storeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
