package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wmtna/referrals/internal/referral"
)

// SignInCandidates returns who may sign in with an email address: the
// committee member and the therapist with that address, and the trainee of
// its most recent referral (an open one first). Addresses match by their
// referral.EmailKey, exactly: never by lower(), whose folding depends on the
// database's collation and maps look-alikes ("therapİst") onto real
// addresses.
func (db *DB) SignInCandidates(ctx context.Context, email string) ([]referral.Principal, error) {
	rows, err := db.pool.Query(ctx, `
		(SELECT 'committee', id::text FROM committee_members WHERE email_key = $1 LIMIT 1)
		UNION ALL
		(SELECT 'therapist', id::text FROM therapists WHERE email_key = $1 AND active LIMIT 1)
		UNION ALL
		(SELECT 'trainee', id::text FROM referrals WHERE email_key = $1 AND erased_at IS NULL
		 ORDER BY ended_at IS NULL DESC, submitted_at DESC LIMIT 1)`, referral.EmailKey(email))
	if err != nil {
		return nil, fmt.Errorf("find who may sign in: %w", err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (referral.Principal, error) {
		var p referral.Principal
		var role string
		err := row.Scan(&role, &p.Subject)
		p.Role = referral.Role(role)
		return p, err
	})
}

// CreateSignInLink stores a new one-time link for p, valid for ttl, and
// writes the email that carries it in the same transaction, so a link is
// never made without its message. message receives the link's secret; only
// its hash is stored here. referralID ties a trainee's message to their
// referral (so erasure reaches it); it is "" for staff.
func (db *DB) CreateSignInLink(ctx context.Context, p referral.Principal, ttl time.Duration, referralID string, message func(secret string) (Message, error)) error {
	secret := NewToken()
	m, err := message(secret)
	if err != nil {
		return fmt.Errorf("write %s sign-in email: %w", p.Role, err)
	}
	err = pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO sign_in_links (hash, role, subject, expires_at) VALUES ($1, $2, $3, now() + $4::interval)`,
			hashToken(secret), string(p.Role), p.Subject, ttl.String()); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO outbox (dedupe_key, referral_id, recipient, kind, subject, body) VALUES ($1, $2, $3, $4, $5, $6)`,
			m.Key, nullable(referralID), m.Recipient, m.Kind, m.Subject, m.Body)
		return err
	})
	if err != nil {
		return fmt.Errorf("create %s sign-in link: %w", p.Role, err)
	}
	return nil
}

// UseSignInLink spends a one-time link and returns who it signs in. A link
// that is unknown, used or expired is referral.ErrNotFound; two clicks at
// once cannot both succeed.
func (db *DB) UseSignInLink(ctx context.Context, secret string) (referral.Principal, error) {
	var p referral.Principal
	var role string
	err := db.pool.QueryRow(ctx, `
		UPDATE sign_in_links SET used_at = now()
		WHERE hash = $1 AND used_at IS NULL AND expires_at > now()
		RETURNING role, subject`, hashToken(secret)).Scan(&role, &p.Subject)
	if err != nil {
		return p, fmt.Errorf("use sign-in link: %w", notFound(err))
	}
	p.Role = referral.Role(role)
	return p, nil
}

// RevokeToken ends one token, such as a browser session on signing out.
// Revoking an unknown or already revoked token is not an error.
func (db *DB) RevokeToken(ctx context.Context, token string) error {
	if _, err := db.pool.Exec(ctx, `UPDATE tokens SET revoked_at = now() WHERE hash = $1 AND revoked_at IS NULL`, hashToken(token)); err != nil {
		return fmt.Errorf("revoke token: %w", err)
	}
	return nil
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// PurgeCredentials deletes tokens and sign-in links that can no longer be
// used: expired or revoked, or spent, more than a day ago (browser sessions
// make a token each, so without this the table only grows); and
// unconfirmed referrals whose link has expired, with what was typed.
func (db *DB) PurgeCredentials(ctx context.Context) (int64, error) {
	tag, err := db.pool.Exec(ctx, `
		DELETE FROM tokens WHERE coalesce(revoked_at, expires_at) < now() - interval '1 day'`)
	if err != nil {
		return 0, fmt.Errorf("purge tokens: %w", err)
	}
	links, err := db.pool.Exec(ctx, `
		DELETE FROM sign_in_links WHERE coalesce(used_at, expires_at) < now() - interval '1 day'`)
	if err != nil {
		return 0, fmt.Errorf("purge sign-in links: %w", err)
	}
	unconfirmed, err := purgeUnconfirmed(ctx, db)
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected() + links.RowsAffected() + unconfirmed, nil
}
