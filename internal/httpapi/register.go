package httpapi

import (
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/wmtna/referrals/internal/pipeline"
	"github.com/wmtna/referrals/internal/referral"
)

type therapistRequest struct {
	Name       *string             `json:"name"`
	Email      *string             `json:"email"`
	HCPCNumber *string             `json:"hcpc_number"`
	Capacity   *int                `json:"capacity"`
	Active     *bool               `json:"active"`
	Remote     *bool               `json:"remote"`
	Locations  *[]string           `json:"locations"`
	Conflicts  *referral.Conflicts `json:"conflicts"`
}

func (q therapistRequest) change() pipeline.TherapistChange {
	return pipeline.TherapistChange{Name: q.Name, Email: q.Email, HCPCNumber: q.HCPCNumber, Capacity: q.Capacity,
		Active: q.Active, Remote: q.Remote, Locations: q.Locations, Conflicts: q.Conflicts}
}

type createdTherapist struct {
	referral.Therapist
	Token string `json:"token"`
}

func (s *Server) createTherapist(w http.ResponseWriter, r *http.Request) {
	q, err := body[therapistRequest](w, r)()
	if err != nil {
		writeError(w, err)
		return
	}
	t, token, err := s.App.AddTherapist(r.Context(), principal(r), q.change())
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, createdTherapist{Therapist: t, Token: token})
}

func (s *Server) updateTherapist(w http.ResponseWriter, r *http.Request) {
	q, err := body[therapistRequest](w, r)()
	if err != nil {
		writeError(w, err)
		return
	}
	t, err := s.App.ChangeTherapist(r.Context(), principal(r), chi.URLParam(r, "id"), q.change())
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, t)
}

func (s *Server) listTherapists(w http.ResponseWriter, r *http.Request) {
	ts, err := s.App.Therapists(r.Context(), principal(r))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string][]referral.Therapist{"therapists": ts})
}

type committeeRequest struct {
	Name  *string `json:"name"`
	Email *string `json:"email"`
	Role  *string `json:"role"`
}

type createdMember struct {
	referral.CommitteeMember
	Token string `json:"token"`
}

func (s *Server) createCommitteeMember(w http.ResponseWriter, r *http.Request) {
	q, err := body[committeeRequest](w, r)()
	if err != nil {
		writeError(w, err)
		return
	}
	m, token, err := s.App.AddCommitteeMember(r.Context(), principal(r), deref(q.Name), deref(q.Email), deref(q.Role))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, createdMember{CommitteeMember: m, Token: token})
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func (s *Server) listOrganisations(w http.ResponseWriter, r *http.Request) {
	orgs, err := s.App.Organisations(r.Context(), principal(r))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string][]referral.Organisation{"organisations": orgs})
}

type organisationRequest struct {
	Code   *string `json:"code"`
	Name   *string `json:"name"`
	Kind   *string `json:"kind"`
	Active *bool   `json:"active"`
}

func (s *Server) upsertOrganisation(w http.ResponseWriter, r *http.Request) {
	q, err := body[organisationRequest](w, r)()
	if err != nil {
		writeError(w, err)
		return
	}
	o := referral.Organisation{Code: deref(q.Code), Name: deref(q.Name), Kind: deref(q.Kind), Active: q.Active == nil || *q.Active}
	if o, err = s.App.SaveOrganisation(r.Context(), principal(r), o); err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, o)
}

type tokenRequest struct {
	Role    *string `json:"role"`
	Subject *string `json:"subject"`
}

// issueToken gives a therapist or committee member a new token, shown this
// once.
func (s *Server) issueToken(w http.ResponseWriter, r *http.Request) {
	q, err := body[tokenRequest](w, r)()
	if err != nil {
		writeError(w, err)
		return
	}
	role, subject := referral.Role(deref(q.Role)), deref(q.Subject)
	token, err := s.App.IssueToken(r.Context(), principal(r), role, subject)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]string{"role": string(role), "subject": subject, "token": token})
}

// revokeTokens revokes every token of a person (or, for role trainee, of a
// referral).
func (s *Server) revokeTokens(w http.ResponseWriter, r *http.Request) {
	role, subject := referral.Role(chi.URLParam(r, "role")), chi.URLParam(r, "subject")
	if err := s.App.RevokeTokens(r.Context(), principal(r), role, subject); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
