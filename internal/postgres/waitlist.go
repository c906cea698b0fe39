package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wmtna/referrals/internal/referral"
)

// Waitlist returns a page of the referrals waiting for a place,
// longest-waiting first, after the queue position after (0 for the first
// page), with the time each joined the queue (its approval) and how many
// therapists on the register could ever take it (away ones included, full
// or not): none means no one can, whatever is freed, until the register
// changes or the committee and the trainee talk about how they could meet.
// Positions count from the head of the queue, whichever page this is.
// A paused referral is on the list, in its position, with its pause.
func (db *DB) Waitlist(ctx context.Context, after int64, limit int) ([]referral.Waiting, error) {
	const waiting = `FROM queue q JOIN referrals r ON r.id = q.referral_id WHERE q.state IN ('waiting', 'paused') AND r.status = 'waitlisted'`
	var ahead int
	if after > 0 {
		if err := db.pool.QueryRow(ctx, `SELECT count(*)::int `+waiting+` AND q.position <= $1`, after).Scan(&ahead); err != nil {
			return nil, fmt.Errorf("count the waitlist before %d: %w", after, err)
		}
	}
	rows, err := db.pool.Query(ctx, `
		SELECT q.referral_id::text, $3::int + row_number() OVER (ORDER BY q.position)::int, q.entered_at, r.programme, r.employer, r.at_risk,
			(SELECT count(*) FROM therapists t WHERE t.retired_at IS NULL AND `+couldTakeAs("r", "t")+`)::int, q.position,
			q.paused_until, `+pausedFor("q")+`
		`+waiting+` AND q.position > $1
		ORDER BY q.position LIMIT $2`, after, limit, ahead)
	if err != nil {
		return nil, fmt.Errorf("load waitlist: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[referral.Waiting])
	if err != nil {
		return nil, fmt.Errorf("load waitlist: %w", err)
	}
	return out, nil
}

// pausedFor is the paused time of a queue row's pauses already over, in
// nanoseconds, as a time.Duration scans.
func pausedFor(q string) string {
	return fmt.Sprintf(`(extract(epoch FROM %s.paused_for) * 1e9)::bigint`, q)
}

// Standing is where a waiting referral stands: how many referrals wait
// ahead of it for a therapist it could also take (those behind, or waiting
// only for therapists it cannot meet, are not ahead of it; those ahead who
// paused their place are, as they keep it), how many therapists on the
// register could take it, and its own pause: until when, while paused, and
// how long its pauses already over lasted.
type Standing struct {
	Ahead       int
	Therapists  int
	PausedUntil *time.Time
	PausedFor   time.Duration
}

// Standing says where a waiting referral stands; ok is false when it is
// not waiting.
func (db *DB) Standing(ctx context.Context, referralID string) (st Standing, ok bool, err error) {
	err = db.pool.QueryRow(ctx, `
		WITH me AS (
			SELECT q.position, q.paused_until, `+pausedFor("q")+` AS paused_for, r.* FROM queue q JOIN referrals r ON r.id = q.referral_id
			WHERE q.referral_id = $1 AND q.state IN ('waiting', 'paused'))
		SELECT
			(SELECT count(*) FROM queue q2 JOIN referrals r2 ON r2.id = q2.referral_id
			 WHERE q2.state IN ('waiting', 'paused') AND q2.position < me.position
			   AND EXISTS (SELECT 1 FROM therapists t WHERE t.retired_at IS NULL
			               AND `+couldTakeAs("me", "t")+` AND `+couldTakeAs("r2", "t")+`))::int,
			(SELECT count(*) FROM therapists t WHERE t.retired_at IS NULL AND `+couldTakeAs("me", "t")+`)::int,
			me.paused_until, me.paused_for
		FROM me`, referralID).Scan(&st.Ahead, &st.Therapists, &st.PausedUntil, &st.PausedFor)
	if errors.Is(err, pgx.ErrNoRows) {
		return st, false, nil
	}
	if err != nil {
		return st, false, fmt.Errorf("standing of %s: %w", referralID, err)
	}
	return st, true, nil
}

// RecentWaits is how long the last n referrals offered a place had waited
// for their first offer, from joining the queue: the median, and how many
// it rests on (fewer than n while few have been offered one).
func (db *DB) RecentWaits(ctx context.Context, n int) (median time.Duration, of int, err error) {
	var secs *float64
	err = db.pool.QueryRow(ctx, `
		SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY waited), count(*)::int FROM (
			SELECT extract(epoch FROM o.created_at - q.entered_at) AS waited
			FROM (SELECT DISTINCT ON (referral_id) referral_id, created_at FROM offers ORDER BY referral_id, created_at) o
			JOIN queue q ON q.referral_id = o.referral_id
			ORDER BY o.created_at DESC LIMIT $1) recent`, n).Scan(&secs, &of)
	if err != nil {
		return 0, 0, fmt.Errorf("recent waits: %w", err)
	}
	if secs != nil {
		median = time.Duration(*secs * float64(time.Second))
	}
	return median, of, nil
}
