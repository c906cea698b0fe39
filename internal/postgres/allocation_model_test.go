package postgres_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wmtna/referrals/internal/referral"
)

// The model test's knobs. A failure names its seed; replay it with
//
//	go test ./internal/postgres/ -run TestAllocationModel -model.seed=N
//
// and run longer with -model.steps (or WMTNA_MODEL_STEPS) and -model.seeds.
var (
	modelSeed  = flag.Uint64("model.seed", 0, "run the allocation model test with this seed only")
	modelSeeds = flag.Int("model.seeds", 4, "how many seeds (1, 2, …) the allocation model test runs")
	modelSteps = flag.Int("model.steps", 0, "steps per seed of the allocation model test (default 300, or WMTNA_MODEL_STEPS)")
)

func modelStepCount(t *testing.T) int {
	if *modelSteps > 0 {
		return *modelSteps
	}
	if env := os.Getenv("WMTNA_MODEL_STEPS"); env != "" {
		n, err := strconv.Atoi(env)
		if err != nil || n <= 0 {
			t.Fatalf("WMTNA_MODEL_STEPS=%q is not a positive number", env)
		}
		return n
	}
	return 300
}

// TestAllocationModel drives random sequences of everything that changes
// the queue or the register (approve, withdraw, therapy ended, check-in
// closed, accept, decline, expiry, new therapist, away, back, retired,
// capacity up and down, a change of how a therapist works, reconcile, stale
// answers, a trainee pausing their place and taking it back) against the
// real store. After every step it reads the tables
// back and checks them against a reference model that knows the hard rules
// in plain Go (referral.CanMeet, conflicts, exclusions):
//
//   - places_used counts the live offers, and never goes above capacity
//     unless capacity was lowered below the places then held (and then it
//     only falls); no new offer takes a place beyond capacity;
//   - every new offer keeps every hard rule;
//   - no free place exists that a waiting referral could take;
//   - no referral is offered a place that an older waiting referral could
//     have taken, and a referral's own offer goes to its preferred
//     therapist among those who all can take it;
//   - the register, the exclusions, the conflicts of interest, the queue's
//     order and its copy of how each referral can meet are what the model
//     says, and each queue state agrees with the referral's offers.
func TestAllocationModel(t *testing.T) {
	steps := modelStepCount(t)
	seeds := []uint64{*modelSeed}
	if *modelSeed == 0 {
		seeds = nil
		for i := range *modelSeeds {
			seeds = append(seeds, uint64(i+1))
		}
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			m := newModel(t, seed)
			for m.step = 1; m.step <= steps; m.step++ {
				m.runStep()
			}
			t.Logf("seed %d: %d steps (%v), %d referrals, %d therapists, %d offers, %d exclusions, %d conflicts of interest",
				seed, steps, m.ran, len(m.referrals), len(m.therapists), len(m.db.offers), len(m.excluded), len(m.conflicted))
		})
	}
}

var (
	modelAreas      = []string{"birmingham", "coventry", "stoke-on-trent"}
	modelProgrammes = []string{"clinical", "counselling", "forensic"}
	modelEmployers  = []string{"RKB", "RXT", "RRK"}
)

type mTherapist struct {
	id, name   string
	capacity   int
	ceiling    int // the most places_used may be: capacity, or more while a lowered capacity takes effect
	online     bool
	inPerson   bool
	areas      []string
	discipline []string
	conflicts  referral.Conflicts
	active     bool
	awayUntil  *referral.Date
	retired    bool
}

type mReferral struct {
	id, name  string
	email     string
	programme string
	employer  string
	prefs     referral.Preferences
}

func (r *mReferral) emailHash() string {
	h := sha256.Sum256([]byte(referral.EmailKey(r.email)))
	return hex.EncodeToString(h[:])
}

type queueRow struct {
	position int64
	state    string
	// How the referral can meet, as the queue's copy has it (migration
	// 00013): the walk for a freed place is indexed by it.
	meeting string
	areas   string
}

type offerRow struct {
	id, referralID, therapistID, state string
}

// snapshot is what the tables hold after a step.
type snapshot struct {
	therapists map[string]referral.Therapist
	queue      map[string]queueRow
	offers     map[string]offerRow
	live       map[string]offerRow // by referral: its open or accepted offer
	exclusions map[[2]string]bool  // referral, therapist
	conflicts  map[[2]string]bool  // therapist, email hash
}

type model struct {
	t     *testing.T
	s     *store
	ctx   context.Context
	seed  uint64
	rng   *rand.Rand
	step  int
	trace []string // every step so far, for the failure message

	therapists []*mTherapist // in registration order
	therapist  map[string]*mTherapist
	referrals  []*mReferral // in approval order
	referral   map[string]*mReferral
	ran        map[string]int     // steps of each kind, for the log
	excluded   map[[2]string]bool // referral, therapist: declined or let expire
	conflicted map[[2]string]bool // therapist, email hash: declared a conflict of interest
	resumed    string             // the referral this step resumed from a pause, if any
	db         snapshot
}

func newModel(t *testing.T, seed uint64) *model {
	m := &model{
		t: t, s: newStore(t), ctx: context.Background(), seed: seed, rng: rand.New(rand.NewPCG(seed, 0x13)),
		therapist: map[string]*mTherapist{}, referral: map[string]*mReferral{},
		ran: map[string]int{}, excluded: map[[2]string]bool{}, conflicted: map[[2]string]bool{},
	}
	m.db = m.read()
	return m
}

// failf stops the test with the seed, the step and the steps that led to
// it, so the failure can be replayed and read.
func (m *model) failf(format string, args ...any) {
	m.t.Helper()
	from := max(0, len(m.trace)-25)
	m.t.Fatalf("seed %d, step %d: %s\nlast steps:\n  %s\nreplay: go test ./internal/postgres/ -count=1 -run 'TestAllocationModel' -model.seed=%d -model.steps=%d",
		m.seed, m.step, fmt.Sprintf(format, args...), strings.Join(m.trace[from:], "\n  "), m.seed, m.step)
}

func (m *model) check(err error, what string) {
	m.t.Helper()
	if err != nil {
		m.failf("%s: %v", what, err)
	}
}

func (m *model) logf(format string, args ...any) {
	m.trace = append(m.trace, fmt.Sprintf("%d: ", m.step)+fmt.Sprintf(format, args...))
}

// canTake is the hard rules, as the model knows them.
func (m *model) canTake(r *mReferral, th *mTherapist) bool {
	return th.active && !th.retired &&
		referral.CanMeet(r.prefs, th.online, th.inPerson, th.areas) &&
		!slices.Contains(th.conflicts.Programmes, r.programme) &&
		!slices.Contains(th.conflicts.Employers, r.employer) &&
		!m.excluded[[2]string{r.id, th.id}] &&
		!m.conflicted[[2]string{th.id, r.emailHash()}]
}

func (m *model) read() snapshot {
	m.t.Helper()
	s := snapshot{
		therapists: map[string]referral.Therapist{}, queue: map[string]queueRow{}, offers: map[string]offerRow{},
		live: map[string]offerRow{}, exclusions: map[[2]string]bool{}, conflicts: map[[2]string]bool{},
	}
	ths, err := m.s.Therapists(m.ctx)
	m.check(err, "read therapists")
	for _, th := range ths {
		s.therapists[th.ID] = th
	}
	rows, err := m.s.raw.Query(m.ctx, `SELECT referral_id::text, position, state, meeting, array_to_string(areas, ',') FROM queue`)
	m.check(err, "read queue")
	for rows.Next() {
		var id string
		var q queueRow
		m.check(rows.Scan(&id, &q.position, &q.state, &q.meeting, &q.areas), "scan queue")
		s.queue[id] = q
	}
	m.check(rows.Err(), "read queue")
	rows, err = m.s.raw.Query(m.ctx, `SELECT id::text, referral_id::text, therapist_id::text, state FROM offers`)
	m.check(err, "read offers")
	for rows.Next() {
		var o offerRow
		m.check(rows.Scan(&o.id, &o.referralID, &o.therapistID, &o.state), "scan offer")
		s.offers[o.id] = o
		if o.state == referral.OfferOpen || o.state == referral.OfferAccepted {
			if prev, ok := s.live[o.referralID]; ok {
				m.failf("referral %s has two live offers, %s and %s", m.referral[o.referralID].name, prev.id, o.id)
			}
			s.live[o.referralID] = o
		}
	}
	m.check(rows.Err(), "read offers")
	for _, pair := range []struct {
		query string
		into  map[[2]string]bool
	}{
		{`SELECT referral_id::text, therapist_id::text FROM exclusions`, s.exclusions},
		{`SELECT therapist_id::text, email_hash FROM conflicts_of_interest`, s.conflicts},
	} {
		rows, err := m.s.raw.Query(m.ctx, pair.query)
		m.check(err, pair.query)
		for rows.Next() {
			var a, b string
			m.check(rows.Scan(&a, &b), pair.query)
			pair.into[[2]string{a, b}] = true
		}
		m.check(rows.Err(), pair.query)
	}
	return s
}

// pick returns a random element of xs, or the zero value when it is empty.
func pick[T any](rng *rand.Rand, xs []T) (x T, ok bool) {
	if len(xs) == 0 {
		return x, false
	}
	return xs[rng.IntN(len(xs))], true
}

func (m *model) subset(xs []string, p float64) []string {
	var out []string
	for _, x := range xs {
		if m.rng.Float64() < p {
			out = append(out, x)
		}
	}
	return out
}

// referralsIn lists the referrals whose queue state is one of states, in
// approval order.
func (m *model) referralsIn(states ...string) []*mReferral {
	var out []*mReferral
	for _, r := range m.referrals {
		if q, ok := m.db.queue[r.id]; ok && slices.Contains(states, q.state) {
			out = append(out, r)
		}
	}
	return out
}

// offersIn lists offers in one of states, in the order of their referrals'
// approval (a stable order, so a seed replays the same steps).
func (m *model) offersIn(states ...string) []offerRow {
	var out []offerRow
	for _, r := range m.referrals {
		var mine []offerRow
		for _, o := range m.db.offers {
			if o.referralID == r.id && slices.Contains(states, o.state) {
				mine = append(mine, o)
			}
		}
		slices.SortFunc(mine, func(a, b offerRow) int { return strings.Compare(a.id, b.id) })
		out = append(out, mine...)
	}
	return out
}

func (m *model) therapistsWhere(f func(*mTherapist) bool) []*mTherapist {
	var out []*mTherapist
	for _, th := range m.therapists {
		if f(th) {
			out = append(out, th)
		}
	}
	return out
}

// op is one kind of step: weight is how often it is tried, and run reports
// false when there was nothing to do it to.
type op struct {
	name   string
	weight int
	run    func(m *model) bool
}

var modelOps = []op{
	{"approve", 24, (*model).approve},
	{"withdraw", 5, func(m *model) bool {
		return m.leave("withdraw", "withdrawn", "waiting", "paused", "offered", "matched")
	}},
	{"therapy ended", 6, func(m *model) bool { return m.leave("therapy ended", "ended", "matched") }},
	{"check-in closed", 3, func(m *model) bool { return m.leave("check-in closed", "lapsed", "waiting") }},
	{"accept", 12, (*model).accept},
	{"decline", 8, func(m *model) bool { return m.closeOffer(referral.OfferDeclined) }},
	{"expire", 6, func(m *model) bool { return m.closeOffer(referral.OfferExpired) }},
	{"new therapist", 5, (*model).newTherapist},
	{"away", 3, (*model).pause},
	{"back", 3, (*model).resume},
	{"retire", 1, (*model).retire},
	{"capacity", 7, (*model).capacity},
	{"change ways", 3, (*model).changeWays},
	{"reconcile", 2, (*model).reconcile},
	{"trainee pauses", 3, (*model).traineePauses},
	{"trainee resumes", 3, (*model).traineeResumes},
	{"stale answer", 2, (*model).stale},
}

func (m *model) runStep() {
	m.t.Helper()
	total := 0
	for _, o := range modelOps {
		total += o.weight
	}
	before := m.db
	for {
		n := m.rng.IntN(total)
		var chosen op
		for _, o := range modelOps {
			if n < o.weight {
				chosen = o
				break
			}
			n -= o.weight
		}
		// Keep the queue short enough that therapists run out of room
		// and long enough that the head-of-queue walk has work to do.
		if chosen.name == "approve" && len(m.referralsIn("waiting")) > 25 && m.rng.IntN(4) > 0 {
			continue
		}
		if chosen.name == "new therapist" && len(m.therapistsWhere(func(th *mTherapist) bool { return !th.retired })) > 12 && m.rng.IntN(4) > 0 {
			continue
		}
		m.resumed = ""
		if chosen.run(m) {
			m.ran[chosen.name]++
			break
		}
	}
	m.db = m.read()
	m.checkInvariants(before, m.db)
}

func (m *model) newTrainee() *mReferral {
	n := len(m.referrals) + 1
	r := &mReferral{name: fmt.Sprintf("R%d", n), email: fmt.Sprintf("trainee-%d@example.org", n)}
	// Now and then a trainee who left comes back with a new referral: a
	// conflict of interest they were declined for still applies.
	if left := m.referralsIn("left"); len(left) > 0 && m.rng.IntN(10) == 0 {
		old, _ := pick(m.rng, left)
		if !slices.ContainsFunc(m.referralsIn("waiting", "offered", "matched"), func(x *mReferral) bool { return referral.EmailKey(x.email) == referral.EmailKey(old.email) }) {
			r.email = strings.ToUpper(old.email[:1]) + old.email[1:]
		}
	}
	r.programme, _ = pick(m.rng, modelProgrammes)
	r.employer, _ = pick(m.rng, modelEmployers)
	switch m.rng.IntN(4) {
	case 0:
		r.prefs.Meeting = referral.MeetOnline
	case 1:
		r.prefs.Meeting = referral.MeetInPerson
		a, _ := pick(m.rng, modelAreas)
		r.prefs.Areas = append([]string{a}, m.subset(slices.DeleteFunc(slices.Clone(modelAreas), func(x string) bool { return x == a }), 0.3)...)
	default:
		r.prefs.Meeting = referral.MeetEither
		r.prefs.Areas = m.subset(modelAreas, 0.25)
	}
	r.prefs.SameDiscipline = m.rng.IntN(3) == 0
	return r
}

func (m *model) approve() bool {
	r := m.newTrainee()
	got, created, err := m.s.CreateReferral(m.ctx, submission(trainee{programme: r.programme, employer: r.employer, prefs: r.prefs}, r.email),
		time.Now(), "", "fp")
	m.check(err, "create referral")
	if !created {
		m.failf("referral %s not created", r.name)
	}
	r.id = got.ID
	m.referrals = append(m.referrals, r)
	m.referral[r.id] = r
	m.logf("approve %s (%s %v %s/%s same discipline %v, %s)", r.name, r.prefs.Meeting, r.prefs.Areas, r.programme, r.employer, r.prefs.SameDiscipline, r.email)
	offer, err := m.s.Enqueue(m.ctx, r.id)
	m.check(err, "enqueue")
	m.expectOffer("Enqueue", r, offer, false)
	return true
}

// expectOffer checks that an offer a call returned is the referral's open
// offer in the tables (and nil when it has none).
//
// A closed offer closed again returns the referral's live offer, accepted
// ones too (offerForReferral): accepted is true for that call.
func (m *model) expectOffer(call string, r *mReferral, got *referral.Offer, accepted bool) {
	m.t.Helper()
	now := m.read()
	live, ok := now.live[r.id]
	returned := ok && (live.state == referral.OfferOpen || accepted)
	switch {
	case got == nil && returned:
		m.failf("%s(%s) returned no offer; it has %s with %s", call, r.name, live.id, m.therapist[live.therapistID].name)
	case got != nil && (!returned || live.id != got.ID):
		m.failf("%s(%s) returned offer %s; the referral's live offer is %+v", call, r.name, got.ID, live)
	}
	if got != nil {
		m.logf("  %s offered %s", r.name, m.therapist[got.TherapistID].name)
	}
}

func (m *model) leave(what, status string, states ...string) bool {
	r, ok := pick(m.rng, m.referralsIn(states...))
	if !ok {
		return false
	}
	m.logf("%s: %s (%s)", what, r.name, m.db.queue[r.id].state)
	m.check(m.s.Leave(m.ctx, r.id), "leave")
	// As the referral's workflow records its end, so that the trainee
	// may refer themselves again.
	_, err := m.s.raw.Exec(m.ctx, `UPDATE referrals SET status = $2 WHERE id = $1`, r.id, status)
	m.check(err, "end referral")
	if m.rng.IntN(8) == 0 {
		m.check(m.s.Leave(m.ctx, r.id), "leave again")
	}
	return true
}

func (m *model) accept() bool {
	o, ok := pick(m.rng, m.offersIn(referral.OfferOpen))
	if !ok {
		return false
	}
	m.logf("accept: %s takes %s", m.therapist[o.therapistID].name, m.referral[o.referralID].name)
	m.check(m.s.AcceptOffer(m.ctx, o.id), "accept")
	if m.rng.IntN(8) == 0 {
		m.check(m.s.AcceptOffer(m.ctx, o.id), "accept again")
	}
	return true
}

func (m *model) closeOffer(outcome string) bool {
	o, ok := pick(m.rng, m.offersIn(referral.OfferOpen))
	if !ok {
		return false
	}
	r, th := m.referral[o.referralID], m.therapist[o.therapistID]
	code := referral.CodeOfferExpired
	if outcome == referral.OfferDeclined {
		code, _ = pick(m.rng, []string{referral.CodeTherapistCapacity, referral.CodeTherapistCapacity, referral.CodeTherapistConflict})
	}
	m.logf("%s: %s's offer to %s (%s)", outcome, th.name, r.name, code)
	m.excluded[[2]string{r.id, th.id}] = true
	if code == referral.CodeTherapistConflict {
		m.conflicted[[2]string{th.id, r.emailHash()}] = true
	}
	next, err := m.s.CloseOffer(m.ctx, o.id, outcome, code)
	m.check(err, "close offer")
	m.expectOffer("CloseOffer", r, next, false)
	return true
}

func (m *model) newTherapist() bool {
	n := len(m.therapists) + 1
	th := &mTherapist{name: fmt.Sprintf("T%d", n), capacity: m.rng.IntN(4), active: m.rng.IntN(10) > 0}
	switch m.rng.IntN(3) {
	case 0:
		th.online = true
	case 1:
		th.inPerson = true
	default:
		th.online, th.inPerson = true, true
	}
	if th.inPerson {
		th.areas = m.subset(modelAreas, 0.4)
	}
	th.discipline = m.subset(modelProgrammes, 0.4)
	if m.rng.IntN(3) == 0 {
		th.conflicts.Programmes = m.subset(modelProgrammes, 0.3)
		th.conflicts.Employers = m.subset(modelEmployers, 0.3)
	}
	th.ceiling = th.capacity
	out, err := m.s.CreateTherapist(m.ctx, committeeMember, referral.Therapist{
		Name: th.name, Email: fmt.Sprintf("therapist-%d@example.org", n), HCPCNumber: fmt.Sprintf("PYL%d", 7000+n),
		Capacity: th.capacity, Active: th.active, Online: th.online, InPerson: th.inPerson, Areas: th.areas,
		Disciplines: th.discipline, Conflicts: th.conflicts,
	})
	m.check(err, "create therapist")
	th.id = out.ID
	m.therapists = append(m.therapists, th)
	m.therapist[th.id] = th
	m.logf("new therapist %s: capacity %d active %v online %v in person %v %v disciplines %v conflicts %v",
		th.name, th.capacity, th.active, th.online, th.inPerson, th.areas, th.discipline, th.conflicts)
	return true
}

func (m *model) pause() bool {
	th, ok := pick(m.rng, m.therapistsWhere(func(th *mTherapist) bool { return th.active }))
	if !ok {
		return false
	}
	var until *referral.Date
	if m.rng.IntN(2) == 0 {
		until = &referral.Date{Year: 2030, Month: time.Month(1 + m.rng.IntN(12)), Day: 1 + m.rng.IntN(28)}
	}
	m.logf("away: %s until %v", th.name, until)
	_, err := m.s.PauseTherapist(m.ctx, committeeMember, th.id, until)
	m.check(err, "pause")
	th.active, th.awayUntil = false, until
	return true
}

func (m *model) resume() bool {
	th, ok := pick(m.rng, m.therapistsWhere(func(th *mTherapist) bool { return !th.active }))
	if !ok {
		return false
	}
	switch {
	case th.awayUntil != nil && m.rng.IntN(4) == 0:
		// A timer for a return date that was since changed.
		wrong := *th.awayUntil
		wrong.Year++
		m.logf("back on a stale date: %s", th.name)
		back, err := m.s.ReturnTherapist(m.ctx, th.id, wrong)
		m.check(err, "return on a stale date")
		if back {
			m.failf("%s came back on a date they were not away until", th.name)
		}
	case th.awayUntil != nil && m.rng.IntN(2) == 0:
		m.logf("back on their date: %s", th.name)
		back, err := m.s.ReturnTherapist(m.ctx, th.id, *th.awayUntil)
		m.check(err, "return")
		if back != !th.retired {
			m.failf("ReturnTherapist(%s) = %v, want %v (retired %v)", th.name, back, !th.retired, th.retired)
		}
		if back {
			th.active, th.awayUntil = true, nil
		}
	default:
		m.logf("back: %s", th.name)
		_, err := m.s.ResumeTherapist(m.ctx, committeeMember, th.id)
		m.check(err, "resume")
		th.active, th.awayUntil = true, nil
	}
	return true
}

// traineePauses pauses a waiting referral's place, or tries to pause one
// offered a place behind its workflow's back, which keeps its offer.
func (m *model) traineePauses() bool {
	r, ok := pick(m.rng, m.referralsIn("waiting", "offered"))
	if !ok {
		return false
	}
	state := m.db.queue[r.id].state
	m.logf("trainee pauses: %s (%s)", r.name, state)
	now := time.Now()
	got, err := m.s.Pause(m.ctx, r.id, now, now.Add(7*24*time.Hour))
	m.check(err, "pause")
	if (got != nil) != (state == "offered") {
		m.failf("Pause(%s), %s, returned offer %+v", r.name, state, got)
	}
	if got != nil {
		m.expectOffer("Pause", r, got, false)
	}
	return true
}

// traineeResumes gives a paused referral its place back: it takes a free
// place it can take at once.
func (m *model) traineeResumes() bool {
	r, ok := pick(m.rng, m.referralsIn("paused"))
	if !ok {
		return false
	}
	m.logf("trainee resumes: %s", r.name)
	m.resumed = r.id
	got, err := m.s.Resume(m.ctx, r.id, time.Now())
	m.check(err, "resume")
	m.expectOffer("Resume", r, got, false)
	return true
}

func (m *model) retire() bool {
	th, ok := pick(m.rng, m.therapistsWhere(func(th *mTherapist) bool { return !th.retired }))
	if !ok {
		return false
	}
	m.logf("retire: %s", th.name)
	_, err := m.s.RetireTherapist(m.ctx, committeeMember, th.id)
	m.check(err, "retire")
	th.retired, th.awayUntil = true, nil
	return true
}

func (m *model) capacity() bool {
	th, ok := pick(m.rng, m.therapists)
	if !ok {
		return false
	}
	c := m.rng.IntN(5)
	m.logf("capacity: %s %d -> %d (places used %d)", th.name, th.capacity, c, m.db.therapists[th.id].PlacesUsed)
	_, err := m.s.setCapacity(th.id, c)
	m.check(err, "set capacity")
	th.capacity = c
	th.ceiling = max(c, m.db.therapists[th.id].PlacesUsed)
	return true
}

func (m *model) changeWays() bool {
	th, ok := pick(m.rng, m.therapists)
	if !ok {
		return false
	}
	var p referral.TherapistPatch
	switch m.rng.IntN(3) {
	case 0:
		online, inPerson := m.rng.IntN(2) == 0, m.rng.IntN(2) == 0
		if !online && !inPerson {
			online = true
		}
		areas := m.subset(modelAreas, 0.5)
		p.Online, p.InPerson, p.Areas = &online, &inPerson, &areas
		th.online, th.inPerson, th.areas = online, inPerson, areas
		m.logf("change ways: %s online %v in person %v %v", th.name, online, inPerson, areas)
	case 1:
		c := referral.Conflicts{Programmes: m.subset(modelProgrammes, 0.3), Employers: m.subset(modelEmployers, 0.3)}
		p.Conflicts = &c
		th.conflicts = c
		m.logf("change conflicts: %s %v", th.name, c)
	default:
		d := m.subset(modelProgrammes, 0.4)
		p.Disciplines = &d
		th.discipline = d
		m.logf("change disciplines: %s %v", th.name, d)
	}
	_, err := m.s.UpdateTherapist(m.ctx, committeeMember, th.id, p)
	m.check(err, "update therapist")
	return true
}

func (m *model) reconcile() bool {
	r, ok := pick(m.rng, m.referralsIn("waiting", "offered", "matched"))
	if !ok {
		return false
	}
	m.logf("reconcile %s", r.name)
	got, err := m.s.Reconcile(m.ctx, r.id)
	m.check(err, "reconcile")
	m.expectOffer("Reconcile", r, got, false)
	return true
}

// stale answers an offer already closed, as a late click or a retried
// activity would: nothing changes.
func (m *model) stale() bool {
	o, ok := pick(m.rng, m.offersIn(referral.OfferDeclined, referral.OfferExpired, referral.OfferWithdrawn, referral.OfferEnded))
	if !ok {
		return false
	}
	r := m.referral[o.referralID]
	if m.rng.IntN(2) == 0 {
		m.logf("stale accept of %s's %s offer to %s", m.therapist[o.therapistID].name, o.state, r.name)
		if err := m.s.AcceptOffer(m.ctx, o.id); !errors.Is(err, referral.ErrConflict) {
			m.failf("accepting a %s offer: %v, want ErrConflict", o.state, err)
		}
		return true
	}
	outcome, _ := pick(m.rng, []string{referral.OfferDeclined, referral.OfferExpired})
	m.logf("stale %s of %s's %s offer to %s", outcome, m.therapist[o.therapistID].name, o.state, r.name)
	next, err := m.s.CloseOffer(m.ctx, o.id, outcome, referral.CodeTherapistConflict)
	m.check(err, "close a closed offer")
	m.expectOffer("CloseOffer (closed)", r, next, true)
	now := m.read()
	if !maps.Equal(now.offers, m.db.offers) || !maps.Equal(now.queue, m.db.queue) || !maps.Equal(now.conflicts, m.db.conflicts) {
		m.failf("closing a %s offer again changed the offers or the queue", o.state)
	}
	return true
}

func (m *model) checkInvariants(before, after snapshot) {
	m.t.Helper()
	// The register is what the model says it is.
	for _, th := range m.therapists {
		got := after.therapists[th.id]
		if got.Capacity != th.capacity || got.Active != th.active || (got.RetiredAt != nil) != th.retired ||
			got.Online != th.online || got.InPerson != th.inPerson || !slices.Equal(orNil(got.Areas), orNil(th.areas)) ||
			!slices.Equal(orNil(got.Disciplines), orNil(th.discipline)) ||
			!slices.Equal(orNil(got.Conflicts.Programmes), orNil(th.conflicts.Programmes)) ||
			!slices.Equal(orNil(got.Conflicts.Employers), orNil(th.conflicts.Employers)) ||
			!equalDate(got.AwayUntil, th.awayUntil) {
			m.failf("therapist %s is stored as %+v, the model has %+v", th.name, got, *th)
		}
	}
	if len(after.exclusions) != len(m.excluded) || len(after.conflicts) != len(m.conflicted) {
		m.failf("stored %d exclusions and %d conflicts of interest, the model has %d and %d",
			len(after.exclusions), len(after.conflicts), len(m.excluded), len(m.conflicted))
	}
	for k := range m.excluded {
		if !after.exclusions[k] {
			m.failf("exclusion of %s from %s not stored", m.therapist[k[1]].name, m.referral[k[0]].name)
		}
	}
	for k := range m.conflicted {
		if !after.conflicts[k] {
			m.failf("conflict of interest of %s not stored", m.therapist[k[0]].name)
		}
	}

	// The queue: every approved referral has a place in line, kept for
	// good, in approval order; its state agrees with its offers.
	last := int64(0)
	for _, r := range m.referrals {
		q, ok := after.queue[r.id]
		if !ok {
			m.failf("%s is not in the queue", r.name)
		}
		if q.position <= last {
			m.failf("%s is at position %d, behind a referral approved before it (%d)", r.name, q.position, last)
		}
		last = q.position
		if q.meeting != string(r.prefs.Meeting) || q.areas != strings.Join(r.prefs.Areas, ",") {
			m.failf("the queue has %s meeting %s in %q, the referral asked for %s in %v", r.name, q.meeting, q.areas, r.prefs.Meeting, r.prefs.Areas)
		}
		if b, ok := before.queue[r.id]; ok && b.position != q.position {
			m.failf("%s moved from position %d to %d", r.name, b.position, q.position)
		}
		live, hasLive := after.live[r.id]
		want := map[string]string{"waiting": "", "paused": "", "left": "", "offered": referral.OfferOpen, "matched": referral.OfferAccepted}[q.state]
		if (want == "") == hasLive || (hasLive && live.state != want) {
			m.failf("%s is %s in the queue with live offer %+v", r.name, q.state, live)
		}
		if b := before.queue[r.id]; b.state == "left" && q.state != "left" {
			m.failf("%s came back to the queue (%s) after leaving", r.name, q.state)
		}
	}

	// Places: places_used counts live offers; it is above capacity only
	// while a capacity lowered below the places then held takes effect,
	// and it never grows while it is.
	used := map[string]int{}
	for _, o := range after.live {
		used[o.therapistID]++
	}
	newOffers := map[string][]offerRow{} // by therapist
	for id, o := range after.offers {
		b, existed := before.offers[id]
		if !existed {
			newOffers[o.therapistID] = append(newOffers[o.therapistID], o)
			continue
		}
		if b.referralID != o.referralID || b.therapistID != o.therapistID || !validOfferMove(b.state, o.state) {
			m.failf("offer %s went from %+v to %+v", id, b, o)
		}
	}
	for _, th := range m.therapists {
		got := after.therapists[th.id]
		if got.PlacesUsed != used[th.id] {
			m.failf("%s has places_used %d and %d live offers", th.name, got.PlacesUsed, used[th.id])
		}
		if got.PlacesUsed > th.ceiling {
			m.failf("%s holds %d places with capacity %d (at most %d allowed while a lowered capacity takes effect)",
				th.name, got.PlacesUsed, th.capacity, th.ceiling)
		}
		if len(newOffers[th.id]) > 0 && got.PlacesUsed > th.capacity {
			m.failf("%s was offered %d new referrals and holds %d places with capacity %d", th.name, len(newOffers[th.id]), got.PlacesUsed, th.capacity)
		}
		th.ceiling = max(th.capacity, min(th.ceiling, got.PlacesUsed))
	}

	// Every new offer keeps the hard rules and goes to the longest-waiting
	// referral the therapist could take.
	for _, th := range m.therapists {
		for _, o := range newOffers[th.id] {
			r := m.referral[o.referralID]
			if o.state != referral.OfferOpen {
				m.failf("new offer %+v is not open", o)
			}
			if !m.canTake(r, th) {
				m.failf("%s was offered %s, who breaks a hard rule: therapist %+v, referral %+v, excluded %v, conflict of interest %v",
					r.name, th.name, *th, *r, m.excluded[[2]string{r.id, th.id}], m.conflicted[[2]string{th.id, r.emailHash()}])
			}
			if !mayBeOffered(before, after, r.id) && !(before.queue[r.id].state == "paused" && m.resumed == r.id) {
				m.failf("%s was offered %s from queue state %s", r.name, th.name, before.queue[r.id].state)
			}
			for _, q := range m.referralsIn("waiting") {
				if after.queue[q.id].position < after.queue[r.id].position && m.canTake(q, th) {
					m.failf("%s was offered %s while %s, who could take that place, waited longer", r.name, th.name, q.name)
				}
			}
			m.checkPreferred(before, r, th)
		}
	}

	// No free place is left that a waiting referral could take.
	for _, th := range m.therapists {
		if after.therapists[th.id].FreePlaces() == 0 {
			continue
		}
		for _, q := range m.referralsIn("waiting") {
			if m.canTake(q, th) {
				m.failf("%s has %d free places and %s, who could take one, waits", th.name, after.therapists[th.id].FreePlaces(), q.name)
			}
		}
	}
}

// checkPreferred checks, for a referral offered a therapist, that no other
// therapist free before this step, who could equally take it, was to be
// preferred: one of the trainee's own discipline when they asked for it,
// else one with more room. Preferences choose only among therapists who all
// pass the hard rules. (A place filled from the queue is chosen by the
// therapist's side, where the longest-waiting referral wins; for those the
// referral's alternatives were all full, or it would not have waited.)
func (m *model) checkPreferred(before snapshot, r *mReferral, chosen *mTherapist) {
	m.t.Helper()
	own := func(th *mTherapist) bool {
		return r.prefs.SameDiscipline && slices.Contains(th.discipline, r.programme)
	}
	room := func(th *mTherapist) int { return before.therapists[th.id].FreePlaces() }
	for _, th := range m.therapists {
		if th == chosen || room(th) == 0 || !m.canTake(r, th) {
			continue
		}
		if own(th) && !own(chosen) {
			m.failf("%s asked for their own discipline (%s) and was offered %s %v over %s %v", r.name, r.programme, chosen.name, chosen.discipline, th.name, th.discipline)
		}
		if own(th) == own(chosen) && room(th) > room(chosen) && room(chosen) > 0 {
			m.failf("%s was offered %s (%d free) over %s (%d free)", r.name, chosen.name, room(chosen), th.name, room(th))
		}
	}
}

// mayBeOffered is whether a referral could be given a new offer in a step:
// it was approved in it, was waiting, or had its open offer declined or
// expire in it.
func mayBeOffered(before, after snapshot, referralID string) bool {
	b, ok := before.queue[referralID]
	switch {
	case !ok || b.state == "waiting":
		return true
	case b.state == "offered":
		st := after.offers[before.live[referralID].id].state
		return st == referral.OfferDeclined || st == referral.OfferExpired
	}
	return false
}

// validOfferMove is whether an offer may go from one state to another
// within one step: open to any end, accepted to ended, or no change.
func validOfferMove(from, to string) bool {
	switch {
	case from == to:
		return true
	case from == referral.OfferOpen:
		return to != referral.OfferEnded
	case from == referral.OfferAccepted:
		return to == referral.OfferEnded
	}
	return false
}

func orNil(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

func equalDate(a, b *referral.Date) bool {
	return (a == nil) == (b == nil) && (a == nil || *a == *b)
}
