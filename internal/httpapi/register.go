package httpapi

import (
	"errors"
	"net/http"
	"net/mail"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"

	"github.com/wmtna/referrals/internal/referral"
)

var hcpcPattern = regexp.MustCompile(`^PYL[0-9]{1,8}$`)

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

// check validates the fields present; create additionally needs the
// identifying ones.
func (q therapistRequest) check(create bool) *apiError {
	if create {
		for _, f := range []struct {
			name string
			ok   bool
		}{{"name", q.Name != nil}, {"email", q.Email != nil}, {"hcpc_number", q.HCPCNumber != nil}, {"capacity", q.Capacity != nil}} {
			if !f.ok {
				return badField(f.name, "%s is required", f.name)
			}
		}
	} else if q.HCPCNumber != nil {
		return badField("hcpc_number", "hcpc_number cannot be changed")
	}
	if q.Name != nil && (strings.TrimSpace(*q.Name) == "" || utf8.RuneCountInString(*q.Name) > 200) {
		return badField("name", "name must be 1 to 200 characters")
	}
	if q.Email != nil {
		if a, err := mail.ParseAddress(*q.Email); err != nil || a.Address != *q.Email {
			return badField("email", "email must be a plain email address")
		}
	}
	if q.HCPCNumber != nil && !hcpcPattern.MatchString(*q.HCPCNumber) {
		return badField("hcpc_number", "hcpc_number must be an HCPC practitioner psychologist number: PYL followed by digits")
	}
	if q.Capacity != nil && (*q.Capacity < 0 || *q.Capacity > 50) {
		return badField("capacity", "capacity must be from 0 to 50")
	}
	if q.Locations != nil {
		if len(*q.Locations) > 20 {
			return badField("locations", "at most 20 locations")
		}
		for _, l := range *q.Locations {
			if strings.TrimSpace(l) == "" || utf8.RuneCountInString(l) > 100 {
				return badField("locations", "each location must be 1 to 100 characters")
			}
		}
	}
	if q.Conflicts != nil {
		for _, p := range q.Conflicts.Programmes {
			if !referral.KnownProgramme(p) {
				return badField("conflicts.programmes", "%q is not a programme; use one of %s", p, strings.Join(referral.Programmes, ", "))
			}
		}
		for _, e := range q.Conflicts.Employers {
			if !orgCodePattern.MatchString(e) {
				return badField("conflicts.employers", "%q is not an organisation code", e)
			}
		}
	}
	return nil
}

type createdTherapist struct {
	referral.Therapist
	Token string `json:"token"`
}

func (s *Server) createTherapist(w http.ResponseWriter, r *http.Request) {
	var q therapistRequest
	if e := decode(w, r, &q); e != nil {
		writeError(w, e)
		return
	}
	if e := q.check(true); e != nil {
		writeError(w, e)
		return
	}
	t := referral.Therapist{Name: strings.TrimSpace(*q.Name), Email: *q.Email, HCPCNumber: *q.HCPCNumber, Capacity: *q.Capacity, Active: true}
	if q.Active != nil {
		t.Active = *q.Active
	}
	if q.Remote != nil {
		t.Remote = *q.Remote
	}
	if q.Locations != nil {
		t.Locations = *q.Locations
	}
	if q.Conflicts != nil {
		t.Conflicts = *q.Conflicts
	}
	ctx := r.Context()
	t, err := s.DB.CreateTherapist(ctx, t)
	if errors.Is(err, referral.ErrDuplicate) {
		writeError(w, &apiError{Status: http.StatusConflict, Code: "duplicate", Field: "hcpc_number", Message: "a therapist with this HCPC number is already registered"})
		return
	}
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	token, err := s.DB.IssueToken(ctx, referral.RoleTherapist, t.ID, nil)
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	s.placesChanged(r, t.ID)
	writeJSON(w, http.StatusCreated, createdTherapist{Therapist: t, Token: token})
}

func (s *Server) updateTherapist(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	var q therapistRequest
	if e := decode(w, r, &q); e != nil {
		writeError(w, e)
		return
	}
	if e := q.check(false); e != nil {
		writeError(w, e)
		return
	}
	if !validID(id) {
		writeError(w, errNotFound)
		return
	}
	t, err := s.DB.UpdateTherapist(r.Context(), id, referral.TherapistPatch{
		Name: q.Name, Email: q.Email, Capacity: q.Capacity, Active: q.Active, Remote: q.Remote, Locations: q.Locations, Conflicts: q.Conflicts,
	})
	if errors.Is(err, referral.ErrConflict) {
		writeError(w, &apiError{Status: http.StatusConflict, Code: "capacity_in_use", Field: "capacity", Message: "capacity cannot go below the places already offered or taken"})
		return
	}
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	s.placesChanged(r, id)
	writeJSON(w, http.StatusOK, t)
}

// placesChanged tells waiting referrals about places the store has just
// offered them (creating or updating a therapist fills their free places in
// the same transition). A failure is only logged: the offers are committed,
// and each waiting referral's periodic recheck finds its own.
func (s *Server) placesChanged(r *http.Request, therapistID string) {
	ctx := r.Context()
	if err := s.Announcer.Announce(ctx); err != nil {
		s.Logger.ErrorContext(ctx, "announce offers", "therapist_id", therapistID, "err", err)
	}
}

func (s *Server) listTherapists(w http.ResponseWriter, r *http.Request) {
	ts, err := s.DB.Therapists(r.Context())
	if err != nil {
		s.storeError(w, r, err)
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
	var q committeeRequest
	if e := decode(w, r, &q); e != nil {
		writeError(w, e)
		return
	}
	switch {
	case q.Name == nil || strings.TrimSpace(*q.Name) == "" || utf8.RuneCountInString(*q.Name) > 200:
		writeError(w, badField("name", "name must be 1 to 200 characters"))
		return
	case q.Email == nil:
		writeError(w, badField("email", "email is required"))
		return
	case q.Role == nil || !slices.Contains(referral.CommitteeRoles, *q.Role):
		writeError(w, badField("role", "role must be one of %s", strings.Join(referral.CommitteeRoles, ", ")))
		return
	}
	if a, err := mail.ParseAddress(*q.Email); err != nil || a.Address != *q.Email {
		writeError(w, badField("email", "email must be a plain email address"))
		return
	}
	ctx := r.Context()
	m, err := s.DB.CreateCommitteeMember(ctx, referral.CommitteeMember{Name: strings.TrimSpace(*q.Name), Email: *q.Email, Role: *q.Role})
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	token, err := s.DB.IssueToken(ctx, referral.RoleCommittee, m.ID, nil)
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, createdMember{CommitteeMember: m, Token: token})
}

func (s *Server) listOrganisations(w http.ResponseWriter, r *http.Request) {
	orgs, err := s.DB.Organisations(r.Context())
	if err != nil {
		s.storeError(w, r, err)
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
	var q organisationRequest
	if e := decode(w, r, &q); e != nil {
		writeError(w, e)
		return
	}
	switch {
	case q.Code == nil || !orgCodePattern.MatchString(*q.Code):
		writeError(w, badField("code", "code must be an NHS ODS organisation code: 3 to 6 upper-case letters and digits"))
		return
	case q.Name == nil || strings.TrimSpace(*q.Name) == "" || utf8.RuneCountInString(*q.Name) > 200:
		writeError(w, badField("name", "name must be 1 to 200 characters"))
		return
	case q.Kind == nil || (*q.Kind != "nhs_trust" && *q.Kind != "nhs_contracted"):
		writeError(w, badField("kind", `kind must be "nhs_trust" or "nhs_contracted"`))
		return
	}
	o := referral.Organisation{Code: *q.Code, Name: strings.TrimSpace(*q.Name), Kind: *q.Kind, Active: q.Active == nil || *q.Active}
	o, err := s.DB.UpsertOrganisation(r.Context(), o)
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, o)
}
