// Package postgres stores the referral pipeline's state in PostgreSQL: the
// referrals and their personal details, the append-only event log, the
// therapist register and the allocation of therapists' places.
package postgres

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/wmtna/referrals/internal/referral"
)

//go:embed migrations/*.sql
var migrations embed.FS

// DB is the pipeline's PostgreSQL store.
type DB struct {
	pool *pgxpool.Pool
}

// Option changes how Open connects.
type Option func(*pgxpool.Config)

// WithTracer has every statement traced, so a test can hold a request to
// the statements it runs.
func WithTracer(t pgx.QueryTracer) Option {
	return func(c *pgxpool.Config) { c.ConnConfig.Tracer = t }
}

// Open connects to the database at url. It does not migrate.
func Open(ctx context.Context, url string, opts ...Option) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse database url: %w", err)
	}
	for _, o := range opts {
		o(cfg)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to database: %w", err)
	}
	return &DB{pool: pool}, nil
}

// Close releases every connection.
func (db *DB) Close() { db.pool.Close() }

// Ping checks that the database answers, for readiness.
func (db *DB) Ping(ctx context.Context) error { return db.pool.Ping(ctx) }

// Migrate applies every embedded migration not yet applied. A Postgres
// session lock lets several processes (api, worker, migrate) start at once.
func Migrate(ctx context.Context, url string) error {
	return migrate(ctx, url, 0)
}

// migrate applies the migrations up to version, or all when it is 0.
func migrate(ctx context.Context, url string, version int64) error {
	sqlDB, err := sql.Open("pgx", url)
	if err != nil {
		return fmt.Errorf("open database for migrations: %w", err)
	}
	defer sqlDB.Close()
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return fmt.Errorf("migration lock: %w", err)
	}
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, sqlDB, sub, goose.WithSessionLocker(locker))
	if err != nil {
		return fmt.Errorf("migration provider: %w", err)
	}
	if version == 0 {
		_, err = p.Up(ctx)
	} else {
		_, err = p.UpTo(ctx, version)
	}
	if err != nil {
		return fmt.Errorf("apply migrations: %w", err)
	}
	return nil
}

// The pgx driver registers itself under the name "pgx" for database/sql,
// which goose needs; this keeps the import from looking unused.
var _ = stdlib.GetDefaultDriver

// uniqueViolation reports whether err is a unique-constraint violation on the
// named constraint (any, when name is "").
func uniqueViolation(err error, name string) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505" && (name == "" || pgErr.ConstraintName == name)
}

func checkViolation(err error, name string) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23514" && pgErr.ConstraintName == name
}

func notFound(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return referral.ErrNotFound
	}
	return err
}

func dateOf(t *time.Time) *referral.Date {
	if t == nil {
		return nil
	}
	d := referral.Date{Year: t.Year(), Month: t.Month(), Day: t.Day()}
	return &d
}

func pgDate(d *referral.Date) *time.Time {
	if d == nil {
		return nil
	}
	t := time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, time.UTC)
	return &t
}
