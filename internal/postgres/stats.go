package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wmtna/referrals/internal/referral"
)

// Stats are the pipeline's figures for operators' dashboards: counts only,
// nothing about any one person.
type Stats struct {
	// ByStatus counts referrals per status; every known status is present,
	// with 0 when no referral has it.
	ByStatus map[referral.Status]int
	// Waiting is the number of referrals waiting in the queue for a place.
	Waiting int
	// OldestWait is how long the longest-waiting referral has been in the
	// queue (since its approval, when it took its place in line); 0 when
	// nobody waits.
	OldestWait time.Duration
	// FreePlaces is the sum of the free places of active therapists.
	FreePlaces int
	// Emails counts outbox messages by delivery state: pending, sent,
	// uncertain (sent, but a crash came between the server taking it and
	// our record) and failed.
	Emails map[string]int
}

// Stats reads the current figures in one snapshot.
func (db *DB) Stats(ctx context.Context) (Stats, error) {
	st := Stats{ByStatus: make(map[referral.Status]int, len(referral.Statuses))}
	for _, s := range referral.Statuses {
		st.ByStatus[s] = 0
	}
	// One snapshot for the three queries, so the figures agree.
	tx, err := db.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return st, fmt.Errorf("stats: %w", err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	rows, err := tx.Query(ctx, `SELECT status, count(*) FROM referrals GROUP BY status`)
	if err != nil {
		return st, fmt.Errorf("referrals by status: %w", err)
	}
	for rows.Next() {
		var status string
		var n int
		if err := rows.Scan(&status, &n); err != nil {
			rows.Close()
			return st, fmt.Errorf("referrals by status: %w", err)
		}
		st.ByStatus[referral.Status(status)] = n
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return st, fmt.Errorf("referrals by status: %w", err)
	}
	var oldest float64
	if err := tx.QueryRow(ctx, `
		SELECT count(*), coalesce(extract(epoch FROM now() - min(entered_at)), 0)::float8
		FROM queue WHERE state IN ('waiting', 'paused')`).Scan(&st.Waiting, &oldest); err != nil {
		return st, fmt.Errorf("waitlist: %w", err)
	}
	st.OldestWait = time.Duration(oldest * float64(time.Second))
	if err := tx.QueryRow(ctx, `
		SELECT coalesce(sum(capacity - places_used), 0) FROM therapists WHERE active`).Scan(&st.FreePlaces); err != nil {
		return st, fmt.Errorf("free places: %w", err)
	}
	st.Emails = map[string]int{}
	var pending, sent, uncertain, failed int
	if err := tx.QueryRow(ctx, `
		SELECT count(*) FILTER (WHERE sent_at IS NULL AND failed_at IS NULL),
		       count(*) FILTER (WHERE sent_at IS NOT NULL AND NOT uncertain),
		       count(*) FILTER (WHERE sent_at IS NOT NULL AND uncertain),
		       count(*) FILTER (WHERE failed_at IS NOT NULL AND sent_at IS NULL)
		FROM outbox`).Scan(&pending, &sent, &uncertain, &failed); err != nil {
		return st, fmt.Errorf("emails: %w", err)
	}
	st.Emails["pending"], st.Emails["sent"], st.Emails["uncertain"], st.Emails["failed"] = pending, sent, uncertain, failed
	return st, nil
}
