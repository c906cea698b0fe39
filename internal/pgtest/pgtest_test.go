package pgtest

import (
	"context"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { Main(m) }

func connect(t *testing.T, dbURL string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatalf("connect %s: %v", dbURL, err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func dbName(t *testing.T, dbURL string) string {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimPrefix(u.Path, "/")
}

func databaseExists(t *testing.T, conn *pgx.Conn, name string) bool {
	t.Helper()
	var exists bool
	err := conn.QueryRow(context.Background(), "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists)
	if err != nil {
		t.Fatal(err)
	}
	return exists
}

func TestNewDatabase(t *testing.T) {
	ctx := context.Background()
	seen := map[string]bool{}
	var mu sync.Mutex
	for i := range 4 {
		t.Run("", func(t *testing.T) {
			t.Parallel()
			dbURL := NewDatabase(t)
			name := dbName(t, dbURL)
			mu.Lock()
			if seen[name] {
				t.Errorf("database %s handed out twice", name)
			}
			seen[name] = true
			mu.Unlock()

			conn := connect(t, dbURL)
			var current string
			var tables int
			err := conn.QueryRow(ctx, `SELECT current_database(),
				(SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public')`).Scan(&current, &tables)
			if err != nil {
				t.Fatal(err)
			}
			if current != name || tables != 0 {
				t.Errorf("connected to %q with %d tables, want %q and none", current, tables, name)
			}
			// The same table name in every database: they must not clash.
			if _, err := conn.Exec(ctx, "CREATE TABLE t (i int)"); err != nil {
				t.Fatal(err)
			}
			if _, err := conn.Exec(ctx, "INSERT INTO t VALUES ($1)", i); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestDatabaseDroppedAfterTest(t *testing.T) {
	var name string
	var leaked *pgx.Conn
	t.Run("user", func(t *testing.T) {
		dbURL := NewDatabase(t)
		name = dbName(t, dbURL)
		// Left open on purpose: the drop must not wait for it.
		var err error
		if leaked, err = pgx.Connect(context.Background(), dbURL); err != nil {
			t.Fatal(err)
		}
	})
	if leaked != nil {
		defer leaked.Close(context.Background())
	}
	conn := connect(t, NewDatabase(t))
	if databaseExists(t, conn, name) {
		t.Errorf("database %s still exists after its test ended", name)
	}
}

func TestEnvURL(t *testing.T) {
	// Any database can serve as the admin database: use one on the
	// shared cluster as if it were an external server.
	admin := NewDatabase(t)
	tests := []struct {
		name    string
		env     string
		wantErr bool
	}{
		{name: "url", env: admin},
		{name: "not a url", env: "host=localhost dbname=x", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(envURL, tt.env)
			if tt.wantErr {
				if _, err := server(); err == nil || !strings.Contains(err.Error(), envURL) {
					t.Errorf("server() error = %v, want one naming %s", err, envURL)
				}
				return
			}
			dbURL := NewDatabase(t)
			got, _ := url.Parse(dbURL)
			want, _ := url.Parse(admin)
			if got.Host != want.Host || got.User.String() != want.User.String() || got.RawQuery != want.RawQuery {
				t.Errorf("NewDatabase = %s, want the server and options of %s", dbURL, admin)
			}
			if dbName(t, dbURL) == dbName(t, admin) {
				t.Errorf("NewDatabase returned the admin database %s", dbURL)
			}
			connect(t, dbURL)
		})
	}
}
