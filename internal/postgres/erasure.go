package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wmtna/referrals/internal/referral"
)

// Why a referral's personal details were erased.
const (
	ErasureRetention = "retention" // its retention period after it ended passed
	ErasureRequest   = "request"   // the trainee asked (right to erasure)
)

// terminalStatuses is referral.Status.Terminal as SQL.
const terminalStatuses = `('ineligible', 'declined', 'ended', 'withdrawn', 'lapsed', 'closed_no_response')`

// EraseReferral erases a finished referral's personal details in one
// transaction: the trainee's name, email, concerns and preferred location,
// the idempotency key and request fingerprint derived from them, the text of
// every note about it, the recipient and body of every message about it,
// the trainee's conflicts of interest unless another referral not yet
// erased still stores their address; and it revokes the trainee's tokens. What statistics need stays: the
// status, programme, employer, training dates, eligibility and the events.
// The erasure itself is recorded in erasures.
//
// Erasing a referral already erased changes and records nothing and returns
// erased=false. A referral still open is referral.ErrConflict (withdraw it
// first); an unknown one is referral.ErrNotFound.
func (db *DB) EraseReferral(ctx context.Context, referralID, requestedBy, reason string) (erased bool, err error) {
	if reason != ErasureRetention && reason != ErasureRequest {
		return false, fmt.Errorf("erase referral %s: unknown reason %q", referralID, reason)
	}
	err = pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		var status string
		var erasedAt *time.Time
		if err := tx.QueryRow(ctx, `SELECT status, erased_at FROM referrals WHERE id = $1 FOR UPDATE`, referralID).Scan(&status, &erasedAt); err != nil {
			return notFound(err)
		}
		if erasedAt != nil {
			return nil
		}
		if !referral.Status(status).Terminal() {
			return fmt.Errorf("the referral is %s, not finished: %w", status, referral.ErrConflict)
		}
		steps := []struct {
			what, sql string
		}{
			// A conflict of interest is keyed by an unsalted hash of the
			// address, which anyone can compute from a guess; it may stay
			// only while a referral still stores the address itself (it
			// then holds for that referral too). With the last one it goes,
			// before the key it is matched by is overwritten below.
			{"conflicts of interest", `DELETE FROM conflicts_of_interest c
				USING referrals r
				WHERE r.id = $1 AND c.email_hash = encode(sha256(convert_to(r.email_key, 'UTF8')), 'hex')
				  AND NOT EXISTS (SELECT 1 FROM referrals o WHERE o.email_key = r.email_key AND o.id <> r.id AND o.erased_at IS NULL)`},
			{"referral", `UPDATE referrals SET name = '', email = '', email_key = 'erased:' || id::text, concerns = '',
				pref_areas = '{}', pref_note = '', employer_name = '', idempotency_key = NULL, request_fingerprint = '', erased_at = now(), updated_at = now()
				WHERE id = $1`},
			{"notes", `UPDATE referral_notes SET body = '' WHERE referral_id = $1 AND body <> ''`},
			{"outbox", `UPDATE outbox SET recipient = '', body = '' WHERE referral_id = $1 AND (recipient <> '' OR body <> '')`},
			{"tokens", `UPDATE tokens SET revoked_at = now() WHERE role = 'trainee' AND subject = $1::text AND revoked_at IS NULL`},
			// No follow-up is sent to an erased referral, and no link
			// it was sent still works.
			{"follow-ups", `DELETE FROM follow_up_invitations WHERE referral_id = $1`},
		}
		for _, s := range steps {
			if _, err := tx.Exec(ctx, s.sql, referralID); err != nil {
				return fmt.Errorf("erase %s: %w", s.what, err)
			}
		}
		if _, err := tx.Exec(ctx, `INSERT INTO erasures (referral_id, requested_by, reason) VALUES ($1, $2, $3)`,
			referralID, requestedBy, reason); err != nil {
			return fmt.Errorf("record erasure: %w", err)
		}
		erased = true
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("erase referral %s: %w", referralID, err)
	}
	return erased, nil
}

// ExpiredReferrals lists up to limit finished referrals, not yet erased,
// that ended more than retention ago, the longest-ended first.
func (db *DB) ExpiredReferrals(ctx context.Context, retention time.Duration, limit int) ([]string, error) {
	rows, err := db.pool.Query(ctx, `
		SELECT id::text FROM referrals
		WHERE erased_at IS NULL AND ended_at IS NOT NULL AND ended_at < now() - $1::interval
			AND status IN `+terminalStatuses+`
		ORDER BY ended_at, id LIMIT $2`, retention, limit)
	if err != nil {
		return nil, fmt.Errorf("expired referrals: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("expired referrals: %w", err)
	}
	return ids, nil
}

// Erasure is the record of one erasure.
type Erasure struct {
	ReferralID  string
	RequestedBy string
	Reason      string
	At          time.Time
}

// Erasure returns the record of a referral's erasure, or nil if it has not
// been erased.
func (db *DB) Erasure(ctx context.Context, referralID string) (*Erasure, error) {
	var e Erasure
	err := db.pool.QueryRow(ctx, `SELECT referral_id::text, requested_by, reason, at FROM erasures WHERE referral_id = $1`, referralID).
		Scan(&e.ReferralID, &e.RequestedBy, &e.Reason, &e.At)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load erasure of %s: %w", referralID, err)
	}
	return &e, nil
}
