package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Delivery is an outbox message with its delivery state.
type Delivery struct {
	ID         int64
	ReferralID string // "" for messages about no referral (staff sign-in links)
	Recipient  string // "" once erased
	Kind       string
	Subject    string
	Body       string
	SendingAt  *time.Time
	SentAt     *time.Time
	FailedAt   *time.Time
	Uncertain  bool
	Attempts   int
}

// Undispatched returns up to limit messages whose delivery has not started,
// oldest first.
func (db *DB) Undispatched(ctx context.Context, limit int) ([]int64, error) {
	rows, err := db.pool.Query(ctx, `SELECT id FROM outbox WHERE dispatched_at IS NULL ORDER BY id LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("undispatched messages: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[int64])
}

// MarkDispatched records that the messages' delivery has started.
func (db *DB) MarkDispatched(ctx context.Context, ids []int64) error {
	if _, err := db.pool.Exec(ctx, `UPDATE outbox SET dispatched_at = now() WHERE id = ANY($1) AND dispatched_at IS NULL`, ids); err != nil {
		return fmt.Errorf("mark %d messages dispatched: %w", len(ids), err)
	}
	return nil
}

// Delivery loads a message for delivery.
func (db *DB) Delivery(ctx context.Context, id int64) (Delivery, error) {
	var d Delivery
	err := db.pool.QueryRow(ctx, `
		SELECT id, coalesce(referral_id::text, ''), recipient, kind, subject, body, sending_at, sent_at, failed_at, uncertain, attempts
		FROM outbox WHERE id = $1`, id).Scan(&d.ID, &d.ReferralID, &d.Recipient, &d.Kind, &d.Subject, &d.Body,
		&d.SendingAt, &d.SentAt, &d.FailedAt, &d.Uncertain, &d.Attempts)
	if err != nil {
		return d, fmt.Errorf("load message %d: %w", id, notFound(err))
	}
	return d, nil
}

// MarkSending records that the SMTP server has the whole message and is
// about to be told to accept it: from here on, a crash leaves it unknown
// whether the message went.
func (db *DB) MarkSending(ctx context.Context, id int64) error {
	tag, err := db.pool.Exec(ctx, `UPDATE outbox SET sending_at = now(), attempts = attempts + 1 WHERE id = $1 AND sent_at IS NULL AND sending_at IS NULL`, id)
	if err != nil {
		return fmt.Errorf("mark message %d sending: %w", id, err)
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("mark message %d sending: it is already sending or sent", id)
	}
	return nil
}

// ClearSending undoes MarkSending when the server definitely refused the
// message, so that a retry sends it.
func (db *DB) ClearSending(ctx context.Context, id int64) error {
	if _, err := db.pool.Exec(ctx, `UPDATE outbox SET sending_at = NULL WHERE id = $1 AND sent_at IS NULL`, id); err != nil {
		return fmt.Errorf("clear message %d sending: %w", id, err)
	}
	return nil
}

// spentBody is a message's body once it has gone: a sign-in email, or one
// asking to confirm an address, loses its link's secret, which is stored
// nowhere else but as a hash, so the outbox does not keep a way in. The
// rest of the body stays, for the record.
const spentBody = `CASE
	WHEN kind LIKE 'sign-in.%' THEN regexp_replace(body, '/sign-in/[A-Za-z0-9_-]+', '/sign-in/(sent)', 'g')
	WHEN kind LIKE 'confirm.%' THEN regexp_replace(body, '/confirm/[A-Za-z0-9_-]+', '/confirm/(sent)', 'g')
	ELSE body END`

// MarkSent records a message as delivered; uncertain when a crash may have
// come between the server accepting it and this record.
func (db *DB) MarkSent(ctx context.Context, id int64, uncertain bool) error {
	if _, err := db.pool.Exec(ctx, `UPDATE outbox SET sent_at = now(), uncertain = $2, body = `+spentBody+` WHERE id = $1 AND sent_at IS NULL`, id, uncertain); err != nil {
		return fmt.Errorf("mark message %d sent: %w", id, err)
	}
	return nil
}

// MarkFailed records that a message will not be delivered.
func (db *DB) MarkFailed(ctx context.Context, id int64) error {
	if _, err := db.pool.Exec(ctx, `UPDATE outbox SET failed_at = now(), body = `+spentBody+` WHERE id = $1 AND sent_at IS NULL AND failed_at IS NULL`, id); err != nil {
		return fmt.Errorf("mark message %d failed: %w", id, err)
	}
	return nil
}

// PendingMessages counts messages neither sent nor given up on.
func (db *DB) PendingMessages(ctx context.Context) (int, error) {
	var n int
	if err := db.pool.QueryRow(ctx, `SELECT count(*) FROM outbox WHERE sent_at IS NULL AND failed_at IS NULL`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count pending messages: %w", err)
	}
	return n, nil
}
