package httpapi

import (
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/wmtna/referrals/internal/pipeline"
	"github.com/wmtna/referrals/internal/referral"
)

type therapistRequest struct {
	Name        *string        `json:"name"`
	Email       *string        `json:"email"`
	HCPCNumber  *string        `json:"hcpc_number"`
	Disciplines *[]string      `json:"disciplines"`
	Capacity    *int           `json:"capacity"`
	Online      *bool          `json:"online"`
	InPerson    *bool          `json:"in_person"`
	Areas       *[]string      `json:"areas"`
	Conflicts   *conflictsJSON `json:"conflicts"`
}

type conflictsJSON struct {
	Programmes []string `json:"programmes"`
	Employers  []string `json:"employers"`
}

// therapistJSON is a therapist as the API shows them.
type therapistJSON struct {
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	Email       string   `json:"email"`
	HCPCNumber  string   `json:"hcpc_number"`
	Disciplines []string `json:"disciplines"`
	Capacity    int      `json:"capacity"`
	PlacesUsed  int      `json:"places_used"`
	// FreePlaces is how many new clients they can be offered now: none
	// while away or retired, and none while a lowered capacity waits for
	// clients to finish.
	FreePlaces int `json:"free_places"`
	// Status is active, away or retired.
	Status    string        `json:"status"`
	AwayUntil string        `json:"away_until,omitempty"`
	Online    bool          `json:"online"`
	InPerson  bool          `json:"in_person"`
	Areas     []string      `json:"areas"`
	Conflicts conflictsJSON `json:"conflicts"`
	RetiredAt *time.Time    `json:"retired_at,omitempty"`
	CreatedAt time.Time     `json:"created_at"`
}

// TherapistStatus is how the API and the pages name where a therapist
// stands: active, away or retired.
func TherapistStatus(t referral.Therapist) string {
	switch {
	case t.RetiredAt != nil:
		return "retired"
	case !t.Active:
		return "away"
	}
	return "active"
}

func therapistView(t referral.Therapist) therapistJSON {
	v := therapistJSON{ID: t.ID, Name: t.Name, Email: t.Email, HCPCNumber: t.HCPCNumber, Disciplines: orEmpty(t.Disciplines),
		Capacity: t.Capacity, PlacesUsed: t.PlacesUsed, FreePlaces: t.FreePlaces(), Status: TherapistStatus(t),
		Online: t.Online, InPerson: t.InPerson, Areas: orEmpty(t.Areas),
		Conflicts: conflictsJSON{Programmes: orEmpty(t.Conflicts.Programmes), Employers: orEmpty(t.Conflicts.Employers)},
		RetiredAt: t.RetiredAt, CreatedAt: t.CreatedAt}
	if t.AwayUntil != nil {
		v.AwayUntil = t.AwayUntil.String()
	}
	return v
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
	c := pipeline.TherapistChange{Name: q.Name, Email: q.Email, HCPCNumber: q.HCPCNumber, Disciplines: q.Disciplines,
		Capacity: q.Capacity, Online: q.Online, InPerson: q.InPerson, Areas: q.Areas}
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

func (s *Server) getTherapist(w http.ResponseWriter, r *http.Request) {
	t, err := s.App.Therapist(r.Context(), principal(r), chi.URLParam(r, "id"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, therapistView(t))
}

// availabilityRequest is what a therapist keeps of their own entry. away
// pauses (true) or resumes (false) them; away_until (YYYY-MM-DD) is the day
// they come back by themselves, and implies away.
type availabilityRequest struct {
	Capacity  *int      `json:"capacity"`
	Online    *bool     `json:"online"`
	InPerson  *bool     `json:"in_person"`
	Areas     *[]string `json:"areas"`
	Away      *bool     `json:"away"`
	AwayUntil *string   `json:"away_until"`
}

func (s *Server) setAvailability(w http.ResponseWriter, r *http.Request) {
	in := func() (pipeline.Availability, error) {
		q, err := body[availabilityRequest](w, r)()
		if err != nil {
			return pipeline.Availability{}, err
		}
		a := pipeline.Availability{Capacity: q.Capacity, Online: q.Online, InPerson: q.InPerson, Areas: q.Areas, Away: q.Away}
		if q.AwayUntil != nil {
			d, err := referral.ParseDate(*q.AwayUntil)
			if err != nil {
				return a, pipeline.FieldError("away_until", "away_until must be a real date of the form YYYY-MM-DD")
			}
			a.AwayUntil = &d
		}
		return a, nil
	}
	t, err := s.App.SetAvailability(r.Context(), principal(r), chi.URLParam(r, "id"), in)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, therapistView(t))
}

// retireTherapist takes a therapist off the register. Its body is an empty
// JSON object: a POST that changes this much is sent deliberately.
func (s *Server) retireTherapist(w http.ResponseWriter, r *http.Request) {
	if _, err := body[struct{}](w, r)(); err != nil {
		writeError(w, err)
		return
	}
	t, err := s.App.RetireTherapist(r.Context(), principal(r), chi.URLParam(r, "id"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, therapistView(t))
}

// registerChangeJSON is one entry of the register's history.
type registerChangeJSON struct {
	ID       int64                           `json:"id"`
	At       time.Time                       `json:"at"`
	Actor    string                          `json:"actor"` // role:id
	Entity   string                          `json:"entity"`
	EntityID string                          `json:"entity_id"`
	Action   string                          `json:"action"`
	Changes  map[string]referral.FieldChange `json:"changes"`
}

// registerHistory pages back through the register's history, newest
// first: ?before=<id of the last change seen>, optionally ?entity=&id=
// for one entry's.
func (s *Server) registerHistory(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var before int64
	if b := q.Get("before"); b != "" {
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n <= 0 {
			writeError(w, requestError(http.StatusBadRequest, "invalid_parameter", "before", "before must be the id of a change, a positive whole number"))
			return
		}
		before = n
	}
	entity, id := q.Get("entity"), q.Get("id")
	if (entity == "") != (id == "") {
		writeError(w, requestError(http.StatusBadRequest, "invalid_parameter", "entity", "entity and id go together: give both or neither"))
		return
	}
	const page = 50
	h, err := s.App.RegisterHistory(r.Context(), principal(r), entity, id, before, page)
	if err != nil {
		writeError(w, err)
		return
	}
	out := struct {
		Changes []registerChangeJSON `json:"changes"`
		Next    string               `json:"next,omitempty"`
	}{Changes: each(h, func(c referral.RegisterChange) registerChangeJSON {
		return registerChangeJSON{ID: c.ID, At: c.At, Actor: string(c.Actor.Role) + ":" + c.Actor.Subject, Entity: c.Entity,
			EntityID: c.EntityID, Action: c.Action, Changes: c.Changes}
	})}
	if len(h) == page {
		next := url.Values{"before": {strconv.FormatInt(h[len(h)-1].ID, 10)}}
		if entity != "" {
			next.Set("entity", entity)
			next.Set("id", id)
		}
		out.Next = "/v1/register/history?" + next.Encode()
	}
	writeJSON(w, http.StatusOK, out)
}

type areaJSON struct {
	Code      string    `json:"code"`
	Name      string    `json:"name"`
	Active    bool      `json:"active"`
	CreatedAt time.Time `json:"created_at"`
}

func (s *Server) listAreas(w http.ResponseWriter, r *http.Request) {
	areas, err := s.App.Areas(r.Context(), principal(r))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string][]areaJSON{"areas": each(areas, func(a referral.Area) areaJSON {
		return areaJSON{Code: a.Code, Name: a.Name, Active: a.Active, CreatedAt: a.CreatedAt}
	})})
}

type areaRequest struct {
	Name   *string `json:"name"`
	Active *bool   `json:"active"`
}

func (s *Server) saveArea(w http.ResponseWriter, r *http.Request) {
	q, err := body[areaRequest](w, r)()
	if err != nil {
		writeError(w, err)
		return
	}
	a := referral.Area{Code: chi.URLParam(r, "code"), Name: deref(q.Name), Active: q.Active == nil || *q.Active}
	if a, err = s.App.SaveArea(r.Context(), principal(r), a); err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, areaJSON{Code: a.Code, Name: a.Name, Active: a.Active, CreatedAt: a.CreatedAt})
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
