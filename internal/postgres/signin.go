package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wmtna/referrals/internal/referral"
)

// SignInCandidates returns who may sign in with an email address: the
// committee member (not removed) and the therapist with that address, and the trainee of
// its most recent referral (an open one first). Addresses match by their
// referral.EmailKey, exactly: never by lower(), whose folding depends on the
// database's collation and maps look-alikes ("therapİst") onto real
// addresses.
func (db *DB) SignInCandidates(ctx context.Context, email string) ([]referral.Principal, error) {
	rows, err := db.pool.Query(ctx, `
		(SELECT 'committee', id::text FROM committee_members WHERE email_key = $1 AND removed_at IS NULL LIMIT 1)
		UNION ALL
		(SELECT 'therapist', id::text FROM therapists WHERE email_key = $1 AND (retired_at IS NULL OR places_used > 0) LIMIT 1)
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

// SignInLink is a one-time link to make: for whom, for how long, and the
// email that carries it. Message receives the link's secret; only its hash
// is stored. ReferralID ties a trainee's message to their referral (so
// erasure reaches it); it is "" for staff.
type SignInLink struct {
	For        referral.Principal
	TTL        time.Duration
	ReferralID string
	Message    func(secret string) (Message, error)
}

// CreateSignInLink stores a new one-time link for p, valid for ttl, and
// writes the email that carries it in the same transaction, so a link is
// never made without its message (see SignInLink).
func (db *DB) CreateSignInLink(ctx context.Context, p referral.Principal, ttl time.Duration, referralID string, message func(secret string) (Message, error)) error {
	return pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		return createSignInLink(ctx, tx, SignInLink{For: p, TTL: ttl, ReferralID: referralID, Message: message})
	})
}

func createSignInLink(ctx context.Context, tx pgx.Tx, l SignInLink) error {
	if l.For.Role == referral.RoleCommittee {
		// A member removed since they were found gets no link. The
		// share lock makes a removal wait for this transaction, or this
		// wait for the removal and then find them removed, so the link
		// is either made before the removal (which spends it) or not at
		// all.
		var removed bool
		err := tx.QueryRow(ctx, `SELECT removed_at IS NOT NULL FROM committee_members WHERE id::text = $1 FOR SHARE`, l.For.Subject).Scan(&removed)
		switch {
		case err != nil && !errors.Is(err, pgx.ErrNoRows):
			return fmt.Errorf("check committee member: %w", err)
		case removed:
			return nil
		}
	}
	secret := NewToken()
	m, err := l.Message(secret)
	if err != nil {
		return fmt.Errorf("write %s sign-in email: %w", l.For.Role, err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO sign_in_links (hash, role, subject, expires_at) VALUES ($1, $2, $3, now() + $4::interval)`,
		hashToken(secret), string(l.For.Role), l.For.Subject, l.TTL.String()); err != nil {
		return fmt.Errorf("create %s sign-in link: %w", l.For.Role, err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO outbox (dedupe_key, referral_id, recipient, kind, subject, body) VALUES ($1, $2, $3, $4, $5, $6)`,
		m.Key, nullable(l.ReferralID), m.Recipient, m.Kind, m.Subject, m.Body); err != nil {
		return fmt.Errorf("write %s sign-in email to the outbox: %w", l.For.Role, err)
	}
	return nil
}

// SignInRequest is a request for sign-in links to an address, recorded by
// RecordSignInRequest and answered by AnswerSignInRequest.
type SignInRequest struct {
	ID    int64
	Email string
	Next  string
}

// RecordSignInRequest records a request for sign-in links to email, the
// same statement for any address: nothing about its accounts is read.
func (db *DB) RecordSignInRequest(ctx context.Context, email, next string) error {
	if _, err := db.pool.Exec(ctx, `INSERT INTO sign_in_requests (email, next) VALUES ($1, $2)`, email, next); err != nil {
		return fmt.Errorf("record sign-in request: %w", err)
	}
	return nil
}

// AnswerSignInRequest takes the oldest unanswered sign-in request, asks
// answer for the links it gets, and stores them with their emails and
// deletes the request in one transaction: a request is answered once, or,
// if the process dies first, stays to be answered by the next sweep.
// Several processes may answer at once; each takes a different request. It
// reports whether there was one. A request whose answer fails is put off
// for a while, longer each time, and dropped after maxSignInAttempts.
func (db *DB) AnswerSignInRequest(ctx context.Context, answer func(ctx context.Context, req SignInRequest) ([]SignInLink, error)) (bool, error) {
	found := false
	var req SignInRequest
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `
			SELECT id, email, next FROM sign_in_requests WHERE not_before <= now()
			ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED`).
			Scan(&req.ID, &req.Email, &req.Next)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("take a sign-in request: %w", err)
		}
		found = true
		links, err := answer(ctx, req)
		if err != nil {
			return err
		}
		for _, l := range links {
			if err := createSignInLink(ctx, tx, l); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `DELETE FROM sign_in_requests WHERE id = $1`, req.ID); err != nil {
			return fmt.Errorf("delete answered sign-in request: %w", err)
		}
		return nil
	})
	if err != nil && found {
		if _, perr := db.pool.Exec(ctx, `
			UPDATE sign_in_requests SET attempts = attempts + 1, not_before = now() + (attempts + 1) * interval '30 seconds'
			WHERE id = $1`, req.ID); perr != nil {
			return found, fmt.Errorf("%w (and putting the request off: %v)", err, perr)
		}
		if _, perr := db.pool.Exec(ctx, `DELETE FROM sign_in_requests WHERE id = $1 AND attempts >= $2`, req.ID, maxSignInAttempts); perr != nil {
			return found, fmt.Errorf("%w (and dropping the request: %v)", err, perr)
		}
	}
	return found, err
}

// maxSignInAttempts is how often a failing sign-in request is tried, over
// about twenty minutes, before it is dropped.
const maxSignInAttempts = 8

// RecentSignInLinks counts the sign-in links made for p in the last period.
func (db *DB) RecentSignInLinks(ctx context.Context, p referral.Principal, period time.Duration) (int, error) {
	var n int
	err := db.pool.QueryRow(ctx, `SELECT count(*) FROM sign_in_links WHERE role = $1 AND subject = $2 AND created_at > now() - $3::interval`,
		string(p.Role), p.Subject, period.String()).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count recent sign-in links: %w", err)
	}
	return n, nil
}

// UseSignInLink spends a one-time link and returns who it signs in. A link
// that is unknown, used or expired is referral.ErrNotFound; two clicks at
// once cannot both succeed.
func (db *DB) UseSignInLink(ctx context.Context, secret string) (referral.Principal, error) {
	var p referral.Principal
	var role string
	err := db.pool.QueryRow(ctx, `
		UPDATE sign_in_links l SET used_at = now()
		WHERE hash = $1 AND used_at IS NULL AND expires_at > now() AND NOT `+removedMember("l")+`
		RETURNING role, subject`, hashToken(secret)).Scan(&role, &p.Subject)
	if err != nil {
		return p, fmt.Errorf("use sign-in link: %w", notFound(err))
	}
	p.Role = referral.Role(role)
	return p, nil
}

// removedMember is the SQL condition that the credential (token or link)
// of table alias t belongs to a removed committee member: removal revokes
// theirs, and this refuses any made after all the same.
func removedMember(t string) string {
	return `(EXISTS (SELECT 1 FROM committee_members m WHERE ` + t + `.role = 'committee' AND m.id::text = ` + t + `.subject AND m.removed_at IS NOT NULL))`
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
	// A request is answered within moments; one a day old was never going
	// to be, and its link would be a surprise: its address goes.
	requests, err := db.pool.Exec(ctx, `DELETE FROM sign_in_requests WHERE requested_at < now() - interval '1 day'`)
	if err != nil {
		return 0, fmt.Errorf("purge sign-in requests: %w", err)
	}
	return tag.RowsAffected() + links.RowsAffected() + unconfirmed + requests.RowsAffected(), nil
}
