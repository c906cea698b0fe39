package stacktest

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// LastEmail waits until a message of a kind (such as "sign-in") has been
// written to address, and returns the body of the newest one.
func (s *Stack) LastEmail(ctx context.Context, address, kind string) (string, error) {
	conn, err := pgx.Connect(ctx, s.Config.DatabaseURL)
	if err != nil {
		return "", err
	}
	defer conn.Close(context.Background())
	for {
		var body string
		err := conn.QueryRow(ctx, `SELECT body FROM outbox WHERE lower(recipient) = lower($1) AND kind LIKE $2 ORDER BY id DESC LIMIT 1`,
			address, strings.ReplaceAll(kind, "%", "")+"%").Scan(&body)
		if err == nil {
			return body, nil
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("no %s email to %s: %w", kind, address, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}
