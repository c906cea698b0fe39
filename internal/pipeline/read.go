package pipeline

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/wmtna/referrals/internal/postgres"
	"github.com/wmtna/referrals/internal/referral"
)

var uuidPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// validID reports whether id has the shape of the IDs the pipeline hands
// out; anything else names nothing.
func validID(id string) bool { return uuidPattern.MatchString(id) }

// ValidID reports whether id could name a referral, offer or person.
func ValidID(id string) bool { return validID(id) }

// Case is a referral as the person asking may see it.
type Case struct {
	referral.Referral
	// Personal is set when the details (name, email, concerns, the at-risk
	// flag) are for this person; otherwise they are blank.
	Personal bool
	Offer    *referral.Offer
	// Events is the timeline, oldest first; a therapist sees none, a
	// trainee sees who acted only by role and only the committee's notes.
	Events []referral.Event
	// HowToMeet says in words how the trainee can meet a therapist, with
	// the areas by name.
	HowToMeet string
	// TherapistName names the therapist who accepted the referral, for its
	// trainee and the committee only (an operator sees IDs), and only once
	// the offer is accepted: a therapist still deciding is nobody's to name.
	TherapistName string
	// Standing is set while the referral waits, for its trainee and the
	// committee.
	Standing *Standing
	// Question is the committee's question while the referral awaits the
	// trainee's answer, for them and the committee; AnswerBy is when the
	// referral closes without one, by the service's timings (the workflow
	// started with those, unless they changed since).
	Question string
	AnswerBy time.Time
}

// Standing is an honest account of where a waiting referral stands. No
// date is promised: the network cannot know when a place will be free.
type Standing struct {
	// Ahead is how many wait ahead of it for a therapist it could also
	// take; Therapists how many on the register could take it at all.
	Ahead, Therapists int
	// MedianWait is how long the last people offered a place had waited,
	// shown only when it rests on at least MinPeople of them (ShowWait).
	MedianWait time.Duration
	ShowWait   bool
	// PausedUntil is set while the trainee has paused their place;
	// PausedFor is how long their pauses already over lasted.
	PausedUntil *time.Time
	PausedFor   time.Duration
}

// RecentOffers is how many of the latest first offers the median wait is
// taken over; MinPeople the fewest it is shown for, as for every figure
// about people the network publishes.
const (
	RecentOffers = 20
	MinPeople    = 5
)

// standing works out where a waiting referral stands; nil when it is not
// waiting.
func (s *Service) standing(ctx context.Context, id string) (*Standing, error) {
	st, ok, err := s.DB.Standing(ctx, id)
	if err != nil || !ok {
		return nil, err
	}
	median, of, err := s.DB.RecentWaits(ctx, RecentOffers)
	if err != nil {
		return nil, err
	}
	return &Standing{Ahead: st.Ahead, Therapists: st.Therapists, MedianWait: median, ShowWait: of >= MinPeople,
		PausedUntil: st.PausedUntil, PausedFor: st.PausedFor}, nil
}

// HowToMeet says in plain words how a trainee who asked for p can meet a
// therapist, naming the areas from the committee's list.
func HowToMeet(p referral.Preferences, areas []referral.Area) string {
	names := make([]string, 0, len(p.Areas))
	for _, code := range p.Areas {
		name := code
		if i := slices.IndexFunc(areas, func(a referral.Area) bool { return a.Code == code }); i >= 0 {
			name = areas[i].Name
		}
		names = append(names, name)
	}
	in := ""
	switch len(names) {
	case 0:
	case 1:
		in = " in " + names[0]
	default:
		in = " in " + strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
	}
	switch p.Meeting {
	case referral.MeetOnline:
		return "Online only"
	case referral.MeetInPerson:
		return "In person only" + in
	}
	if in == "" {
		return "Online or in person, anywhere in the region"
	}
	return "Online, or in person" + in
}

// Referral shows a referral to those entitled to it. A trainee sees only
// their own; a therapist only one offered to or matched with them, and its
// personal details only once they have accepted. Anyone else gets
// NotFound, so a token cannot be used to learn which referrals exist.
func (s *Service) Referral(ctx context.Context, p referral.Principal, id string) (c Case, err error) {
	defer s.audited(ctx, p, ActRead, id, &err)
	if err := allowed(p, ActRead); err != nil {
		return c, err
	}
	if !validID(id) {
		return c, ErrNotFound
	}
	c.Personal = true
	var live *referral.Offer // the offer whose therapist may be named
	switch p.Role {
	case referral.RoleTrainee:
		if p.Subject != id {
			return c, ErrNotFound
		}
		// The trainee is told who their therapist is, but not shown the
		// offer itself (its therapist's ID, its clock).
		if live, err = s.DB.LiveOffer(ctx, id); err != nil {
			return c, s.failed(ctx, "load offer", id, err)
		}
	case referral.RoleTherapist:
		o, err := s.DB.LiveOffer(ctx, id)
		if err != nil {
			return c, s.failed(ctx, "load offer", id, err)
		}
		if o == nil || !theirs(*o, p.Subject) {
			return c, ErrNotFound
		}
		c.Personal, c.Offer = o.State == referral.OfferAccepted, o
	case referral.RoleCommittee, referral.RoleOperator:
		if c.Offer, err = s.DB.LiveOffer(ctx, id); err != nil {
			return c, s.failed(ctx, "load offer", id, err)
		}
		if p.Role == referral.RoleCommittee {
			live = c.Offer
		}
	}
	// The trainee learns their therapist's name once matched; the
	// committee sees to whom a referral is offered as well.
	if live != nil && (live.State == referral.OfferAccepted || p.Role == referral.RoleCommittee) {
		t, err := s.DB.Therapist(ctx, live.TherapistID)
		if err != nil {
			return c, s.failed(ctx, "load therapist", id, err)
		}
		c.TherapistName = t.Name
	}
	if c.Referral, err = s.DB.Referral(ctx, id); err != nil {
		return c, s.failed(ctx, "load referral", id, err)
	}
	if !c.Personal {
		c.Name, c.Email, c.Concerns, c.AtRisk, c.Preferences.Note = "", "", "", false, ""
		c.EmployerName = "" // typed words, like the note
	}
	areas, err := s.DB.Areas(ctx)
	if err != nil {
		return c, s.failed(ctx, "load areas", id, err)
	}
	c.HowToMeet = HowToMeet(c.Preferences, areas)
	if p.Role != referral.RoleTherapist && c.Status == referral.StatusWaitlisted {
		if c.Standing, err = s.standing(ctx, id); err != nil {
			return c, s.failed(ctx, "load standing", id, err)
		}
	}
	if p.Role != referral.RoleTherapist {
		if c.Events, err = s.DB.Events(ctx, id); err != nil {
			return c, s.failed(ctx, "load events", id, err)
		}
	}
	if c.Status == referral.StatusAwaitingInformation {
		for _, e := range c.Events {
			if e.To == referral.StatusAwaitingInformation && e.Reason == referral.CodeInformationRequested {
				within, _ := s.Timings.AnswerTime()
				c.Question, c.AnswerBy = e.Note, e.At.Add(within) // the last asked is the open one
			}
		}
	}
	if p.Role == referral.RoleTrainee {
		c.Events = forTrainee(c.Events)
	}
	return c, nil
}

// forTrainee shows a trainee their timeline without naming who in the
// committee or which therapist acted, and with only the committee's notes:
// a therapist's reason for declining (a conflict of interest, say) is for
// the committee.
func forTrainee(events []referral.Event) []referral.Event {
	out := make([]referral.Event, len(events))
	for i, e := range events {
		role, _, _ := strings.Cut(e.Actor, ":")
		if role != string(referral.RoleCommittee) {
			e.Note = ""
		}
		if role == string(referral.RoleTherapist) {
			e.Reason = "" // why a therapist declined is for the committee
		}
		e.Actor = role
		out[i] = e
	}
	return out
}

// Query asks for a page of referrals, newest first: of one status (all
// when empty), only finished ones when Closed is set, at most Limit, and
// when After is set only those submitted before it (the last of the
// previous page).
type Query struct {
	Status referral.Status
	Closed bool
	Limit  int
	After  *Cursor
}

// Cursor is where a page of referrals ended.
type Cursor struct {
	SubmittedAt time.Time
	ID          string
}

// Referrals lists a page of referrals, newest first, for the committee and
// operators.
func (s *Service) Referrals(ctx context.Context, p referral.Principal, q Query) (refs []referral.Referral, err error) {
	defer s.audited(ctx, p, ActList, "", &err)
	if err := allowed(p, ActList); err != nil {
		return nil, err
	}
	f := postgres.ListFilter{Status: q.Status, Closed: q.Closed, Limit: q.Limit}
	if q.After != nil {
		f.BeforeTime, f.BeforeID, f.HasCursor = q.After.SubmittedAt, q.After.ID, true
	}
	if refs, err = s.DB.ListReferrals(ctx, f); err != nil {
		return nil, s.failed(ctx, "list referrals", "", err)
	}
	return refs, nil
}

// OfferSummary is an offer with what a therapist needs to decide on it,
// and nothing personal.
type OfferSummary struct {
	referral.Offer
	Programme string
	// Preferences are how the trainee can meet, without their note,
	// which is as personal as their concerns; HowToMeet says it in words.
	// Both are blank for an ended offer: the therapy is over.
	Preferences referral.Preferences
	HowToMeet   string
	// StartedAt (the offer accepted) and EndedAt (the therapy ended) are
	// set for an ended offer only.
	StartedAt, EndedAt time.Time
}

// Offers lists a therapist's offers in a state: referral.OfferOpen (to
// answer), referral.OfferAccepted (their clients), or referral.OfferEnded
// (their past clients, the most recently ended first, with the programme
// and dates only).
func (s *Service) Offers(ctx context.Context, p referral.Principal, state string) (out []OfferSummary, err error) {
	defer s.audited(ctx, p, ActListOffers, "", &err)
	if err := allowed(p, ActListOffers); err != nil {
		return nil, err
	}
	var offers []postgres.PastOffer
	switch state {
	case referral.OfferOpen, referral.OfferAccepted:
		live, err := s.DB.TherapistOffers(ctx, p.Subject, state)
		if err != nil {
			return nil, s.failed(ctx, "list offers", "", err)
		}
		for _, o := range live {
			offers = append(offers, postgres.PastOffer{Offer: o})
		}
	case referral.OfferEnded:
		if offers, err = s.DB.PastOffers(ctx, p.Subject); err != nil {
			return nil, s.failed(ctx, "list ended offers", "", err)
		}
	default:
		return nil, &Error{Outcome: Malformed, Code: "invalid_parameter", Field: "state", Message: `state must be "open" (the default), "accepted" or "ended"`}
	}
	out = make([]OfferSummary, 0, len(offers))
	areas, err := s.DB.Areas(ctx)
	if err != nil {
		return nil, s.failed(ctx, "load areas", "", err)
	}
	for _, o := range offers {
		ref, err := s.DB.Referral(ctx, o.ReferralID)
		if err != nil {
			return nil, s.failed(ctx, "load referral", o.ReferralID, err)
		}
		sum := OfferSummary{Offer: o.Offer, Programme: ref.Programme, StartedAt: o.StartedAt, EndedAt: o.EndedAt}
		if state != referral.OfferEnded {
			sum.Preferences = ref.Preferences
			sum.Preferences.Note = ""
			sum.HowToMeet = HowToMeet(sum.Preferences, areas)
		}
		out = append(out, sum)
	}
	return out, nil
}

// MaxWaitlistPage is the most of the waiting list one page holds.
const MaxWaitlistPage = 500

// Waitlist is a page of who is waiting for a place, longest first, with
// when each was approved: the order places are offered in. IDs and
// programme only; a referral's details are a click away for those
// entitled. A page holds up to limit (at most MaxWaitlistPage) after the
// queue position after, 0 for the first; a full page may have a next,
// after its last entry's QueuePosition.
func (s *Service) Waitlist(ctx context.Context, p referral.Principal, after int64, limit int) ([]referral.Waiting, error) {
	if err := allowed(p, ActWaitlist); err != nil {
		return nil, err
	}
	if limit < 1 || limit > MaxWaitlistPage {
		limit = MaxWaitlistPage
	}
	list, err := s.DB.Waitlist(ctx, max(after, 0), limit)
	if err != nil {
		return nil, s.failed(ctx, "load waitlist", "", err)
	}
	return list, nil
}

// Therapists is the register of therapists.
func (s *Service) Therapists(ctx context.Context, p referral.Principal) ([]referral.Therapist, error) {
	if err := allowed(p, ActListTherapists); err != nil {
		return nil, err
	}
	ts, err := s.DB.Therapists(ctx)
	if err != nil {
		return nil, s.failed(ctx, "load therapists", "", err)
	}
	return ts, nil
}

// Eligibility is the outcome of the eligibility check, in words.
type Eligibility struct {
	Eligible   bool
	Reason     string // a coded reason
	ReasonText string // for an ineligible referral, why, in plain English
}

// Eligibility is nil until the check has run.
func (c Case) Eligibility() *Eligibility {
	if c.Eligible == nil {
		return nil
	}
	e := &Eligibility{Eligible: *c.Eligible, Reason: c.EligibilityReason}
	if !e.Eligible {
		e.ReasonText = referral.ReasonText(c.EligibilityReason)
	}
	return e
}

// Urgent marks a referral flagged for same-day attention, for those who may
// see it.
func (c Case) Urgent() bool { return c.AtRisk }
