package httpapi

import (
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/wmtna/referrals/internal/pipeline"
	"github.com/wmtna/referrals/internal/referral"
)

type offerSummaryJSON struct {
	ID         string    `json:"id"`
	ReferralID string    `json:"referral_id"`
	State      string    `json:"state"`
	CreatedAt  time.Time `json:"created_at"`
	ExpiresAt  time.Time `json:"expires_at,omitzero"` // always set: an open offer is listed once its clock runs (referral.Offer.Made)
	Programme  string    `json:"programme"`
	// Preferences are left out of an ended offer: the therapy is over.
	Preferences *preferencesJSON `json:"preferences,omitempty"`
	StartedAt   time.Time        `json:"started_at,omitzero"`
	EndedAt     time.Time        `json:"ended_at,omitzero"`
}

// listOffers shows a therapist their open offers with what they need to
// decide (programme, preferences) and nothing personal; with
// ?state=accepted, the referrals they have accepted (their clients); with
// ?state=ended, their past clients: programme and dates only.
func (s *Server) listOffers(w http.ResponseWriter, r *http.Request) {
	state := r.URL.Query().Get("state")
	if state == "" {
		state = referral.OfferOpen
	}
	offers, err := s.App.Offers(r.Context(), principal(r), state)
	if err != nil {
		writeError(w, err)
		return
	}
	out := make([]offerSummaryJSON, 0, len(offers))
	for _, o := range offers {
		j := offerSummaryJSON{ID: o.ID, ReferralID: o.ReferralID, State: o.State, CreatedAt: o.CreatedAt,
			ExpiresAt: o.ExpiresAt, Programme: o.Programme, StartedAt: o.StartedAt, EndedAt: o.EndedAt}
		if o.State != referral.OfferEnded {
			prefs := prefsJSON(o.Preferences)
			j.Preferences = &prefs
		}
		out = append(out, j)
	}
	writeJSON(w, http.StatusOK, map[string][]offerSummaryJSON{"offers": out})
}

// declineRequest is a therapist's decline: a coded reason and optional
// free text for the committee.
type declineRequest struct {
	ReasonCode string `json:"reason_code"`
	Reason     string `json:"reason"`
}

func (s *Server) accept(w http.ResponseWriter, r *http.Request) {
	v, err := s.App.Accept(r.Context(), principal(r), chi.URLParam(r, "id"), noBody(w, r), idempotencyKey(r))
	decided(w, v, err)
}

func (s *Server) decline(w http.ResponseWriter, r *http.Request) {
	in := then(body[declineRequest](w, r), func(q declineRequest) pipeline.Decline {
		return pipeline.Decline{ReasonCode: q.ReasonCode, Reason: q.Reason}
	})
	v, err := s.App.Decline(r.Context(), principal(r), chi.URLParam(r, "id"), in, idempotencyKey(r))
	decided(w, v, err)
}

type waitingJSON struct {
	ReferralID string    `json:"referral_id"`
	Position   int       `json:"position"`
	Since      time.Time `json:"waiting_since"`
	Programme  string    `json:"programme"`
	Employer   string    `json:"employer"`
	Urgent     bool      `json:"urgent"`
	// Therapists is how many on the register could ever take it; 0 flags
	// a referral nobody can take until the register changes.
	Therapists int `json:"therapists"`
	// PausedUntil is set while the trainee has paused their place (they
	// keep their position and are offered nothing until that day);
	// PausedDays is how long their pauses already over lasted.
	PausedUntil string   `json:"paused_until,omitempty"`
	PausedDays  *float64 `json:"paused_days,omitempty"`
}

// waitlist shows the committee who is waiting for a place, in the order
// places are offered, a page at a time (limit, up to 500, the default; a
// full page has a next_cursor to ask for the next with).
func (s *Server) waitlist(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, bad := pageLimit(q, pipeline.MaxWaitlistPage, pipeline.MaxWaitlistPage)
	if bad != nil {
		writeError(w, bad)
		return
	}
	var after int64
	if c := q.Get("cursor"); c != "" {
		var ok bool
		if after, ok = parseWaitlistCursor(c); !ok {
			writeError(w, badParameter("cursor", "cursor is not one this API returned"))
			return
		}
	}
	list, err := s.App.Waitlist(r.Context(), principal(r), after, limit)
	if err != nil {
		writeError(w, err)
		return
	}
	out := make([]waitingJSON, 0, len(list))
	for _, q := range list {
		out = append(out, waitingJSON{ReferralID: q.ReferralID, Position: q.Position, Since: q.Since, Programme: q.Programme, Employer: q.Employer, Urgent: q.Urgent, Therapists: q.Therapists,
			PausedUntil: pauseDate(q.PausedUntil), PausedDays: days(q.PausedFor)})
	}
	resp := waitlistResponse{Waitlist: out}
	if len(list) == limit {
		resp.NextCursor = waitlistCursor(list[len(list)-1].QueuePosition)
	}
	writeJSON(w, http.StatusOK, resp)
}

type waitlistResponse struct {
	Waitlist   []waitingJSON `json:"waitlist"`
	NextCursor string        `json:"next_cursor,omitempty"`
}

// waitlistCursor continues a waiting list after a queue position, which
// stays put as people ahead leave.
func waitlistCursor(position int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte("queue|" + strconv.FormatInt(position, 10)))
}

func parseWaitlistCursor(c string) (int64, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return 0, false
	}
	pos, ok := strings.CutPrefix(string(raw), "queue|")
	after, err := strconv.ParseInt(pos, 10, 64)
	return after, ok && err == nil && after >= 1
}
