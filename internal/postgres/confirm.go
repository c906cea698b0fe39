package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wmtna/referrals/internal/referral"
)

// Unconfirmed is a self-referral to keep until its address is confirmed.
type Unconfirmed struct {
	Submission  referral.Submission
	SubmittedAt time.Time // by the service's clock: eligibility is judged on its day
	// IdempotencyKey and Fingerprint make a replay answer as the first
	// request did; the same key with another request is ErrConflict.
	IdempotencyKey, Fingerprint string
	// ConfirmFor is how long the link to confirm works; SignInFor, how long
	// the sign-in link to an open referral does.
	ConfirmFor, SignInFor time.Duration
	// PerHour caps the emails submissions send one address in an hour:
	// past it a submission is answered as any other and sends nothing, so
	// nobody can flood a person's inbox from the form. 0 is no cap.
	PerHour int
}

// ConfirmLetter writes the email a submission sends: the link to confirm
// the address (open is ""), or, when the address already has an open
// referral, a link signing its trainee in to it (open is its ID). secret is
// the link's; only its hash is stored.
type ConfirmLetter func(open, secret string) (Message, error)

// StoreUnconfirmed keeps a submission until its address is confirmed and
// writes, in the same transaction, the one email it sends (see
// ConfirmLetter). Both cases do the same work and answer alike, so the
// caller cannot learn whether the address has an open referral. A replay
// (same key and request) writes nothing and reports replay; nor does a
// submission past the address's cap (PerHour), which reports nothing.
func (db *DB) StoreUnconfirmed(ctx context.Context, u Unconfirmed, letter ConfirmLetter) (replay bool, err error) {
	if u.SubmittedAt.IsZero() {
		return false, errors.New("store unconfirmed referral: no submission time")
	}
	var key *string
	if u.IdempotencyKey != "" {
		key = &u.IdempotencyKey
	}
	err = pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if key != nil {
			var fp string
			err := tx.QueryRow(ctx, `SELECT request_fingerprint FROM unconfirmed_referrals WHERE idempotency_key = $1`, *key).Scan(&fp)
			switch {
			case err == nil && fp != u.Fingerprint:
				return fmt.Errorf("idempotency key reused with a different request: %w", referral.ErrConflict)
			case err == nil:
				replay = true
				return nil
			case !errors.Is(err, pgx.ErrNoRows):
				return fmt.Errorf("look up idempotency key: %w", err)
			}
		}
		emailKey := referral.EmailKey(u.Submission.Email)
		if u.PerHour > 0 {
			// Serialised per address, so that submissions at the same
			// moment cannot all pass the cap.
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, "unconfirmed:"+emailKey); err != nil {
				return fmt.Errorf("lock address: %w", err)
			}
			var recent int
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM unconfirmed_referrals WHERE email_key = $1 AND created_at > now() - interval '1 hour'`,
				emailKey).Scan(&recent); err != nil {
				return fmt.Errorf("count recent submissions: %w", err)
			}
			if recent >= u.PerHour {
				return nil
			}
		}
		open, err := openReferral(ctx, tx, u.Submission.Email)
		if err != nil {
			return err
		}
		id, secret := NewID(), NewToken()
		var hash []byte
		var content any
		if open == "" {
			b, err := json.Marshal(u.Submission)
			if err != nil {
				return fmt.Errorf("encode submission: %w", err)
			}
			hash, content = hashToken(secret), b
		} else if _, err := tx.Exec(ctx, `INSERT INTO sign_in_links (hash, role, subject, expires_at) VALUES ($1, 'trainee', $2, now() + $3::interval)`,
			hashToken(secret), open, u.SignInFor.String()); err != nil {
			return fmt.Errorf("store sign-in link: %w", err)
		}
		// ON CONFLICT DO NOTHING, so that a replay racing the first request
		// never makes PostgreSQL log the key.
		tag, err := tx.Exec(ctx, `
			INSERT INTO unconfirmed_referrals (id, hash, submission, email_key, submitted_at, idempotency_key, request_fingerprint, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, now() + $8::interval) ON CONFLICT DO NOTHING`,
			id, hash, content, emailKey, u.SubmittedAt, key, u.Fingerprint, u.ConfirmFor.String())
		if err != nil {
			return fmt.Errorf("store unconfirmed referral: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return errReplayRace
		}
		m, err := letter(open, secret)
		if err != nil {
			return fmt.Errorf("write submission email: %w", err)
		}
		_, err = tx.Exec(ctx, `INSERT INTO outbox (dedupe_key, referral_id, recipient, kind, subject, body) VALUES ($1, $2, $3, $4, $5, $6)`,
			"submission/"+id, nullable(open), m.Recipient, m.Kind, m.Subject, m.Body)
		if err != nil {
			return fmt.Errorf("write submission email: %w", err)
		}
		return nil
	})
	if errors.Is(err, errReplayRace) {
		// The same key was stored by a request running at the same time:
		// answer as that one did.
		return db.StoreUnconfirmed(ctx, u, letter)
	}
	return replay, err
}

var errReplayRace = errors.New("idempotency key stored meanwhile")

// openReferral is the ID of the address's open referral, or "".
func openReferral(ctx context.Context, q pgx.Tx, email string) (string, error) {
	var id string
	err := q.QueryRow(ctx, `SELECT id::text FROM referrals WHERE email_key = $1 AND status NOT IN `+terminalStatuses+` LIMIT 1`,
		referral.EmailKey(email)).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("look for an open referral: %w", err)
	}
	return id, nil
}

// ConfirmReferral spends the link that confirms a submission's address: the
// submission becomes a referral with status submitted, once. A second use
// returns the same referral with created=false. A link that is unknown or
// expired is referral.ErrNotFound; when the address has an open referral
// by now, referral.ErrDuplicate, and the link still works once that one
// has closed.
func (db *DB) ConfirmReferral(ctx context.Context, secret string) (r referral.Referral, created bool, err error) {
	var id string
	err = pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		var pending string
		var content []byte
		var submittedAt time.Time
		var existing *string
		err := tx.QueryRow(ctx, `
			SELECT id::text, submission, submitted_at, referral_id::text FROM unconfirmed_referrals
			WHERE hash = $1 AND expires_at > now() FOR UPDATE`, hashToken(secret)).Scan(&pending, &content, &submittedAt, &existing)
		if err != nil {
			return fmt.Errorf("find unconfirmed referral: %w", notFound(err))
		}
		if existing != nil {
			id = *existing
			return nil
		}
		var s referral.Submission
		if err := json.Unmarshal(content, &s); err != nil {
			return fmt.Errorf("decode unconfirmed referral %s: %w", pending, err)
		}
		id = NewID()
		err = insertReferral(ctx, tx, id, s, submittedAt, nil, "confirmed:"+pending)
		if errors.Is(err, pgx.ErrNoRows) {
			// The only unique index a new row can hit: one open referral
			// per address.
			return referral.ErrDuplicate
		}
		if err != nil {
			return fmt.Errorf("insert referral: %w", err)
		}
		created = true
		// What was typed now lives in the referral alone; the email that
		// carried the link belongs to it, so erasure reaches its address.
		if _, err := tx.Exec(ctx, `UPDATE unconfirmed_referrals SET referral_id = $2, confirmed_at = now(), submission = NULL WHERE id = $1`, pending, id); err != nil {
			return fmt.Errorf("mark unconfirmed referral confirmed: %w", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE outbox SET referral_id = $2 WHERE dedupe_key = $1`, "submission/"+pending, id); err != nil {
			return fmt.Errorf("tie confirmation email to its referral: %w", err)
		}
		return nil
	})
	if err != nil {
		return r, false, fmt.Errorf("confirm referral: %w", err)
	}
	r, err = db.Referral(ctx, id)
	return r, created, err
}

// purgeUnconfirmed deletes unconfirmed referrals whose link has expired,
// with what was typed, and empties the address and body of the email that
// asked to confirm one that never was.
func purgeUnconfirmed(ctx context.Context, db *DB) (int64, error) {
	var n int64
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `
			UPDATE outbox SET recipient = '', body = '' FROM unconfirmed_referrals u
			WHERE outbox.dedupe_key = 'submission/' || u.id::text AND u.expires_at < now()
			  AND u.referral_id IS NULL AND outbox.referral_id IS NULL AND (recipient <> '' OR body <> '')`); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `DELETE FROM unconfirmed_referrals WHERE expires_at < now()`)
		n = tag.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("purge unconfirmed referrals: %w", err)
	}
	return n, nil
}
