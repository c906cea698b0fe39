package referral

import (
	"errors"
	"slices"
	"time"
)

// Errors the store reports in the domain's terms, so callers can map them to
// HTTP statuses or workflow outcomes without knowing about Postgres.
var (
	ErrNotFound  = errors.New("not found")
	ErrDuplicate = errors.New("duplicate")
	ErrConflict  = errors.New("conflict")
)

// Meeting is how a trainee can meet a therapist.
type Meeting string

// The ways of meeting a trainee can ask for. Either, with no areas, is "no
// preference".
const (
	MeetOnline   Meeting = "online"
	MeetInPerson Meeting = "in_person"
	MeetEither   Meeting = "either"
)

// Meetings lists the ways of meeting, in the form's order.
var Meetings = []Meeting{MeetEither, MeetOnline, MeetInPerson}

// Preferences are what a trainee asked for of a therapist. Meeting and
// Areas are conditions: a referral is offered only to a therapist who can
// meet it that way (CanMeet). SameDiscipline only chooses between
// therapists who all can. Note is the trainee's own words for the
// committee, as personal as their concerns.
type Preferences struct {
	Meeting        Meeting
	Areas          []string
	SameDiscipline bool
	Note           string
}

// CanMeet reports whether a trainee who asked for p can meet a therapist who
// works online and/or in person in areas. It is the twin of the SQL function
// can_meet (migration 00011), which the allocator uses.
func CanMeet(p Preferences, online, inPerson bool, areas []string) bool {
	inArea := func() bool {
		for _, a := range p.Areas {
			if slices.Contains(areas, a) {
				return true
			}
		}
		return false
	}
	switch p.Meeting {
	case MeetOnline:
		return online
	case MeetInPerson:
		return inPerson && inArea()
	default:
		return online || (inPerson && (len(p.Areas) == 0 || inArea()))
	}
}

// Submission is a trainee's self-referral as they typed it, already checked
// for shape (see Draft.Check).
type Submission struct {
	Name      string
	Email     string
	Programme string
	Employer  string
	// EmployerName is set instead of Employer for a service not on the
	// register. Left out of JSON when empty, so the fingerprint of a
	// submission made before it existed is unchanged.
	EmployerName          string `json:",omitempty"`
	TrainingStart         Date
	ExpectedQualification *Date
	Concerns              string
	Preferences           Preferences
	// AtRisk is the trainee's answer to "are you currently at risk of
	// harming yourself?": yes flags the referral for same-day attention.
	AtRisk bool
}

// Referral is the stored referral. Concerns, Name and Email are personal and
// health data: they leave Postgres only in API responses to people entitled
// to see them.
type Referral struct {
	ID        string
	Name      string
	Email     string
	Programme string
	Employer  string
	// EmployerName, for a service not on the register (Employer is then
	// empty), is the committee's to check before approving.
	EmployerName          string
	TrainingStart         Date
	ExpectedQualification *Date
	Concerns              string
	Preferences           Preferences
	AtRisk                bool
	Status                Status
	Eligible              *bool
	EligibilityReason     string
	Cutoff                *Date
	SubmittedAt           time.Time
	UpdatedAt             time.Time
}

// Event is one recorded transition of a referral.
type Event struct {
	Seq    int       `json:"seq"`
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"`
	From   Status    `json:"from"`
	To     Status    `json:"to"`
	Reason string    `json:"reason,omitempty"`
	Note   string    `json:"note,omitempty"`
}

// Transition is a change of status the workflow asks the store to record.
// Seq numbers a referral's transitions from 1, so recording one twice (an
// activity retried) changes nothing.
type Transition struct {
	ReferralID  string    `json:"referral_id"`
	Seq         int       `json:"seq"`
	At          time.Time `json:"at"`
	Actor       Actor     `json:"actor"`
	From        Status    `json:"from"`
	To          Status    `json:"to"`
	Reason      string    `json:"reason,omitempty"`
	NoteID      int64     `json:"note_id,omitempty"`
	OfferID     string    `json:"offer_id,omitempty"`
	TherapistID string    `json:"therapist_id,omitempty"`
	// OfferExpiresAt is when an offer made by this transition lapses.
	OfferExpiresAt time.Time `json:"offer_expires_at,omitzero"`
}

// Offer is a place reserved with a therapist for a referral.
type Offer struct {
	ID          string    `json:"id"`
	ReferralID  string    `json:"referral_id"`
	TherapistID string    `json:"therapist_id"`
	State       string    `json:"state"`
	CreatedAt   time.Time `json:"created_at"`
	// ExpiresAt is set once the referral's workflow has started the offer's
	// clock; zero until then.
	ExpiresAt time.Time `json:"expires_at,omitzero"`
}

// Made reports whether the offer has been made to its therapist. A place
// is reserved, and the open offer recorded, the moment the allocation
// commits; but the referral's workflow learns of an offer filled from the
// waitlist only afterwards, and until it has moved the referral to offered
// it refuses any answer. Recording that transition starts the clock
// (ExpiresAt), so the therapist is shown, and may answer, only an offer
// whose clock runs.
func (o Offer) Made() bool { return !o.ExpiresAt.IsZero() }

// Offer states.
const (
	OfferOpen      = "open"
	OfferAccepted  = "accepted"
	OfferDeclined  = "declined"
	OfferExpired   = "expired"
	OfferWithdrawn = "withdrawn"
	OfferEnded     = "ended"
)

// Conflicts are the programmes and employers a therapist teaches, supervises
// or works in: trainees from them are never offered to that therapist.
type Conflicts struct {
	Programmes []string
	Employers  []string
}

// Therapist is an entry in the committee's register.
type Therapist struct {
	ID         string
	Name       string
	Email      string
	HCPCNumber string
	// Disciplines are the programmes the therapist trained in.
	Disciplines []string
	// Capacity is how many clients they take; PlacesUsed counts open and
	// accepted offers, and may exceed a capacity lowered since (the
	// change takes effect as clients finish).
	Capacity   int
	PlacesUsed int
	// Active is false while the therapist is away: until AwayUntil, when
	// they come back by themselves, or until further notice (nil).
	Active    bool
	AwayUntil *Date
	// Online and InPerson say how they work; Areas where, in person.
	Online, InPerson bool
	Areas            []string
	Conflicts        Conflicts
	// RetiredAt is when they left the register: no new offers, current
	// clients kept until their therapy ends.
	RetiredAt *time.Time
	CreatedAt time.Time
}

// Offerable reports whether the therapist may be offered a referral at all
// (free places aside): on the register and not away.
func (t Therapist) Offerable() bool { return t.Active && t.RetiredAt == nil }

// FreePlaces is how many new clients the therapist can be offered now.
func (t Therapist) FreePlaces() int {
	if !t.Offerable() || t.PlacesUsed >= t.Capacity {
		return 0
	}
	return t.Capacity - t.PlacesUsed
}

// TherapistPatch changes some fields of a therapist; nil leaves a field alone.
type TherapistPatch struct {
	Name        *string
	Email       *string
	Disciplines *[]string
	Capacity    *int
	Online      *bool
	InPerson    *bool
	Areas       *[]string
	Conflicts   *Conflicts
}

// Area is one of the West Midlands areas where people meet in person: one
// list, kept by the committee, for therapists and trainees alike.
type Area struct {
	Code      string
	Name      string
	Active    bool
	CreatedAt time.Time
}

// RegisterChange is one entry of the register's append-only history: who
// changed which entry, when, and each field before and after.
type RegisterChange struct {
	ID       int64
	At       time.Time
	Actor    Principal
	Entity   string // therapist, committee_member, organisation, area
	EntityID string
	Action   string // added, changed, away, back, retired, removed …
	Changes  map[string]FieldChange
}

// FieldChange is one field's value before and after a change to the
// register.
type FieldChange struct {
	From any `json:"from"`
	To   any `json:"to"`
}

// CommitteeMember is one of the people who review referrals. Role is
// their office (one of CommitteeRoles). A removed member (RemovedAt set) is
// kept for the history, and can no longer sign in.
type CommitteeMember struct {
	ID        string
	Name      string
	Email     string
	Role      string
	CreatedAt time.Time
	RemovedAt *time.Time
}

// Organisation is an employer in the register of West Midlands NHS and
// NHS-contracted services.
type Organisation struct {
	Code      string
	Name      string
	Kind      string
	Active    bool
	CreatedAt time.Time
}

// Principal is who a bearer token says the caller is. Subject is the
// referral ID for a trainee, the therapist or committee member ID otherwise.
type Principal struct {
	Role    Role
	Subject string
}

// Waiting is one referral on the waitlist, in queue order: its position,
// since when it has waited (its approval), and what the committee needs to
// see of it there. Nothing personal but the at-risk flag.
type Waiting struct {
	ReferralID string
	Position   int
	Since      time.Time
	Programme  string
	Employer   string
	Urgent     bool
	// Therapists is how many therapists on the register could ever take
	// it (away or full ones included): none flags a referral nobody can
	// take, for the committee to act on.
	Therapists int
	// QueuePosition is its place in the queue as taken at approval: the
	// cursor a page of the waiting list continues after, which stays put
	// when someone ahead leaves (Position moves up).
	QueuePosition int64
	// PausedUntil is set while the trainee has paused their place (they
	// keep their position, and are offered nothing until then); PausedFor
	// is how long their earlier pauses lasted in all.
	PausedUntil *time.Time
	PausedFor   time.Duration
}
