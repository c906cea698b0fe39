package httpapi

import (
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/wmtna/referrals/internal/pipeline"
	"github.com/wmtna/referrals/internal/referral"
)

type therapistRequest struct {
	Name       *string        `json:"name"`
	Email      *string        `json:"email"`
	HCPCNumber *string        `json:"hcpc_number"`
	Capacity   *int           `json:"capacity"`
	Active     *bool          `json:"active"`
	Remote     *bool          `json:"remote"`
	Locations  *[]string      `json:"locations"`
	Conflicts  *conflictsJSON `json:"conflicts"`
}

type conflictsJSON struct {
	Programmes []string `json:"programmes"`
	Employers  []string `json:"employers"`
}

// therapistJSON is a therapist as the API shows them.
type therapistJSON struct {
	ID         string        `json:"id"`
	Name       string        `json:"name"`
	Email      string        `json:"email"`
	HCPCNumber string        `json:"hcpc_number"`
	Capacity   int           `json:"capacity"`
	PlacesUsed int           `json:"places_used"`
	Active     bool          `json:"active"`
	Remote     bool          `json:"remote"`
	Locations  []string      `json:"locations"`
	Conflicts  conflictsJSON `json:"conflicts"`
	CreatedAt  time.Time     `json:"created_at"`
}

func therapistView(t referral.Therapist) therapistJSON {
	return therapistJSON{ID: t.ID, Name: t.Name, Email: t.Email, HCPCNumber: t.HCPCNumber, Capacity: t.Capacity, PlacesUsed: t.PlacesUsed,
		Active: t.Active, Remote: t.Remote, Locations: t.Locations,
		Conflicts: conflictsJSON{Programmes: t.Conflicts.Programmes, Employers: t.Conflicts.Employers}, CreatedAt: t.CreatedAt}
}

type memberJSON struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Email     string    `json:"email"`
	Role      string    `json:"role"`
	CreatedAt time.Time `json:"created_at"`
}

type organisationJSON struct {
	Code      string    `json:"code"`
	Name      string    `json:"name"`
	Kind      string    `json:"kind"`
	Active    bool      `json:"active"`
	CreatedAt time.Time `json:"created_at"`
}

func organisationView(o referral.Organisation) organisationJSON {
	return organisationJSON{Code: o.Code, Name: o.Name, Kind: o.Kind, Active: o.Active, CreatedAt: o.CreatedAt}
}

func (q therapistRequest) change() pipeline.TherapistChange {
	c := pipeline.TherapistChange{Name: q.Name, Email: q.Email, HCPCNumber: q.HCPCNumber, Capacity: q.Capacity,
		Active: q.Active, Remote: q.Remote, Locations: q.Locations}
	if q.Conflicts != nil {
		c.Conflicts = &referral.Conflicts{Programmes: q.Conflicts.Programmes, Employers: q.Conflicts.Employers}
	}
	return c
}

type createdTherapist struct {
	therapistJSON
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
	writeJSON(w, http.StatusCreated, createdTherapist{therapistJSON: therapistView(t), Token: token})
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
	writeJSON(w, http.StatusOK, therapistView(t))
}

func (s *Server) listTherapists(w http.ResponseWriter, r *http.Request) {
	ts, err := s.App.Therapists(r.Context(), principal(r))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string][]therapistJSON{"therapists": each(ts, therapistView)})
}

type committeeRequest struct {
	Name  *string `json:"name"`
	Email *string `json:"email"`
	Role  *string `json:"role"`
}

type createdMember struct {
	memberJSON
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
	writeJSON(w, http.StatusCreated, createdMember{memberJSON: memberJSON{ID: m.ID, Name: m.Name, Email: m.Email, Role: m.Role, CreatedAt: m.CreatedAt}, Token: token})
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
	writeJSON(w, http.StatusOK, map[string][]organisationJSON{"organisations": each(orgs, organisationView)})
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
	writeJSON(w, http.StatusCreated, organisationView(o))
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
