package postgres

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"time"

	"github.com/wmtna/referrals/internal/referral"
)

// NewToken returns a fresh bearer token: 256 random bits, URL-safe.
func NewToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func hashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// IssueToken stores the hash of a new token for role and subject and
// returns the token, which is never stored or shown again.
func (db *DB) IssueToken(ctx context.Context, role referral.Role, subject string, expires *time.Time) (string, error) {
	token := NewToken()
	if err := db.StoreToken(ctx, token, role, subject, expires); err != nil {
		return "", err
	}
	return token, nil
}

// StoreToken records a token chosen elsewhere (the operator's token from
// WMTNA_ADMIN_TOKEN); storing the same token again is harmless.
func (db *DB) StoreToken(ctx context.Context, token string, role referral.Role, subject string, expires *time.Time) error {
	_, err := db.pool.Exec(ctx, `INSERT INTO tokens (hash, role, subject, expires_at) VALUES ($1, $2, $3, $4) ON CONFLICT (hash) DO NOTHING`,
		hashToken(token), string(role), subject, expires)
	if err != nil {
		return fmt.Errorf("store %s token: %w", role, err)
	}
	return nil
}

// Authenticate returns who a token belongs to. An unknown, revoked or expired
// token, or a removed committee member's, is referral.ErrNotFound. The lookup is by hash, so the comparison
// never runs over the secret itself.
func (db *DB) Authenticate(ctx context.Context, token string) (referral.Principal, error) {
	var p referral.Principal
	var role string
	err := db.pool.QueryRow(ctx, `
		SELECT role, subject FROM tokens t
		WHERE hash = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now()) AND NOT `+removedMember("t"), hashToken(token)).Scan(&role, &p.Subject)
	if err != nil {
		return p, fmt.Errorf("authenticate: %w", notFound(err))
	}
	p.Role = referral.Role(role)
	return p, nil
}

// RevokeTokens revokes every token of a role and subject, so that a
// replacement is the only one that works.
func (db *DB) RevokeTokens(ctx context.Context, role referral.Role, subject string) error {
	_, err := db.pool.Exec(ctx, `UPDATE tokens SET revoked_at = now() WHERE role = $1 AND subject = $2 AND revoked_at IS NULL`, string(role), subject)
	if err != nil {
		return fmt.Errorf("revoke %s tokens: %w", role, err)
	}
	return nil
}
