package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wmtna/referrals/internal/postgres"
	"github.com/wmtna/referrals/internal/postgres/postgrestest"
	"github.com/wmtna/referrals/internal/referral"
)

// BenchmarkQueueWakeUp times, in the store alone, the allocation that runs
// when a therapist's place is freed or changed, with W referrals waiting, in
// two queues measured side by side in the same run:
//
//   - mixed: the trainees ask for what trainees ask for: half either way
//     (three in four of them naming no area, the others one area), a
//     quarter online only, a quarter in person only in one of the 14
//     areas, in a round-robin so every stretch of the queue has the same
//     mix; two in three trainees are clinical, one in three counselling;
//   - compatible: every trainee either way with no area, so the head of the
//     queue can always take a freed place (the shape before issue 13, when
//     preferences only broke ties);
//   - in_person_backlog: what is left waiting once everyone who can meet
//     online, or in person anywhere, has been placed: trainees who must
//     meet in person, each in one of the 14 areas in turn. A place freed
//     with an online-only therapist is one that nobody waiting can take.
//
// The cases:
//
//   - in_person_freed: a client of a therapist who sees people in person
//     only, in Stoke-on-Trent, finishes (Leave); the head-of-queue walk
//     skips everyone who cannot meet them (online only, in person
//     elsewhere) and offers the place to the first who can;
//   - online_freed: the same for a therapist who works online only;
//   - full_changed: a change to a full therapist (a rename), which places
//     nobody;
//   - nobody_can_take: a place is freed that no waiting referral can take
//     (the therapist conflicts with every trainee's programme): the walk
//     visits the whole queue. Pathological, for the bound.
//
// When nobody takes the freed place it is given back to a new client of
// the therapist's own, with the timer stopped.
//
// Between ops, with the timer stopped, the referral just offered a place
// accepts it (so it is the client who finishes next time) and one new
// referral of the queue's mix joins the tail, keeping W. Around 40 full
// therapists of mixed ways are on the register, as the allocator sees in
// real life.
//
//	go test ./internal/postgres/ -run '^$' -bench QueueWakeUp -benchtime 40x
func BenchmarkQueueWakeUp(b *testing.B) {
	ctx := context.Background()
	shapes := []*wakeQueue{newWakeQueue(b, "mixed"), newWakeQueue(b, "compatible"), newWakeQueue(b, "in_person_backlog")}
	for _, w := range []int{100, 1000, 10000} {
		for _, q := range shapes {
			q.topUp(b, w)
			for _, c := range []struct {
				name string
				th   *wakeTherapist
			}{
				{"in_person_freed", q.inPerson}, {"online_freed", q.online}, {"full_changed", q.full}, {"nobody_can_take", q.nobody},
			} {
				b.Run(fmt.Sprintf("waiting=%d/%s/%s", w, q.shape, c.name), func(b *testing.B) {
					var lat []time.Duration
					for i := range b.N {
						b.StopTimer()
						q.topUp(b, w)
						began := time.Now()
						b.StartTimer()
						var err error
						if c.name == "full_changed" {
							name := fmt.Sprintf("Dr Full %d", i)
							_, err = q.db.UpdateTherapist(ctx, committeeMember, c.th.id, referral.TherapistPatch{Name: &name})
						} else {
							err = q.db.Leave(ctx, c.th.client)
						}
						b.StopTimer()
						lat = append(lat, time.Since(began))
						if err != nil {
							b.Fatal(err)
						}
						if c.name != "full_changed" {
							q.acceptNext(b, c.th)
						}
						b.StartTimer()
					}
					b.StopTimer()
					b.ReportMetric(percentileMS(lat, 50), "p50_ms")
					b.ReportMetric(percentileMS(lat, 95), "p95_ms")
				})
			}
		}
	}
}

func percentileMS(d []time.Duration, p float64) float64 {
	d = slices.Clone(d)
	slices.Sort(d)
	i := max(int(math.Ceil(p/100*float64(len(d))))-1, 0)
	return float64(d[i]) / float64(time.Millisecond)
}

// wakeQueue is one database with a queue of one shape.
type wakeQueue struct {
	shape                          string
	db                             *postgres.DB
	raw                            *pgxpool.Pool
	next                           int // the generator's counter: which row of the mix comes next
	inPerson, online, full, nobody *wakeTherapist
}

type wakeTherapist struct {
	id     string
	client string // the referral holding its one place
}

func newWakeQueue(b *testing.B, shape string) *wakeQueue {
	ctx := context.Background()
	db, url := postgrestest.Open(b, "")
	raw, err := pgxpool.New(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(raw.Close)
	q := &wakeQueue{shape: shape, db: db, raw: raw}
	n := 0
	// therapist registers a therapist with one place and gives it to a
	// client of its own, before anyone waits.
	therapist := func(online, inPerson bool, areas, conflicts []string) *wakeTherapist {
		n++
		th, err := db.CreateTherapist(ctx, committeeMember, referral.Therapist{
			Name: fmt.Sprintf("Dr %d", n), Email: fmt.Sprintf("dr%d@example.org", n), HCPCNumber: fmt.Sprintf("PYL9%04d", n),
			Capacity: 1, Active: true, Online: online, InPerson: inPerson, Areas: areas,
			Conflicts: referral.Conflicts{Programmes: conflicts},
		})
		if err != nil {
			b.Fatal(err)
		}
		r, _, err := db.CreateReferral(ctx, submission(trainee{programme: "forensic"}, fmt.Sprintf("client%d@example.org", n)), time.Now(), "", "fp")
		if err != nil {
			b.Fatal(err)
		}
		o, err := db.Enqueue(ctx, r.ID)
		if err != nil || o == nil || o.TherapistID != th.ID {
			b.Fatalf("client of therapist %d: %+v %v", n, o, err)
		}
		if err := db.AcceptOffer(ctx, o.ID); err != nil {
			b.Fatal(err)
		}
		return &wakeTherapist{id: th.ID, client: r.ID}
	}
	q.inPerson = therapist(false, true, []string{"stoke-on-trent"}, nil)
	q.online = therapist(true, false, nil, nil)
	q.full = therapist(true, true, []string{"birmingham"}, nil)
	q.nobody = therapist(true, true, []string{"coventry"}, []string{"clinical", "counselling"})
	for i := range 40 {
		area := wakeAreas[i%len(wakeAreas)]
		switch i % 3 {
		case 0:
			therapist(true, false, nil, nil)
		case 1:
			therapist(false, true, []string{area}, nil)
		default:
			therapist(true, true, []string{area, wakeAreas[(i+5)%len(wakeAreas)]}, nil)
		}
	}
	return q
}

var wakeAreas = []string{"birmingham", "coventry", "dudley", "herefordshire", "sandwell", "shropshire", "solihull",
	"staffordshire", "stoke-on-trent", "telford-and-wrekin", "walsall", "warwickshire", "wolverhampton", "worcestershire"}

// topUp adds referrals of the queue's mix at the tail until w wait.
func (q *wakeQueue) topUp(b *testing.B, w int) {
	ctx := context.Background()
	var have int
	if err := q.raw.QueryRow(ctx, `SELECT count(*) FROM queue WHERE state = 'waiting'`).Scan(&have); err != nil {
		b.Fatal(err)
	}
	if have >= w {
		return
	}
	// Row g of the mixed queue: of every 8, 3 either way with no area, 1
	// either way with an area, 2 online only, 2 in person only in one area.
	if _, err := q.raw.Exec(ctx, `
		WITH s AS (
			SELECT g,
			       CASE $3 WHEN 'compatible' THEN 'either' WHEN 'in_person_backlog' THEN 'in_person'
			         ELSE CASE WHEN g % 8 < 4 THEN 'either' WHEN g % 8 < 6 THEN 'online' ELSE 'in_person' END END AS meeting,
			       CASE $3 WHEN 'compatible' THEN '{}' WHEN 'in_person_backlog' THEN ARRAY[($4::text[])[1 + g % 14]]
			         ELSE CASE WHEN g % 8 = 3 OR g % 8 >= 6 THEN ARRAY[($4::text[])[1 + (g / 8) % 14]] ELSE '{}' END END AS areas
			FROM generate_series($1::int, $1::int + $2::int - 1) g),
		r AS (
			INSERT INTO referrals (id, name, email, email_key, programme, employer, training_start, concerns,
			                       request_fingerprint, status, eligible, eligibility_reason, cutoff, last_seq, pref_meeting, pref_areas)
			SELECT gen_random_uuid(), 'Bulk Waiting', e, e, CASE WHEN g % 3 = 0 THEN 'counselling' ELSE 'clinical' END, 'RXT',
			       DATE '2025-10-01', 'bulk row', 'bulk', 'waitlisted', true, 'eligible', DATE '2028-07-01', 3, meeting, areas
			FROM (SELECT *, format('bulk%s@nhs.example', g) AS e FROM s) s
			ORDER BY g
			RETURNING id)
		INSERT INTO queue (referral_id, state) SELECT id, 'waiting' FROM r`, q.next, w-have, q.shape, wakeAreas); err != nil {
		b.Fatal(err)
	}
	q.next += w - have
	if w-have > 50 {
		// As autovacuum would soon after a load like this.
		if _, err := q.raw.Exec(ctx, `VACUUM ANALYZE queue, referrals, offers, therapists`); err != nil {
			b.Fatal(err)
		}
	}
}

// acceptNext has the referral just offered the therapist's place accept
// it, so that it is the client who finishes next time. A place nobody took
// goes back to a new client of its own, as in the setup.
func (q *wakeQueue) acceptNext(b *testing.B, th *wakeTherapist) {
	ctx := context.Background()
	var offerID, referralID string
	err := q.raw.QueryRow(ctx, `SELECT id::text, referral_id::text FROM offers WHERE therapist_id = $1 AND state = 'open'`, th.id).Scan(&offerID, &referralID)
	if errors.Is(err, pgx.ErrNoRows) {
		q.next++
		r, _, err := q.db.CreateReferral(ctx, submission(trainee{programme: "forensic"}, fmt.Sprintf("client-again%d@example.org", q.next)), time.Now(), "", "fp")
		if err != nil {
			b.Fatal(err)
		}
		if o, err := q.db.Enqueue(ctx, r.ID); err != nil || o == nil || o.TherapistID != th.id {
			b.Fatalf("new client: %+v %v", o, err)
		} else if err := q.db.AcceptOffer(ctx, o.ID); err != nil {
			b.Fatal(err)
		}
		th.client = r.ID
		return
	}
	if err != nil {
		b.Fatalf("offer of the freed place: %v", err)
	}
	if err := q.db.AcceptOffer(ctx, offerID); err != nil {
		b.Fatal(err)
	}
	th.client = referralID
}
