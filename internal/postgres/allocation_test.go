package postgres_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wmtna/referrals/internal/pgtest"
	"github.com/wmtna/referrals/internal/postgres"
	"github.com/wmtna/referrals/internal/postgres/postgrestest"
	"github.com/wmtna/referrals/internal/referral"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// store is a migrated database, opened both through the store under test
// and as a raw pool for checking what is really in the tables.
type store struct {
	*postgres.DB
	raw *pgxpool.Pool
	t   *testing.T
}

func newStore(t *testing.T) *store {
	t.Helper()
	t.Parallel()
	ctx := context.Background()
	db, url := postgrestest.Open(t, "")
	raw, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(raw.Close)
	return &store{DB: db, raw: raw, t: t}
}

var seq atomic.Int64

// trainee describes the parts of a referral that allocation looks at.
type trainee struct {
	programme, employer string
	// service is a service not on the register, named instead of employer.
	service string
	prefs   referral.Preferences
}

var anyTrainee = trainee{programme: "counselling", employer: "RKB"}

func submission(tr trainee, email string) referral.Submission {
	if tr.programme == "" {
		tr.programme = anyTrainee.programme
	}
	if tr.employer == "" && tr.service == "" {
		tr.employer = anyTrainee.employer
	}
	return referral.Submission{
		Name:          "Trainee",
		Email:         email,
		Programme:     tr.programme,
		Employer:      tr.employer,
		EmployerName:  tr.service,
		TrainingStart: referral.Date{Year: 2024, Month: time.September, Day: 1},
		Concerns:      "stress",
		Preferences:   tr.prefs,
	}
}

// referral stores a new referral with a unique email and returns its ID.
func (s *store) referral(tr trainee) string {
	s.t.Helper()
	n := seq.Add(1)
	r, created, err := s.CreateReferral(context.Background(), submission(tr, fmt.Sprintf("trainee%d@example.org", n)), time.Now(),
		fmt.Sprintf("key-%d", n), fmt.Sprintf("fp-%d", n))
	if err != nil || !created {
		s.t.Fatalf("create referral: created=%v, %v", created, err)
	}
	return r.ID
}

// therapist registers an active therapist with the given capacity; opts
// adjust anything else before it is stored.
func (s *store) therapist(name string, capacity int, opts ...func(*referral.Therapist)) referral.Therapist {
	s.t.Helper()
	n := seq.Add(1)
	th := referral.Therapist{
		Name: name, Email: fmt.Sprintf("therapist%d@example.org", n), HCPCNumber: fmt.Sprintf("PYL%d", n),
		Capacity: capacity, Active: true, Online: true,
	}
	for _, o := range opts {
		o(&th)
	}
	out, err := s.CreateTherapist(context.Background(), committeeMember, th)
	if err != nil {
		s.t.Fatalf("create therapist %s: %v", name, err)
	}
	return out
}

func (s *store) enqueue(referralID string) *referral.Offer {
	s.t.Helper()
	o, err := s.Enqueue(context.Background(), referralID)
	if err != nil {
		s.t.Fatal(err)
	}
	return o
}

// committeeMember is who changes the register in these tests.
var committeeMember = referral.Principal{Role: referral.RoleCommittee, Subject: "00000000-0000-4000-8000-000000000001"}

func (s *store) setCapacity(therapistID string, capacity int) (referral.Therapist, error) {
	return s.UpdateTherapist(context.Background(), committeeMember, therapistID, referral.TherapistPatch{Capacity: &capacity})
}

func (s *store) placesUsed(therapistID string) int {
	s.t.Helper()
	th, err := s.Therapist(context.Background(), therapistID)
	if err != nil {
		s.t.Fatal(err)
	}
	return th.PlacesUsed
}

// liveWith returns the therapist of the referral's open or accepted offer,
// or "" when it has none.
func (s *store) liveWith(referralID string) string {
	s.t.Helper()
	o, err := s.LiveOffer(context.Background(), referralID)
	if err != nil {
		s.t.Fatal(err)
	}
	if o == nil {
		return ""
	}
	return o.TherapistID
}

func (s *store) offerState(offerID string) string {
	s.t.Helper()
	o, err := s.Offer(context.Background(), offerID)
	if err != nil {
		s.t.Fatal(err)
	}
	return o.State
}

func (s *store) count(query string, args ...any) int {
	s.t.Helper()
	var n int
	if err := s.raw.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		s.t.Fatalf("%s: %v", query, err)
	}
	return n
}

func (s *store) unannouncedReferrals() []string {
	s.t.Helper()
	offers, err := s.Unannounced(context.Background(), 100)
	if err != nil {
		s.t.Fatal(err)
	}
	var ids []string
	for _, o := range offers {
		ids = append(ids, o.ReferralID)
	}
	return ids
}

func wantPlaces(t *testing.T, s *store, th referral.Therapist, want int) {
	t.Helper()
	if got := s.placesUsed(th.ID); got != want {
		t.Errorf("%s places_used = %d, want %d", th.Name, got, want)
	}
}

// therapistSpec is one therapist of an Enqueue scenario. Unless it says
// otherwise it works online only and trained in no discipline.
type therapistSpec struct {
	name        string
	capacity    int
	inPerson    []string // areas where they see people in person
	notOnline   bool
	disciplines []string
	conflicts   referral.Conflicts
	inactive    bool
	retired     bool
	full        bool // its places are taken by other referrals first
}

func TestEnqueueChoosesBestFreeTherapist(t *testing.T) {
	inPersonStoke := trainee{prefs: referral.Preferences{Meeting: referral.MeetInPerson, Areas: []string{"stoke-on-trent"}}}
	inPersonCoventry := trainee{prefs: referral.Preferences{Meeting: referral.MeetInPerson, Areas: []string{"coventry"}}}
	onlineOnly := trainee{prefs: referral.Preferences{Meeting: referral.MeetOnline}}
	eitherCoventry := trainee{prefs: referral.Preferences{Meeting: referral.MeetEither, Areas: []string{"coventry"}}}
	clinicalOwn := trainee{programme: "clinical", prefs: referral.Preferences{SameDiscipline: true}}
	tests := []struct {
		name       string
		trainee    trainee
		therapists []therapistSpec // registered in this order
		want       string          // chosen therapist, "" to wait
	}{
		{
			name:    "programme conflict excludes",
			trainee: trainee{programme: "clinical"},
			therapists: []therapistSpec{
				{name: "teaches clinical", capacity: 5, conflicts: referral.Conflicts{Programmes: []string{"clinical"}}},
				{name: "other", capacity: 1},
			},
			want: "other",
		},
		{
			name:    "employer conflict excludes",
			trainee: trainee{employer: "RXT"},
			therapists: []therapistSpec{
				{name: "works at RXT", capacity: 5, conflicts: referral.Conflicts{Employers: []string{"RQ3", "RXT"}}},
				{name: "other", capacity: 1},
			},
			want: "other",
		},
		{
			name:       "conflict with no alternative waits",
			trainee:    trainee{programme: "forensic"},
			therapists: []therapistSpec{{name: "teaches forensic", capacity: 5, conflicts: referral.Conflicts{Programmes: []string{"forensic"}}}},
			want:       "",
		},
		{
			name:    "no free place is skipped",
			trainee: inPersonCoventry,
			therapists: []therapistSpec{
				{name: "full", capacity: 1, inPerson: []string{"coventry"}, full: true},
				{name: "zero capacity", capacity: 0, inPerson: []string{"coventry"}},
				{name: "free", capacity: 1, inPerson: []string{"coventry"}},
			},
			want: "free",
		},
		{
			name:       "all full waits",
			trainee:    anyTrainee,
			therapists: []therapistSpec{{name: "full", capacity: 1, full: true}, {name: "zero", capacity: 0}},
			want:       "",
		},
		{
			name:    "away is skipped",
			trainee: anyTrainee,
			therapists: []therapistSpec{
				{name: "away", capacity: 5, inactive: true},
				{name: "active", capacity: 1},
			},
			want: "active",
		},
		{
			name:    "retired is skipped",
			trainee: anyTrainee,
			therapists: []therapistSpec{
				{name: "retired", capacity: 5, retired: true},
				{name: "active", capacity: 1},
			},
			want: "active",
		},
		{
			// The issue's case: in person only in Stoke-on-Trent, and the
			// only free therapist sees people in person in Birmingham.
			name:    "in person only waits rather than take another area",
			trainee: inPersonStoke,
			therapists: []therapistSpec{
				{name: "Birmingham in person", capacity: 5, inPerson: []string{"birmingham"}, notOnline: true},
				{name: "online", capacity: 5},
			},
			want: "",
		},
		{
			name:    "in person only takes one in their area",
			trainee: inPersonStoke,
			therapists: []therapistSpec{
				{name: "online", capacity: 5},
				{name: "Stoke and online", capacity: 1, inPerson: []string{"birmingham", "stoke-on-trent"}},
			},
			want: "Stoke and online",
		},
		{
			name:    "online only never goes to in person only",
			trainee: onlineOnly,
			therapists: []therapistSpec{
				{name: "in person", capacity: 5, inPerson: []string{"coventry"}, notOnline: true},
				{name: "online", capacity: 1},
			},
			want: "online",
		},
		{
			name:    "either with an area: online, or in person there",
			trainee: eitherCoventry,
			therapists: []therapistSpec{
				{name: "Birmingham in person", capacity: 5, inPerson: []string{"birmingham"}, notOnline: true},
				{name: "online", capacity: 1},
			},
			want: "online",
		},
		{
			name:    "no preference takes anyone, most room first",
			trainee: anyTrainee,
			therapists: []therapistSpec{
				{name: "online", capacity: 1},
				{name: "Birmingham in person", capacity: 3, inPerson: []string{"birmingham"}, notOnline: true},
			},
			want: "Birmingham in person",
		},
		{
			name:    "own discipline beats room when asked",
			trainee: clinicalOwn,
			therapists: []therapistSpec{
				{name: "roomy counselling", capacity: 5, disciplines: []string{"counselling"}},
				{name: "clinical", capacity: 1, disciplines: []string{"clinical", "health"}},
			},
			want: "clinical",
		},
		{
			name:    "own discipline not asked: most room wins",
			trainee: trainee{programme: "clinical"},
			therapists: []therapistSpec{
				{name: "clinical", capacity: 1, disciplines: []string{"clinical"}},
				{name: "roomy counselling", capacity: 5, disciplines: []string{"counselling"}},
			},
			want: "roomy counselling",
		},
		{
			name:    "own discipline never outranks a hard rule",
			trainee: trainee{programme: "clinical", prefs: referral.Preferences{Meeting: referral.MeetOnline, SameDiscipline: true}},
			therapists: []therapistSpec{
				{name: "clinical in person", capacity: 5, disciplines: []string{"clinical"}, inPerson: []string{"coventry"}, notOnline: true},
				{name: "online counselling", capacity: 1, disciplines: []string{"counselling"}},
			},
			want: "online counselling",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			byID := map[string]referral.Therapist{}
			for _, sp := range tt.therapists {
				th := s.therapist(sp.name, sp.capacity, func(th *referral.Therapist) {
					th.Online, th.InPerson, th.Areas = !sp.notOnline, len(sp.inPerson) > 0, sp.inPerson
					th.Disciplines, th.Conflicts, th.Active = sp.disciplines, sp.conflicts, !sp.inactive
				})
				if sp.retired {
					var err error
					if th, err = s.RetireTherapist(context.Background(), committeeMember, th.ID); err != nil {
						t.Fatal(err)
					}
				}
				byID[th.ID] = th
				// Fill it while it is the only free therapist, so the
				// fillers cannot land anywhere else.
				for i := 0; sp.full && i < sp.capacity; i++ {
					if o := s.enqueue(s.referral(anyTrainee)); o == nil || o.TherapistID != th.ID {
						t.Fatalf("filler for %s got %+v", sp.name, o)
					}
				}
			}
			before := map[string]int{}
			for id := range byID {
				before[id] = s.placesUsed(id)
			}

			id := s.referral(tt.trainee)
			o := s.enqueue(id)
			got := ""
			if o != nil {
				got = byID[o.TherapistID].Name
			}
			if got != tt.want {
				t.Fatalf("offered to %q, want %q", got, tt.want)
			}
			if o == nil {
				return
			}
			if o.ReferralID != id || o.State != referral.OfferOpen {
				t.Errorf("offer = %+v, want an open offer for %s", o, id)
			}
			for tid, th := range byID {
				want := before[tid]
				if tid == o.TherapistID {
					want++
				}
				wantPlaces(t, s, th, want)
			}
			// Enqueueing again (a retried activity) returns the same offer
			// and takes no second place.
			if again := s.enqueue(id); again == nil || again.ID != o.ID {
				t.Errorf("second Enqueue = %+v, want offer %s", again, o.ID)
			}
			wantPlaces(t, s, byID[o.TherapistID], before[o.TherapistID]+1)
			// The referral's own workflow learns of this offer from the
			// result, so it is not left for the announcer.
			if ids := s.unannouncedReferrals(); len(ids) != 0 {
				t.Errorf("Unannounced after Enqueue = %v, want none", ids)
			}
		})
	}
}

func TestFreedPlacesGoToQueueInApprovalOrder(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()

	// No therapists yet: everyone waits, in the order approved.
	r1 := s.referral(trainee{programme: "clinical"})
	r2, r3, r4 := s.referral(anyTrainee), s.referral(anyTrainee), s.referral(anyTrainee)
	for _, id := range []string{r1, r2, r3, r4} {
		if o := s.enqueue(id); o != nil {
			t.Fatalf("Enqueue with no therapists = %+v, want nil", o)
		}
	}

	// A therapist who teaches clinical trainees: r1 is first in line but
	// conflicted, so the place goes to the next, r2 — not to r3 or r4.
	a := s.therapist("A", 1, func(th *referral.Therapist) { th.Conflicts.Programmes = []string{"clinical"} })
	wantPlaces(t, s, a, 1)
	if s.liveWith(r1) != "" || s.liveWith(r2) != a.ID || s.liveWith(r3) != "" {
		t.Fatalf("after A registered: r1=%q r2=%q r3=%q, want only r2 with A", s.liveWith(r1), s.liveWith(r2), s.liveWith(r3))
	}

	// A therapist registered with no room, who then makes room for two:
	// the two longest waiting, r1 and r3, get them; r4 still waits.
	b := s.therapist("B", 0)
	wantPlaces(t, s, b, 0)
	if _, err := s.setCapacity(b.ID, 2); err != nil {
		t.Fatal(err)
	}
	wantPlaces(t, s, b, 2)
	if s.liveWith(r1) != b.ID || s.liveWith(r3) != b.ID || s.liveWith(r4) != "" {
		t.Fatalf("after B raised: r1=%q r3=%q r4=%q, want r1 and r3 with B", s.liveWith(r1), s.liveWith(r3), s.liveWith(r4))
	}
	if o := s.enqueue(r4); o != nil {
		t.Errorf("r4 Enqueue again = %+v, want nil (still waiting)", o)
	}

	// Those offers were made behind the referrals' workflows' backs, so
	// they are listed for announcement until marked. (r1's and r3's were
	// made in one transaction, so their order between them is not fixed.)
	if got, want := s.unannouncedReferrals(), []string{r1, r2, r3}; !sameSet(got, want) {
		t.Fatalf("Unannounced referrals = %v, want %v", got, want)
	}
	offers, err := s.Unannounced(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	if offers[0].ReferralID != r2 {
		t.Errorf("oldest unannounced offer is for %s, want r2 %s", offers[0].ReferralID, r2)
	}
	if err := s.MarkAnnounced(ctx, offers[0].ID); err != nil {
		t.Fatal(err)
	}
	if got := s.unannouncedReferrals(); !sameSet(got, []string{r1, r3}) {
		t.Errorf("after one MarkAnnounced: %v, want [%s %s]", got, r1, r3)
	}
	for _, o := range offers[1:] {
		if err := s.MarkAnnounced(ctx, o.ID); err != nil {
			t.Fatal(err)
		}
	}
	if got := s.unannouncedReferrals(); len(got) != 0 {
		t.Errorf("after MarkAnnounced: %v, want none", got)
	}
}

// A place filled from the waitlist is reserved at once, but the offer is
// the therapist's to see only once the referral's workflow has recorded
// the move to offered (and started its clock): until then the workflow
// would refuse an answer.
func TestOfferFilledFromTheWaitlistIsListedOnceMade(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	r := s.referral(anyTrainee)
	if o := s.enqueue(r); o != nil {
		t.Fatalf("Enqueue with no therapists = %+v, want nil", o)
	}
	th := s.therapist("A", 1)
	listed := func() []referral.Offer {
		t.Helper()
		open, err := s.OpenOffers(ctx, th.ID)
		if err != nil {
			t.Fatal(err)
		}
		return open
	}
	if s.liveWith(r) != th.ID {
		t.Fatalf("the new therapist's place did not go to the waiting referral")
	}
	if open := listed(); len(open) != 0 {
		t.Errorf("open offers before the workflow made the offer: %+v, want none", open)
	}
	o, err := s.LiveOffer(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	for i, to := range []referral.Status{referral.StatusSubmitted, referral.StatusAwaitingReview, referral.StatusMatching, referral.StatusWaitlisted} {
		s.record(transition(r, i+1, "", to))
	}
	offered := transition(r, 5, referral.StatusWaitlisted, referral.StatusOffered)
	offered.OfferID, offered.TherapistID, offered.OfferExpiresAt = o.ID, th.ID, time.Now().Add(time.Hour)
	s.record(offered)
	if open := listed(); len(open) != 1 || open[0].ID != o.ID || !open[0].Made() {
		t.Errorf("open offers once made: %+v, want %s with its clock running", open, o.ID)
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func TestCloseOfferDeclined(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	therapists := map[string]referral.Therapist{}
	for _, name := range []string{"A", "B"} {
		th := s.therapist(name, 1)
		therapists[th.ID] = th
	}

	// r1 is offered one therapist (x) and declined; the other (y) is free,
	// so the close returns an offer with y straight away.
	r1 := s.referral(anyTrainee)
	o1 := s.enqueue(r1)
	x := therapists[o1.TherapistID]
	var y referral.Therapist
	for id, th := range therapists {
		if id != x.ID {
			y = th
		}
	}
	next, err := s.CloseOffer(ctx, o1.ID, referral.OfferDeclined, referral.CodeTherapistCapacity)
	if err != nil {
		t.Fatal(err)
	}
	if next == nil || next.TherapistID != y.ID || next.ReferralID != r1 || next.State != referral.OfferOpen {
		t.Fatalf("CloseOffer next = %+v, want an open offer of r1 with %s", next, y.Name)
	}
	if st := s.offerState(o1.ID); st != referral.OfferDeclined {
		t.Errorf("closed offer state = %s, want declined", st)
	}
	wantPlaces(t, s, x, 0)
	wantPlaces(t, s, y, 1)

	// A retried close converges: the same next offer, no place moved.
	again, err := s.CloseOffer(ctx, o1.ID, referral.OfferDeclined, referral.CodeTherapistCapacity)
	if err != nil {
		t.Fatal(err)
	}
	if again == nil || again.ID != next.ID {
		t.Fatalf("second CloseOffer = %+v, want %s", again, next.ID)
	}
	wantPlaces(t, s, x, 0)
	wantPlaces(t, s, y, 1)

	// r2 takes x's free place; r3 must wait.
	r2, r3 := s.referral(anyTrainee), s.referral(anyTrainee)
	if o := s.enqueue(r2); o == nil || o.TherapistID != x.ID {
		t.Fatalf("r2 offer = %+v, want %s", o, x.Name)
	}
	if o := s.enqueue(r3); o != nil {
		t.Fatalf("r3 offer = %+v, want nil", o)
	}

	// r1 declines y too. y's place goes to the head of the queue; r1 is
	// ahead of r3 in line but y is now excluded for r1, so r3 gets it, and
	// r1 (nothing left for it) waits.
	second := next
	next, err = s.CloseOffer(ctx, second.ID, referral.OfferDeclined, referral.CodeTherapistCapacity)
	if err != nil {
		t.Fatal(err)
	}
	if next != nil {
		t.Fatalf("CloseOffer next = %+v, want nil (r1 waits)", next)
	}
	if s.liveWith(r3) != y.ID || s.liveWith(r1) != "" {
		t.Fatalf("after second decline: r3=%q r1=%q, want r3 with %s, r1 waiting", s.liveWith(r3), s.liveWith(r1), y.Name)
	}
	again, err = s.CloseOffer(ctx, second.ID, referral.OfferDeclined, referral.CodeTherapistCapacity)
	if err != nil || again != nil {
		t.Fatalf("repeat CloseOffer = %+v, %v; want nil, nil", again, err)
	}
	wantPlaces(t, s, x, 1)
	wantPlaces(t, s, y, 1)

	// For good: when both make more room, r1 (first in line) is still
	// not offered either of them; the room waits for others.
	for _, th := range []referral.Therapist{x, y} {
		if _, err := s.setCapacity(th.ID, 2); err != nil {
			t.Fatal(err)
		}
		wantPlaces(t, s, th, 1)
	}
	if o, err := s.Reconcile(ctx, r1); err != nil || o != nil {
		t.Fatalf("Reconcile r1 = %+v, %v; want nil (both therapists excluded)", o, err)
	}
	// A new therapist is offered to r1, who kept its place ahead of r4.
	r4 := s.referral(anyTrainee)
	if o := s.enqueue(r4); o == nil || (o.TherapistID != x.ID && o.TherapistID != y.ID) {
		t.Fatalf("r4 offer = %+v, want the room r1 cannot take", o)
	}
	c := s.therapist("C", 1)
	if s.liveWith(r1) != c.ID {
		t.Errorf("r1 with %q, want C", s.liveWith(r1))
	}
}

func TestCloseOfferOutcomes(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	s.therapist("A", 1)
	o := s.enqueue(s.referral(anyTrainee))
	// Only a decline or a lapse closes an offer this way.
	for _, bad := range []string{referral.OfferAccepted, referral.OfferWithdrawn, ""} {
		if _, err := s.CloseOffer(ctx, o.ID, bad, ""); err == nil {
			t.Errorf("CloseOffer(%q) succeeded", bad)
		}
	}
	if _, err := s.CloseOffer(ctx, o.ID, referral.OfferExpired, ""); err != nil {
		t.Fatal(err)
	}
	if st := s.offerState(o.ID); st != referral.OfferExpired {
		t.Errorf("state = %s, want expired", st)
	}
	if _, err := s.CloseOffer(ctx, postgres.NewID(), referral.OfferDeclined, referral.CodeTherapistCapacity); !errors.Is(err, referral.ErrNotFound) {
		t.Errorf("CloseOffer(unknown) = %v, want ErrNotFound", err)
	}
}

func TestAcceptThenLeave(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	a := s.therapist("A", 1)
	r1, r2 := s.referral(anyTrainee), s.referral(anyTrainee)
	o1 := s.enqueue(r1)
	if o := s.enqueue(r2); o != nil {
		t.Fatalf("r2 offer = %+v, want nil", o)
	}

	for range 2 { // accepting twice is not an error
		if err := s.AcceptOffer(ctx, o1.ID); err != nil {
			t.Fatal(err)
		}
	}
	if st := s.offerState(o1.ID); st != referral.OfferAccepted {
		t.Fatalf("state = %s, want accepted", st)
	}
	wantPlaces(t, s, a, 1)

	// Therapy ends: the offer is ended and A's place goes to r2.
	if err := s.Leave(ctx, r1); err != nil {
		t.Fatal(err)
	}
	if st := s.offerState(o1.ID); st != referral.OfferEnded {
		t.Errorf("state after Leave = %s, want ended", st)
	}
	if s.liveWith(r2) != a.ID {
		t.Fatalf("r2 with %q, want A", s.liveWith(r2))
	}
	wantPlaces(t, s, a, 1)
	if got := s.unannouncedReferrals(); len(got) != 1 || got[0] != r2 {
		t.Errorf("Unannounced = %v, want [r2]", got)
	}

	// Leaving again is harmless and does not free anyone else's place.
	if err := s.Leave(ctx, r1); err != nil {
		t.Fatal(err)
	}
	wantPlaces(t, s, a, 1)
	if o := s.enqueue(r1); o != nil {
		t.Errorf("Enqueue after Leave = %+v, want nil (left for good)", o)
	}

	// An ended offer cannot be accepted.
	if err := s.AcceptOffer(ctx, o1.ID); !errors.Is(err, referral.ErrConflict) {
		t.Errorf("AcceptOffer(ended) = %v, want ErrConflict", err)
	}

	// r2 withdraws with its offer still open: the place comes back.
	o2, _ := s.LiveOffer(ctx, r2)
	if err := s.Leave(ctx, r2); err != nil {
		t.Fatal(err)
	}
	if st := s.offerState(o2.ID); st != referral.OfferWithdrawn {
		t.Errorf("state = %s, want withdrawn", st)
	}
	wantPlaces(t, s, a, 0)
	if err := s.AcceptOffer(ctx, o2.ID); !errors.Is(err, referral.ErrConflict) {
		t.Errorf("AcceptOffer(withdrawn) = %v, want ErrConflict", err)
	}
}

func TestAcceptDeclinedOfferConflicts(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	s.therapist("A", 1)
	o := s.enqueue(s.referral(anyTrainee))
	if _, err := s.CloseOffer(ctx, o.ID, referral.OfferDeclined, referral.CodeTherapistCapacity); err != nil {
		t.Fatal(err)
	}
	if err := s.AcceptOffer(ctx, o.ID); !errors.Is(err, referral.ErrConflict) {
		t.Errorf("AcceptOffer(declined) = %v, want ErrConflict", err)
	}
	if err := s.AcceptOffer(ctx, postgres.NewID()); !errors.Is(err, referral.ErrNotFound) {
		t.Errorf("AcceptOffer(unknown) = %v, want ErrNotFound", err)
	}
}

// Lowering capacity below the places in use is allowed: the clients keep
// their places, and the lower capacity takes effect as they finish.
func TestLoweredCapacityTakesEffectAsClientsFinish(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	a := s.therapist("A", 3)
	r1, r2 := s.referral(anyTrainee), s.referral(anyTrainee)
	s.enqueue(r1)
	s.enqueue(r2)
	wantPlaces(t, s, a, 2)

	th, err := s.setCapacity(a.ID, 1)
	if err != nil || th.Capacity != 1 || th.PlacesUsed != 2 || th.FreePlaces() != 0 {
		t.Fatalf("capacity 1 with 2 in use: %+v, %v; want capacity 1, 2 used, none free", th, err)
	}
	if s.liveWith(r1) != a.ID || s.liveWith(r2) != a.ID {
		t.Fatalf("clients lost their places: r1 with %q, r2 with %q", s.liveWith(r1), s.liveWith(r2))
	}
	r3 := s.referral(anyTrainee)
	if o := s.enqueue(r3); o != nil {
		t.Fatalf("r3 offered %+v over the lowered capacity", o)
	}
	// One client finishing brings A down to their capacity: still full.
	if err := s.Leave(ctx, r1); err != nil {
		t.Fatal(err)
	}
	wantPlaces(t, s, a, 1)
	if s.liveWith(r3) != "" {
		t.Fatalf("r3 offered A's place while A is at capacity")
	}
	// The next finishing frees a place under the new capacity, for r3.
	if err := s.Leave(ctx, r2); err != nil {
		t.Fatal(err)
	}
	if s.liveWith(r3) != a.ID {
		t.Errorf("r3 with %q, want A once a place is free under the new capacity", s.liveWith(r3))
	}
	if _, err := s.setCapacity(postgres.NewID(), 2); !errors.Is(err, referral.ErrNotFound) {
		t.Errorf("unknown therapist: %v, want ErrNotFound", err)
	}
}

// TestConcurrentAllocation races 40 approvals against capacity changes. The
// allocation lock must keep every therapist's count exact and within
// capacity, and the queue first-come-first-served.
func TestConcurrentAllocation(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	var therapists []referral.Therapist
	for _, name := range []string{"A", "B", "C"} {
		therapists = append(therapists, s.therapist(name, 2))
	}
	var referrals []string
	for range 40 {
		referrals = append(referrals, s.referral(anyTrainee))
	}

	start := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for _, id := range referrals {
		wg.Go(func() {
			<-start
			if _, err := s.Enqueue(ctx, id); err != nil {
				errs <- fmt.Errorf("enqueue: %w", err)
			}
		})
	}
	// Each therapist is flipped between 1 and 2 places meanwhile. Lowering
	// may rightly be refused (places taken); nothing else may fail. Never
	// above 2, so the final total is known.
	for _, th := range therapists {
		wg.Go(func() {
			<-start
			for i := range 10 {
				c := 1 + i%2
				if _, err := s.setCapacity(th.ID, c); err != nil {
					errs <- fmt.Errorf("capacity %d for %s: %w", c, th.Name, err)
				}
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for _, th := range therapists {
		if _, err := s.setCapacity(th.ID, 2); err != nil {
			t.Fatal(err)
		}
	}

	for _, th := range therapists {
		got, err := s.Therapist(ctx, th.ID)
		if err != nil {
			t.Fatal(err)
		}
		live := s.count(`SELECT count(*) FROM offers WHERE therapist_id = $1 AND state IN ('open', 'accepted')`, th.ID)
		if got.PlacesUsed != live || got.PlacesUsed > got.Capacity {
			t.Errorf("%s: places_used %d, live offers %d, capacity %d", th.Name, got.PlacesUsed, live, got.Capacity)
		}
	}
	if n := s.count(`SELECT count(*) FROM offers`); n != 6 {
		t.Errorf("%d offers, want 6 (3 therapists x 2 places)", n)
	}
	// First come, first served: with no conflicts, the six offered are the
	// six first in line, whatever order the goroutines ran in.
	if n := s.count(`SELECT count(*) FROM queue q JOIN offers o ON o.referral_id = q.referral_id
		WHERE q.position > (SELECT position FROM queue ORDER BY position OFFSET 5 LIMIT 1)`); n != 0 {
		t.Errorf("%d offers went to referrals behind the first six in line", n)
	}
	if n := s.count(`SELECT count(*) FROM queue WHERE state = 'waiting'`); n != 34 {
		t.Errorf("%d waiting, want 34", n)
	}
}

func transition(referralID string, seq int, from, to referral.Status) referral.Transition {
	return referral.Transition{
		ReferralID: referralID, Seq: seq, At: time.Now(), Actor: referral.System, From: from, To: to,
	}
}

func (s *store) record(tr referral.Transition, msgs ...postgres.Message) (bool, []int64) {
	s.t.Helper()
	recorded, ids, err := s.RecordTransition(context.Background(), tr, msgs)
	if err != nil {
		s.t.Fatal(err)
	}
	return recorded, ids
}

func TestRecordTransitionIsIdempotent(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	id := s.referral(anyTrainee)
	msg := func(key string) postgres.Message {
		return postgres.Message{Key: key, Recipient: "committee@example.org", Kind: "review", Subject: "New referral", Body: "A referral awaits review."}
	}

	tr := transition(id, 1, referral.StatusSubmitted, referral.StatusAwaitingReview)
	if recorded, ids := s.record(tr, msg(id+"/1/committee")); !recorded || len(ids) != 1 {
		t.Fatalf("first record: recorded=%v ids=%v, want true and one message", recorded, ids)
	}
	// A retried activity: same (referral, seq). Even if it computed a
	// different message key, nothing is written.
	if recorded, ids := s.record(tr, msg(id+"/1/committee"), msg(id+"/1/other")); recorded || len(ids) != 0 {
		t.Fatalf("replay: recorded=%v ids=%v, want false and none", recorded, ids)
	}
	out, err := s.Outbox(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 1 {
		t.Errorf("outbox has %d messages, want 1", len(out))
	}
	events, err := s.Events(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 1 || events[0].To != referral.StatusAwaitingReview || events[0].Actor != "system" {
		t.Errorf("events = %+v, want one to awaiting_review by system", events)
	}

	// A late-arriving older seq is logged but does not move status back.
	s.record(transition(id, 3, referral.StatusMatching, referral.StatusWaitlisted))
	s.record(transition(id, 2, referral.StatusAwaitingReview, referral.StatusMatching))
	if r, err := s.Referral(ctx, id); err != nil || r.Status != referral.StatusWaitlisted {
		t.Errorf("status = %v, %v; want waitlisted", r.Status, err)
	}

	// The log is append-only, whoever writes to it.
	for _, q := range []string{
		`UPDATE referral_events SET to_status = 'matched' WHERE referral_id = $1`,
		`DELETE FROM referral_events WHERE referral_id = $1`,
	} {
		if _, err := s.raw.Exec(ctx, q, id); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: %v, want an append-only error", q, err)
		}
	}
	if n := s.count(`SELECT count(*) FROM referral_events WHERE referral_id = $1`, id); n != 3 {
		t.Errorf("%d events, want 3", n)
	}
}

func TestCreateReferral(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	sub := submission(anyTrainee, "Alex.Smith@Example.org")

	first, created, err := s.CreateReferral(ctx, sub, time.Now(), "idem-1", "fp-A")
	if err != nil || !created {
		t.Fatalf("create: created=%v, %v", created, err)
	}
	if first.Status != referral.StatusSubmitted || first.Email != sub.Email {
		t.Errorf("stored %+v", first)
	}

	// The client retries the same request: the same referral, not a new one.
	replay, created, err := s.CreateReferral(ctx, sub, time.Now(), "idem-1", "fp-A")
	if err != nil || created || replay.ID != first.ID {
		t.Errorf("replay: id=%s created=%v %v; want %s, false", replay.ID, created, err, first.ID)
	}
	// The same key on a different request is a client bug.
	other := submission(anyTrainee, "someone.else@example.org")
	if _, _, err := s.CreateReferral(ctx, other, time.Now(), "idem-1", "fp-B"); !errors.Is(err, referral.ErrConflict) {
		t.Errorf("key reused for another request: %v, want ErrConflict", err)
	}

	// One open referral per person, whatever the capitals.
	again := submission(anyTrainee, "alex.smith@EXAMPLE.ORG")
	if _, _, err := s.CreateReferral(ctx, again, time.Now(), "idem-2", "fp-C"); !errors.Is(err, referral.ErrDuplicate) {
		t.Errorf("second open referral: %v, want ErrDuplicate", err)
	}
	if _, _, err := s.CreateReferral(ctx, again, time.Now(), "", "fp-C"); !errors.Is(err, referral.ErrDuplicate) {
		t.Errorf("second open referral without a key: %v, want ErrDuplicate", err)
	}

	// Once the first is finished, the person may refer themselves again.
	s.record(transition(first.ID, 1, referral.StatusSubmitted, referral.StatusWithdrawn))
	second, created, err := s.CreateReferral(ctx, again, time.Now(), "idem-2", "fp-C")
	if err != nil || !created || second.ID == first.ID {
		t.Fatalf("after withdrawal: id=%s created=%v %v", second.ID, created, err)
	}
	if n := s.count(`SELECT count(*) FROM referrals`); n != 2 {
		t.Errorf("%d referrals stored, want 2", n)
	}
}

func TestTokens(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	subject := postgres.NewID()

	token, err := s.IssueToken(ctx, referral.RoleTrainee, subject, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.Authenticate(ctx, token)
	if err != nil || p.Role != referral.RoleTrainee || p.Subject != subject {
		t.Fatalf("Authenticate = %+v, %v", p, err)
	}
	if _, err := s.Authenticate(ctx, token+"x"); !errors.Is(err, referral.ErrNotFound) {
		t.Errorf("unknown token: %v, want ErrNotFound", err)
	}

	past := time.Now().Add(-time.Minute)
	expired, err := s.IssueToken(ctx, referral.RoleTherapist, postgres.NewID(), &past)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, expired); !errors.Is(err, referral.ErrNotFound) {
		t.Errorf("expired token: %v, want ErrNotFound", err)
	}
	future := time.Now().Add(time.Hour)
	live, err := s.IssueToken(ctx, referral.RoleTherapist, postgres.NewID(), &future)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, live); err != nil {
		t.Errorf("unexpired token: %v", err)
	}

	// Revoking a subject's tokens ends them; a replacement works.
	if err := s.RevokeTokens(ctx, referral.RoleTrainee, subject); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, token); !errors.Is(err, referral.ErrNotFound) {
		t.Errorf("revoked token: %v, want ErrNotFound", err)
	}
	replacement, err := s.IssueToken(ctx, referral.RoleTrainee, subject, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, replacement); err != nil {
		t.Errorf("replacement token: %v", err)
	}

	// Only SHA-256 hashes are stored: no row, read as text, holds a token.
	rows, err := s.raw.Query(ctx, `SELECT hash, t::text FROM tokens t`)
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		Hash []byte
		Text string
	}
	stored, err := pgx.CollectRows(rows, pgx.RowToStructByPos[row])
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != 4 {
		t.Fatalf("%d tokens stored, want 4", len(stored))
	}
	hashes := map[string]bool{}
	for _, r := range stored {
		hashes[string(r.Hash)] = true
		for _, tok := range []string{token, expired, live, replacement} {
			if strings.Contains(r.Text, tok) || strings.Contains(string(r.Hash), tok) {
				t.Errorf("tokens row %q holds a plaintext token", r.Text)
			}
		}
	}
	for _, tok := range []string{token, expired, live, replacement} {
		if h := sha256.Sum256([]byte(tok)); !hashes[string(h[:])] {
			t.Errorf("no row holds the SHA-256 of an issued token")
		}
	}
}
