package postgres

import (
	"context"
	"fmt"
	"time"
)

// AuditEntry is one line of the audit log.
type AuditEntry struct {
	At         time.Time
	Actor      string
	Action     string
	ReferralID string // empty when the action concerns no one referral
	Status     int
}

// Audit appends an entry to the audit log.
func (db *DB) Audit(ctx context.Context, e AuditEntry) error {
	var referralID *string
	if e.ReferralID != "" {
		referralID = &e.ReferralID
	}
	_, err := db.pool.Exec(ctx, `INSERT INTO audit_log (actor, action, referral_id, status) VALUES ($1, $2, $3, $4)`,
		e.Actor, e.Action, referralID, e.Status)
	if err != nil {
		return fmt.Errorf("audit %s by %s: %w", e.Action, e.Actor, err)
	}
	return nil
}

// AuditTrail returns a referral's audit entries, oldest first.
func (db *DB) AuditTrail(ctx context.Context, referralID string) ([]AuditEntry, error) {
	rows, err := db.pool.Query(ctx, `SELECT at, actor, action, coalesce(referral_id::text, ''), status FROM audit_log WHERE referral_id = $1 ORDER BY id`, referralID)
	if err != nil {
		return nil, fmt.Errorf("audit trail of %s: %w", referralID, err)
	}
	defer rows.Close()
	var out []AuditEntry
	for rows.Next() {
		var e AuditEntry
		if err := rows.Scan(&e.At, &e.Actor, &e.Action, &e.ReferralID, &e.Status); err != nil {
			return nil, fmt.Errorf("audit trail of %s: %w", referralID, err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}
