// Package pgtest gives each test its own PostgreSQL database, so that tests
// can run in parallel and never see each other's rows.
//
// By default the databases live on one throwaway server per test binary,
// started on first use from the installed PostgreSQL binaries. Set
// WMTNA_TEST_DATABASE_URL to a server's URL to use that server instead; its
// user must be allowed to create databases.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wmtna/referrals/internal/pgcluster"
)

// envURL names the variable that points tests at an existing server.
const envURL = "WMTNA_TEST_DATABASE_URL"

var (
	mu sync.Mutex
	// The shared cluster and how starting it went; a failed start is not
	// retried, so every test fails fast with the same error.
	shared    *pgcluster.Cluster
	sharedDir string
	sharedErr error

	counter atomic.Int64
)

// NewDatabase returns the URL of a fresh, empty database for this test and
// drops the database when the test ends. If WMTNA_TEST_DATABASE_URL is set,
// databases are created on that server; otherwise one throwaway cluster
// (pgcluster, Fast: true) is started lazily per test binary in a temp dir and
// shared by all tests in it.
//
// Missing PostgreSQL binaries fail the test rather than skip it, so that CI
// cannot pass without having run the database tests.
func NewDatabase(t testing.TB) string {
	t.Helper()
	return newDatabase(t, "")
}

// NewDatabaseLocale is NewDatabase with a database of the given locale (its
// collation and character classes), such as "C.utf8". The test cluster is
// made with the C locale, where lower() and upper() change ASCII letters
// only; production servers (the postgres image: en_US.utf8) fold Unicode
// case, and a test of anything that depends on it needs such a database.
func NewDatabaseLocale(t testing.TB, locale string) string {
	t.Helper()
	for _, r := range locale {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._-@", r)) {
			t.Fatalf("pgtest: locale %q is not a locale name", locale)
		}
	}
	return newDatabase(t, " TEMPLATE template0 ENCODING 'UTF8' LOCALE '"+locale+"'")
}

func newDatabase(t testing.TB, options string) string {
	t.Helper()
	adminURL, err := server()
	if err != nil {
		if errors.Is(err, pgcluster.ErrNotInstalled) {
			t.Fatalf("pgtest: %v (for tests, %s may name one instead)", err, envURL)
		}
		t.Fatalf("pgtest: %v", err)
	}

	// Random as well as counted: test binaries of other packages may share
	// the server named by WMTNA_TEST_DATABASE_URL.
	name := fmt.Sprintf("t_%d_%08x", counter.Add(1), rand.Uint32())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := execAdmin(ctx, adminURL, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()+options); err != nil {
		t.Fatalf("pgtest: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// FORCE: a test that forgot to close its pool must not keep its
		// database around.
		if err := execAdmin(ctx, adminURL, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})

	u, err := url.Parse(adminURL)
	if err != nil {
		t.Fatalf("pgtest: %v", err) // server checked it already
	}
	u.Path, u.RawPath = "/"+name, ""
	return u.String()
}

// server returns the URL of a database to run CREATE DATABASE from.
func server() (string, error) {
	if env := os.Getenv(envURL); env != "" {
		u, err := url.Parse(env)
		if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			return "", fmt.Errorf("%s must be a postgres:// URL, got %q", envURL, env)
		}
		return env, nil
	}

	mu.Lock()
	defer mu.Unlock()
	if shared == nil && sharedErr == nil {
		shared, sharedDir, sharedErr = startShared()
	}
	if sharedErr != nil {
		return "", sharedErr
	}
	return shared.URL("postgres"), nil
}

func startShared() (*pgcluster.Cluster, string, error) {
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		return nil, "", fmt.Errorf("create temp dir for test cluster: %w", err)
	}
	// Traversable, so that the postgres user can reach the data dir when we
	// run as root.
	if err := os.Chmod(dir, 0o711); err != nil {
		os.RemoveAll(dir)
		return nil, "", fmt.Errorf("chmod %s: %w", dir, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := pgcluster.Start(ctx, pgcluster.Options{
		DataDir: filepath.Join(dir, "data"),
		Fast:    true,
		// Progress messages would clutter every test binary's output.
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		os.RemoveAll(dir)
		return nil, "", err
	}
	return c, dir, nil
}

func execAdmin(ctx context.Context, adminURL, sql string) error {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}

// Main wraps testing.M so the shared cluster is stopped after the tests: use
// as `func TestMain(m *testing.M) { pgtest.Main(m) }`.
//
// Without it the cluster still stops when the test binary exits (pgcluster
// asks the kernel to signal it), but its temp dir is left behind.
func Main(m *testing.M) {
	code := m.Run()
	mu.Lock()
	if shared != nil {
		if err := shared.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
		}
		if err := os.RemoveAll(sharedDir); err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: remove test cluster: %v\n", err)
		}
		shared = nil
	}
	mu.Unlock()
	os.Exit(code)
}

// ServerLog returns what the shared test cluster's server has logged so
// far, so a test can check that no personal detail reaches PostgreSQL's own
// log. ok is false when the tests use a server of their own
// (WMTNA_TEST_DATABASE_URL), whose log this package cannot read.
func ServerLog() (log string, ok bool, err error) {
	mu.Lock()
	dir := sharedDir
	mu.Unlock()
	if dir == "" {
		return "", false, nil
	}
	b, err := os.ReadFile(filepath.Join(dir, "data", "postgres.log"))
	if err != nil {
		return "", true, fmt.Errorf("read the test cluster's log: %w", err)
	}
	return string(b), true, nil
}
