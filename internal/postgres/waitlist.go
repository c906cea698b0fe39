package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/wmtna/referrals/internal/referral"
)

// Waitlist returns the referrals waiting for a place, longest-waiting first,
// with the time each joined the queue (its approval).
func (db *DB) Waitlist(ctx context.Context, limit int) ([]referral.Waiting, error) {
	rows, err := db.pool.Query(ctx, `
		SELECT q.referral_id::text, row_number() OVER (ORDER BY q.position)::int, q.entered_at, r.programme, r.employer, r.at_risk
		FROM queue q JOIN referrals r ON r.id = q.referral_id
		WHERE q.state = 'waiting' AND r.status = 'waitlisted'
		ORDER BY q.position LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("load waitlist: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[referral.Waiting])
	if err != nil {
		return nil, fmt.Errorf("load waitlist: %w", err)
	}
	return out, nil
}
