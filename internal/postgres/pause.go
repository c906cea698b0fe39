package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wmtna/referrals/internal/referral"
)

// Pause takes a waiting referral out of the offers from at until until,
// keeping its position in the queue. When a place was offered to it
// before the pause (the workflow not yet told), it returns that offer and
// does not pause: the offer stands. Pausing a paused referral again
// changes nothing, so a retried activity converges.
func (db *DB) Pause(ctx context.Context, referralID string, at, until time.Time) (offer *referral.Offer, err error) {
	err = db.allocate(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `
			UPDATE queue SET state = 'paused', paused_at = $2, paused_until = $3
			WHERE referral_id = $1 AND state = 'waiting'`, referralID, at, until)
		if err != nil || tag.RowsAffected() == 1 {
			return err
		}
		var state string
		if err := tx.QueryRow(ctx, `SELECT state FROM queue WHERE referral_id = $1`, referralID).Scan(&state); err != nil {
			return fmt.Errorf("queue state: %w", notFound(err))
		}
		switch state {
		case "paused":
			return nil
		case "offered":
			offer, err = liveOffer(ctx, tx, referralID)
			return err
		}
		return fmt.Errorf("a referral %s cannot pause: %w", state, referral.ErrConflict)
	})
	if err != nil {
		return nil, fmt.Errorf("pause %s: %w", referralID, err)
	}
	return offer, nil
}

// Resume puts a paused referral back among the waiting, at the position it
// always had, adding the pause to its paused time, and offers it a free
// place if one is there for it (none could be taken by anyone waiting
// longer: see allocationLock). It returns the referral's open offer, nil
// when it waits. Resuming again returns the same.
func (db *DB) Resume(ctx context.Context, referralID string, at time.Time) (offer *referral.Offer, err error) {
	err = db.allocate(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `
			UPDATE queue SET state = 'waiting', paused_for = paused_for + greatest($2::timestamptz - paused_at, interval '0'),
				paused_at = NULL, paused_until = NULL
			WHERE referral_id = $1 AND state = 'paused'`, referralID, at); err != nil {
			return fmt.Errorf("back in line: %w", err)
		}
		offer, err = offerForReferral(ctx, tx, referralID)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("resume %s: %w", referralID, err)
	}
	return offer, nil
}
