package httpapi

import (
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/wmtna/referrals/internal/referral"
)

// memberJSON is a committee member as the API shows them; removed_at is
// set once they have been removed.
type memberJSON struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	Email     string     `json:"email"`
	Role      string     `json:"role"`
	CreatedAt time.Time  `json:"created_at"`
	RemovedAt *time.Time `json:"removed_at,omitempty"`
}

func memberView(m referral.CommitteeMember) memberJSON {
	return memberJSON{ID: m.ID, Name: m.Name, Email: m.Email, Role: m.Role, CreatedAt: m.CreatedAt, RemovedAt: m.RemovedAt}
}

type committeeRequest struct {
	Name  *string `json:"name"`
	Email *string `json:"email"`
	Role  *string `json:"role"`
}

// createdMember is a new member, with their first token when an operator
// added them.
type createdMember struct {
	memberJSON
	Token string `json:"token,omitempty"`
}

func (s *Server) listCommitteeMembers(w http.ResponseWriter, r *http.Request) {
	ms, err := s.App.CommitteeMembers(r.Context(), principal(r))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string][]memberJSON{"committee_members": each(ms, memberView)})
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
	writeJSON(w, http.StatusCreated, createdMember{memberJSON: memberView(m), Token: token})
}

type memberRoleRequest struct {
	Role *string `json:"role"`
}

func (s *Server) changeCommitteeMember(w http.ResponseWriter, r *http.Request) {
	q, err := body[memberRoleRequest](w, r)()
	if err != nil {
		writeError(w, err)
		return
	}
	m, err := s.App.ChangeCommitteeRole(r.Context(), principal(r), chi.URLParam(r, "id"), deref(q.Role))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, memberView(m))
}

func (s *Server) removeCommitteeMember(w http.ResponseWriter, r *http.Request) {
	m, err := s.App.RemoveCommitteeMember(r.Context(), principal(r), chi.URLParam(r, "id"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, memberView(m))
}
