package httpapi

import (
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"

	"github.com/wmtna/referrals/internal/postgres"
	"github.com/wmtna/referrals/internal/referral"
	"github.com/wmtna/referrals/workflows"
)

type offerView struct {
	ID          string               `json:"id"`
	ReferralID  string               `json:"referral_id"`
	State       string               `json:"state"`
	CreatedAt   time.Time            `json:"created_at"`
	ExpiresAt   time.Time            `json:"expires_at,omitzero"` // absent for the moment before the workflow starts the clock
	Programme   string               `json:"programme"`
	Preferences referral.Preferences `json:"preferences"`
}

// listOffers shows a therapist their open offers with what they need to
// decide (programme, preferences) and nothing personal; with
// ?state=accepted, the referrals they have accepted (their clients).
func (s *Server) listOffers(w http.ResponseWriter, r *http.Request) {
	p, _ := principal(r)
	ctx := r.Context()
	state := r.URL.Query().Get("state")
	switch state {
	case "":
		state = referral.OfferOpen
	case referral.OfferOpen, referral.OfferAccepted:
	default:
		writeError(w, &apiError{Status: http.StatusBadRequest, Code: "invalid_parameter", Field: "state", Message: `state must be "open" (the default) or "accepted"`})
		return
	}
	offers, err := s.DB.TherapistOffers(ctx, p.Subject, state)
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	out := make([]offerView, 0, len(offers))
	for _, o := range offers {
		ref, err := s.DB.Referral(ctx, o.ReferralID)
		if err != nil {
			s.storeError(w, r, err)
			return
		}
		out = append(out, offerView{
			ID: o.ID, ReferralID: o.ReferralID, State: o.State, CreatedAt: o.CreatedAt,
			ExpiresAt: o.ExpiresAt, Programme: ref.Programme, Preferences: ref.Preferences,
		})
	}
	writeJSON(w, http.StatusOK, map[string][]offerView{"offers": out})
}

// declineRequest is a therapist's decline: a coded reason (capacity, or a
// conflict of interest, which keeps them from this trainee for good) and
// optional free text for the committee.
type declineRequest struct {
	ReasonCode string `json:"reason_code"`
	Reason     string `json:"reason"`
}

// answerOffer accepts or declines an offer on behalf of the therapist it
// was made to; an offer made to someone else is 404 to them.
func (s *Server) answerOffer(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, _ := principal(r)
		id := chi.URLParam(r, "id")
		if !validID(id) {
			writeError(w, errNotFound)
			return
		}
		o, err := s.DB.Offer(r.Context(), id)
		if err != nil {
			s.storeError(w, r, err)
			return
		}
		concerns(r, o.ReferralID)
		if o.TherapistID != p.Subject {
			writeError(w, errNotFound)
			return
		}
		var q declineRequest
		if name == workflows.UpdateDeclineOffer {
			if e := decode(w, r, &q); e != nil {
				writeError(w, e)
				return
			}
			if !slices.Contains(referral.TherapistDeclineCodes, q.ReasonCode) {
				writeError(w, badField("reason_code", "reason_code must be one of %s", strings.Join(referral.TherapistDeclineCodes, ", ")))
				return
			}
			if utf8.RuneCountInString(q.Reason) > 2000 {
				writeError(w, badField("reason", "reason must be at most 2000 characters"))
				return
			}
		} else if e := noBody(w, r); e != nil {
			writeError(w, e)
			return
		}
		reason := strings.TrimSpace(q.Reason)
		actor := referral.Actor{Role: referral.RoleTherapist, ID: p.Subject}
		noteID, ok := s.note(w, r, o.ReferralID, actor, reason)
		if !ok {
			return
		}
		s.update(w, r, o.ReferralID, name, workflows.OfferAnswer{OfferID: o.ID, Actor: actor, NoteID: noteID, ReasonCode: q.ReasonCode})
	}
}

// waitlist shows the committee who is waiting for a place, longest first,
// with when each was approved: the order places are offered in. IDs and
// programme only; a referral's details are a click away for those entitled.
func (s *Server) waitlist(w http.ResponseWriter, r *http.Request) {
	list, err := s.DB.Waitlist(r.Context(), 500)
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	if list == nil {
		list = []postgres.WaitingReferral{}
	}
	writeJSON(w, http.StatusOK, map[string][]postgres.WaitingReferral{"waitlist": list})
}
