// Package postgrestest opens the pipeline's store on a fresh, migrated test
// database.
package postgrestest

import (
	"context"
	"testing"

	"github.com/wmtna/referrals/internal/pgtest"
	"github.com/wmtna/referrals/internal/postgres"
)

// Open migrates the database at url (a new pgtest database when url is "")
// and opens the store on it; the store closes when the test ends.
func Open(t testing.TB, url string) (*postgres.DB, string) {
	t.Helper()
	ctx := context.Background()
	if url == "" {
		url = pgtest.NewDatabase(t)
	}
	if err := postgres.Migrate(ctx, url); err != nil {
		t.Fatal(err)
	}
	db, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	return db, url
}
