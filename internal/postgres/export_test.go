package postgres

import (
	"context"
	"database/sql"
	"io/fs"

	"github.com/pressly/goose/v3"
)

// MigrateTo applies the migrations up to version, so a test can store rows
// as an older version did and check what a later migration makes of them.
func MigrateTo(ctx context.Context, url string, version int64) error {
	return migrate(ctx, url, version)
}

// MigrateDownTo undoes the migrations after version, so a test can check
// what a down migration leaves.
func MigrateDownTo(ctx context.Context, url string, version int64) error {
	sqlDB, err := sql.Open("pgx", url)
	if err != nil {
		return err
	}
	defer sqlDB.Close()
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return err
	}
	p, err := goose.NewProvider(goose.DialectPostgres, sqlDB, sub)
	if err != nil {
		return err
	}
	_, err = p.DownTo(ctx, version)
	return err
}
