package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wmtna/referrals/internal/referral"
)

// allocationLock serialises every change to the queue and to therapists'
// places. With one allocator at a time the invariant that keeps waiting fair
// holds between transactions: a free place exists only where no waiting
// referral could take it. So a newly approved referral that finds a free
// place never takes it from someone who waited longer, and freeing a place
// only has to look at the head of the queue, never at every waiting referral.
const allocationLock = 0x574d544e41 // "WMTNA"

func (db *DB) allocate(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, allocationLock); err != nil {
			return fmt.Errorf("take allocation lock: %w", err)
		}
		return fn(tx)
	})
}

// Enqueue puts an approved referral in the queue, taking its place in line
// now, and offers it the best free therapist if there is one. It returns the
// referral's open offer, or nil when it waits. Calling it again returns the
// same result.
func (db *DB) Enqueue(ctx context.Context, referralID string) (offer *referral.Offer, err error) {
	err = db.allocate(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO queue (referral_id, state) VALUES ($1, 'waiting') ON CONFLICT (referral_id) DO NOTHING`, referralID); err != nil {
			return fmt.Errorf("join queue: %w", err)
		}
		offer, err = offerForReferral(ctx, tx, referralID)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("enqueue %s: %w", referralID, err)
	}
	return offer, nil
}

// canTake is the hard rules, as SQL over a referral r and a therapist t:
// the therapist is on the register and not away, can meet the trainee the
// way they asked, does not teach, supervise or work where the trainee
// does, has not passed on this referral, and has not declared a conflict
// of interest with this trainee. No preference ever outranks it.
var canTake = `t.active AND t.retired_at IS NULL AND ` + couldTakeAs("r", "t")

// couldTakeAs is canTake without the therapist's availability: whether
// therapist t, on the register, could ever take referral r (given as the
// names of their rows in the query).
func couldTakeAs(r, t string) string {
	return fmt.Sprintf(`can_meet(%[1]s.pref_meeting, %[1]s.pref_areas, %[2]s.online, %[2]s.in_person, %[2]s.areas)
	AND NOT (%[1]s.programme = ANY (%[2]s.conflict_programmes))
	AND NOT (%[1]s.employer = ANY (%[2]s.conflict_employers))
	AND NOT EXISTS (SELECT 1 FROM exclusions x WHERE x.referral_id = %[1]s.id AND x.therapist_id = %[2]s.id)
	AND NOT EXISTS (SELECT 1 FROM conflicts_of_interest c
		WHERE c.therapist_id = %[2]s.id AND c.email_hash = encode(sha256(convert_to(%[1]s.email_key, 'UTF8')), 'hex'))`, r, t)
}

// offerForReferral returns the referral's open offer, making one with the
// best free therapist when the referral is waiting. announced is true: the
// caller is the referral's own workflow, which learns of it from the result.
func offerForReferral(ctx context.Context, tx pgx.Tx, referralID string) (*referral.Offer, error) {
	if o, err := liveOffer(ctx, tx, referralID); err != nil || o != nil {
		return o, err
	}
	var state string
	if err := tx.QueryRow(ctx, `SELECT state FROM queue WHERE referral_id = $1`, referralID).Scan(&state); err != nil {
		return nil, fmt.Errorf("queue state: %w", notFound(err))
	}
	if state != "waiting" {
		return nil, nil
	}
	// The hard rules (canTake) first, then the trainee's wish for their own
	// discipline, then the therapist with most room, then the
	// longest-registered for a stable order.
	var therapistID string
	err := tx.QueryRow(ctx, `
		SELECT t.id FROM therapists t, referrals r
		WHERE r.id = $1 AND t.places_used < t.capacity AND `+canTake+`
		ORDER BY (r.pref_same_discipline AND r.programme = ANY (t.disciplines)) DESC,
		  t.capacity - t.places_used DESC, t.created_at, t.id
		LIMIT 1`, referralID).Scan(&therapistID)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("find therapist: %w", err)
	}
	return reserve(ctx, tx, referralID, therapistID, true)
}

// reserve takes one of the therapist's places for the referral and records
// the open offer. The guarded UPDATE refuses it outright if anything ever
// tried to go over capacity, or to offer a place of a therapist who is away
// or retired.
func reserve(ctx context.Context, tx pgx.Tx, referralID, therapistID string, announced bool) (*referral.Offer, error) {
	tag, err := tx.Exec(ctx, `
		UPDATE therapists SET places_used = places_used + 1
		WHERE id = $1 AND places_used < capacity AND active AND retired_at IS NULL`, therapistID)
	if err != nil {
		return nil, fmt.Errorf("reserve a place with %s: %w", therapistID, err)
	}
	if tag.RowsAffected() != 1 {
		return nil, fmt.Errorf("reserve a place with %s: no free place", therapistID)
	}
	o := referral.Offer{ID: NewID(), ReferralID: referralID, TherapistID: therapistID, State: referral.OfferOpen}
	if err := tx.QueryRow(ctx, `
		INSERT INTO offers (id, referral_id, therapist_id, state, announced) VALUES ($1, $2, $3, 'open', $4) RETURNING created_at`,
		o.ID, referralID, therapistID, announced).Scan(&o.CreatedAt); err != nil {
		return nil, fmt.Errorf("record offer: %w", err)
	}
	if _, err := tx.Exec(ctx, `UPDATE queue SET state = 'offered' WHERE referral_id = $1`, referralID); err != nil {
		return nil, fmt.Errorf("mark offered: %w", err)
	}
	return &o, nil
}

const offerColumns = `id, referral_id, therapist_id, state, created_at, expires_at`

func scanOffer(row pgx.Row) (referral.Offer, error) {
	var o referral.Offer
	var expires *time.Time
	err := row.Scan(&o.ID, &o.ReferralID, &o.TherapistID, &o.State, &o.CreatedAt, &expires)
	if expires != nil {
		o.ExpiresAt = *expires
	}
	return o, err
}

func liveOffer(ctx context.Context, tx pgx.Tx, referralID string) (*referral.Offer, error) {
	o, err := scanOffer(tx.QueryRow(ctx, `SELECT `+offerColumns+` FROM offers WHERE referral_id = $1 AND state IN ('open', 'accepted')`, referralID))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("live offer of %s: %w", referralID, err)
	}
	return &o, nil
}

// fillPlaces gives each free place of a therapist to the longest-waiting
// referral the therapist can take. The new offers are left unannounced: their
// referrals' workflows are told by Unannounced/MarkAnnounced after commit.
func fillPlaces(ctx context.Context, tx pgx.Tx, therapistID string) error {
	// Count the free places first: asking the queue for a therapist who is
	// full would walk every waiting referral to find none.
	var free int
	var online, inPerson bool
	var areas []string
	err := tx.QueryRow(ctx, `
		SELECT CASE WHEN active AND retired_at IS NULL THEN greatest(capacity - places_used, 0) ELSE 0 END, online, in_person, areas
		FROM therapists WHERE id = $1`, therapistID).Scan(&free, &online, &inPerson, &areas)
	if err != nil {
		return fmt.Errorf("free places of %s: %w", therapistID, notFound(err))
	}
	paths := meetingPaths(online, inPerson, len(areas) > 0)
	for ; free > 0; free-- {
		referralID, err := headOfQueue(ctx, tx, therapistID, paths)
		if err != nil {
			return fmt.Errorf("head of queue for %s: %w", therapistID, err)
		}
		if referralID == "" {
			return nil
		}
		if _, err := reserve(ctx, tx, referralID, therapistID, false); err != nil {
			return err
		}
	}
	return nil
}

// meetingPaths are the ways a waiting referral can meet a therapist who
// works online and/or in person (in some areas, or none), each as a
// condition on the queue's copy of how the referral can meet, and none
// overlapping another, so no referral is looked at twice. Each is the
// predicate of an index of its own (migration 00013), so a walk down one
// visits only referrals who could meet the therapist that way, however many
// wait who cannot. can_meet, in canTake, stays the rule: the paths only
// choose which referrals to look at, and between them cover every referral
// it allows.
func meetingPaths(online, inPerson, inAreas bool) []string {
	var paths []string
	if online {
		// Online, or either way: whatever areas they named.
		paths = append(paths, `q.meeting <> 'in_person'`)
	}
	switch {
	case online && inPerson && inAreas:
		paths = append(paths, `q.meeting = 'in_person' AND q.areas && t.areas`)
	case inPerson:
		paths = append(paths, `q.meeting = 'either' AND q.areas = '{}'`)
		if inAreas {
			paths = append(paths, `q.meeting <> 'online' AND q.areas <> '{}' AND q.areas && t.areas`)
		}
	}
	return paths
}

// headOfQueue returns the longest-waiting referral the therapist can take,
// or "" when there is none: the first along each path, each walk stopping
// at the best found so far.
func headOfQueue(ctx context.Context, tx pgx.Tx, therapistID string, paths []string) (string, error) {
	best, bestPos := "", int64(math.MaxInt64)
	for _, path := range paths {
		var id string
		var pos int64
		err := tx.QueryRow(ctx, `
			SELECT q.referral_id, q.position FROM therapists t, queue q JOIN referrals r ON r.id = q.referral_id
			WHERE t.id = $1 AND q.state = 'waiting' AND `+path+` AND q.position < $2 AND `+canTake+`
			ORDER BY q.position LIMIT 1`, therapistID, bestPos).Scan(&id, &pos)
		if errors.Is(err, pgx.ErrNoRows) {
			continue
		}
		if err != nil {
			return "", err
		}
		best, bestPos = id, pos
	}
	return best, nil
}

// fillAll fills the free places of every therapist, oldest registration
// first. It repairs the fairness invariant after anything that could have
// broken it without an allocation (a crash, a manual edit).
func fillAll(ctx context.Context, tx pgx.Tx) error {
	rows, err := tx.Query(ctx, `SELECT id FROM therapists WHERE active AND retired_at IS NULL AND places_used < capacity ORDER BY created_at, id`)
	if err != nil {
		return fmt.Errorf("therapists with free places: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("therapists with free places: %w", err)
	}
	for _, id := range ids {
		if err := fillPlaces(ctx, tx, id); err != nil {
			return err
		}
	}
	return nil
}

// Reconcile fills every free place from the queue and returns the
// referral's open offer, if it has one. A waiting referral's workflow calls
// it when nudged and, as a backstop, now and then.
func (db *DB) Reconcile(ctx context.Context, referralID string) (offer *referral.Offer, err error) {
	err = db.allocate(ctx, func(tx pgx.Tx) error {
		if err := fillAll(ctx, tx); err != nil {
			return err
		}
		o, err := liveOffer(ctx, tx, referralID)
		if o != nil && o.State == referral.OfferOpen {
			offer = o
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("reconcile %s: %w", referralID, err)
	}
	return offer, nil
}

// CloseOffer ends an open offer that was declined or expired: the therapist
// is not offered this referral again (nor, for a declared conflict of
// interest, this trainee ever again), their place goes to the head of the
// queue, and the referral (which keeps its place in line) is offered the
// next free therapist if there is one. It returns that next offer, or nil
// when the referral now waits. Closing an offer already closed is not an
// error, so a retried activity converges on the same result.
func (db *DB) CloseOffer(ctx context.Context, offerID, outcome, reasonCode string) (next *referral.Offer, err error) {
	if outcome != referral.OfferDeclined && outcome != referral.OfferExpired {
		return nil, fmt.Errorf("close offer %s: outcome %q is not declined or expired", offerID, outcome)
	}
	err = db.allocate(ctx, func(tx pgx.Tx) error {
		var referralID, therapistID, state string
		if err := tx.QueryRow(ctx, `SELECT referral_id, therapist_id, state FROM offers WHERE id = $1`, offerID).
			Scan(&referralID, &therapistID, &state); err != nil {
			return notFound(err)
		}
		if state == referral.OfferOpen {
			if err := release(ctx, tx, offerID, therapistID, outcome); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO exclusions (referral_id, therapist_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, referralID, therapistID); err != nil {
				return fmt.Errorf("exclude therapist: %w", err)
			}
			if reasonCode == referral.CodeTherapistConflict {
				if _, err := tx.Exec(ctx, `
					INSERT INTO conflicts_of_interest (therapist_id, email_hash)
					SELECT $2, encode(sha256(convert_to(email_key, 'UTF8')), 'hex') FROM referrals WHERE id = $1
					ON CONFLICT DO NOTHING`, referralID, therapistID); err != nil {
					return fmt.Errorf("record conflict of interest: %w", err)
				}
			}
			if _, err := tx.Exec(ctx, `UPDATE queue SET state = 'waiting' WHERE referral_id = $1 AND state = 'offered'`, referralID); err != nil {
				return fmt.Errorf("back to waiting: %w", err)
			}
			if err := fillPlaces(ctx, tx, therapistID); err != nil {
				return err
			}
		}
		var err error
		next, err = offerForReferral(ctx, tx, referralID)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("close offer %s as %s: %w", offerID, outcome, err)
	}
	return next, nil
}

// release frees the therapist's place held by an offer and gives the offer
// its final state.
func release(ctx context.Context, tx pgx.Tx, offerID, therapistID, state string) error {
	if _, err := tx.Exec(ctx, `UPDATE offers SET state = $2, closed_at = now(), answered_at = coalesce(answered_at, now()) WHERE id = $1`, offerID, state); err != nil {
		return fmt.Errorf("close offer: %w", err)
	}
	if _, err := tx.Exec(ctx, `UPDATE therapists SET places_used = places_used - 1 WHERE id = $1`, therapistID); err != nil {
		return fmt.Errorf("free a place with %s: %w", therapistID, err)
	}
	return nil
}

// AcceptOffer records that the therapist took the referral on. Accepting an
// offer already accepted is not an error; accepting one no longer open is
// referral.ErrConflict.
func (db *DB) AcceptOffer(ctx context.Context, offerID string) error {
	err := db.allocate(ctx, func(tx pgx.Tx) error {
		var referralID, state string
		if err := tx.QueryRow(ctx, `SELECT referral_id, state FROM offers WHERE id = $1`, offerID).Scan(&referralID, &state); err != nil {
			return notFound(err)
		}
		switch state {
		case referral.OfferAccepted:
			return nil
		case referral.OfferOpen:
		default:
			return fmt.Errorf("offer is %s: %w", state, referral.ErrConflict)
		}
		if _, err := tx.Exec(ctx, `UPDATE offers SET state = 'accepted', answered_at = now() WHERE id = $1`, offerID); err != nil {
			return fmt.Errorf("accept: %w", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE queue SET state = 'matched' WHERE referral_id = $1`, referralID); err != nil {
			return fmt.Errorf("mark matched: %w", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("accept offer %s: %w", offerID, err)
	}
	return nil
}

// Leave takes a referral out of the queue for good (withdrawn, lapsed, or
// therapy ended). An open offer is withdrawn and an accepted one ended; the
// place it held goes to the head of the queue. Leaving twice is harmless.
func (db *DB) Leave(ctx context.Context, referralID string) error {
	err := db.allocate(ctx, func(tx pgx.Tx) error {
		o, err := liveOffer(ctx, tx, referralID)
		if err != nil {
			return err
		}
		if o != nil {
			final := referral.OfferWithdrawn
			if o.State == referral.OfferAccepted {
				final = referral.OfferEnded
			}
			if err := release(ctx, tx, o.ID, o.TherapistID, final); err != nil {
				return err
			}
		}
		// A paused referral may leave too (withdrawn while paused).
		if _, err := tx.Exec(ctx, `UPDATE queue SET state = 'left', paused_at = NULL, paused_until = NULL WHERE referral_id = $1`, referralID); err != nil {
			return fmt.Errorf("leave queue: %w", err)
		}
		if o != nil {
			return fillPlaces(ctx, tx, o.TherapistID)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("%s leaves the queue: %w", referralID, err)
	}
	return nil
}

// Unannounced lists offers made by filling a freed place whose referrals'
// workflows have not yet been told.
func (db *DB) Unannounced(ctx context.Context, limit int) ([]referral.Offer, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+offerColumns+` FROM offers WHERE NOT announced ORDER BY created_at, id LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("unannounced offers: %w", err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (referral.Offer, error) { return scanOffer(row) })
}

// MarkAnnounced records that an offer's referral workflow has been told.
func (db *DB) MarkAnnounced(ctx context.Context, offerID string) error {
	if _, err := db.pool.Exec(ctx, `UPDATE offers SET announced = true WHERE id = $1`, offerID); err != nil {
		return fmt.Errorf("mark offer %s announced: %w", offerID, err)
	}
	return nil
}

// Offer loads one offer.
func (db *DB) Offer(ctx context.Context, offerID string) (referral.Offer, error) {
	o, err := scanOffer(db.pool.QueryRow(ctx, `SELECT `+offerColumns+` FROM offers WHERE id = $1`, offerID))
	if err != nil {
		return o, fmt.Errorf("load offer %s: %w", offerID, notFound(err))
	}
	return o, nil
}

// OpenOffers lists a therapist's open offers, oldest first.
func (db *DB) OpenOffers(ctx context.Context, therapistID string) ([]referral.Offer, error) {
	return db.TherapistOffers(ctx, therapistID, referral.OfferOpen)
}

// TherapistOffers lists a therapist's offers in one state (open offers, or
// accepted ones: their current clients), oldest first. An open offer is
// listed only once it has been made (referral.Offer.Made): one filled from
// the waitlist is open here before its referral's workflow has moved to
// offered, and an answer in that window would be refused.
func (db *DB) TherapistOffers(ctx context.Context, therapistID, state string) ([]referral.Offer, error) {
	rows, err := db.pool.Query(ctx, `
		SELECT `+offerColumns+` FROM offers
		WHERE therapist_id = $1 AND state = $2 AND (state <> 'open' OR expires_at IS NOT NULL)
		ORDER BY created_at`, therapistID, state)
	if err != nil {
		return nil, fmt.Errorf("%s offers of %s: %w", state, therapistID, err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (referral.Offer, error) { return scanOffer(row) })
}

// PastOffer is an offer whose therapy has ended, with when it began (the
// offer was accepted) and when it ended.
type PastOffer struct {
	referral.Offer
	StartedAt, EndedAt time.Time
}

// PastOffers lists a therapist's ended offers (their past clients), the
// most recently ended first.
func (db *DB) PastOffers(ctx context.Context, therapistID string) ([]PastOffer, error) {
	rows, err := db.pool.Query(ctx, `
		SELECT `+offerColumns+`, coalesce(answered_at, created_at), coalesce(closed_at, answered_at, created_at) FROM offers
		WHERE therapist_id = $1 AND state = 'ended'
		ORDER BY closed_at DESC NULLS LAST, id DESC`, therapistID)
	if err != nil {
		return nil, fmt.Errorf("ended offers of %s: %w", therapistID, err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (PastOffer, error) {
		var o PastOffer
		var expires *time.Time
		err := row.Scan(&o.ID, &o.ReferralID, &o.TherapistID, &o.State, &o.CreatedAt, &expires, &o.StartedAt, &o.EndedAt)
		if expires != nil {
			o.ExpiresAt = *expires
		}
		return o, err
	})
}

// LiveOffer returns the referral's open or accepted offer, or nil.
func (db *DB) LiveOffer(ctx context.Context, referralID string) (*referral.Offer, error) {
	var o *referral.Offer
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		var err error
		o, err = liveOffer(ctx, tx, referralID)
		return err
	})
	return o, err
}
