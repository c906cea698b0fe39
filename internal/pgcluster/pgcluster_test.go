package pgcluster

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func startCluster(t *testing.T, opts Options) *Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := Start(ctx, opts)
	if err != nil {
		t.Fatalf("Start(%+v): %v", opts, err)
	}
	t.Cleanup(func() { _ = c.Stop() })
	return c
}

func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// TestRestartKeepsData is the lifecycle a developer sees: create, stop,
// start again on the same directory.
func TestRestartKeepsData(t *testing.T) {
	tests := []struct {
		name string
		fast bool
		port bool // pass an explicit port instead of 0
	}{
		{name: "durable", fast: false},
		{name: "fast", fast: true},
		{name: "explicit port", fast: true, port: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			opts := Options{DataDir: filepath.Join(t.TempDir(), "nested", "data"), Fast: tt.fast}
			if tt.port {
				p, err := freePort()
				if err != nil {
					t.Fatal(err)
				}
				opts.Port = p
			}

			c := startCluster(t, opts)
			if tt.port && c.port != opts.Port {
				t.Errorf("port = %d, want %d", c.port, opts.Port)
			}
			if err := c.EnsureDatabase(ctx, "app"); err != nil {
				t.Fatal(err)
			}
			if err := c.EnsureDatabase(ctx, "app"); err != nil {
				t.Fatalf("EnsureDatabase on an existing database: %v", err)
			}
			conn := connect(t, c.URL("app"))
			if _, err := conn.Exec(ctx, "CREATE TABLE t (v text); INSERT INTO t VALUES ('kept')"); err != nil {
				t.Fatal(err)
			}
			conn.Close(ctx)
			pid := c.cmd.Process.Pid
			if err := c.Stop(); err != nil {
				t.Fatalf("Stop: %v", err)
			}
			if err := c.Stop(); err != nil {
				t.Errorf("second Stop: %v", err)
			}
			if processAlive(pid) {
				t.Errorf("postgres pid %d still alive after Stop", pid)
			}
			if _, err := os.Stat(filepath.Join(opts.DataDir, logName)); err != nil {
				t.Errorf("server log: %v", err)
			}

			c2 := startCluster(t, opts)
			conn2 := connect(t, c2.URL("app"))
			var v string
			if err := conn2.QueryRow(ctx, "SELECT v FROM t").Scan(&v); err != nil {
				t.Fatalf("read back after restart: %v", err)
			}
			if v != "kept" {
				t.Errorf("value after restart = %q, want %q", v, "kept")
			}
			if err := c2.Stop(); err != nil {
				t.Errorf("Stop after restart: %v", err)
			}
		})
	}
}

func TestStartErrors(t *testing.T) {
	t.Parallel()
	// One running cluster serves the "already running" case.
	running := startCluster(t, Options{DataDir: filepath.Join(t.TempDir(), "data"), Fast: true})

	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()

	tests := []struct {
		name    string
		opts    func(t *testing.T) Options
		wantErr []string // substrings of the error
	}{
		{
			name:    "no data dir",
			opts:    func(*testing.T) Options { return Options{} },
			wantErr: []string{"DataDir is empty"},
		},
		{
			name: "dir with other files",
			opts: func(t *testing.T) Options {
				dir := t.TempDir()
				if err := os.WriteFile(filepath.Join(dir, "notes.txt"), nil, 0o600); err != nil {
					t.Fatal(err)
				}
				return Options{DataDir: dir}
			},
			wantErr: []string{"neither empty nor a cluster"},
		},
		{
			name:    "already running",
			opts:    func(*testing.T) Options { return Options{DataDir: running.dir, Fast: true} },
			wantErr: []string{"already running", strconv.Itoa(running.cmd.Process.Pid)},
		},
		{
			// postgres dies at once: the error must carry its log.
			name: "port taken",
			opts: func(t *testing.T) Options {
				return Options{DataDir: filepath.Join(t.TempDir(), "data"), Fast: true, Port: busy.Addr().(*net.TCPAddr).Port}
			},
			wantErr: []string{"exited during startup", "could not bind IPv4 address"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			c, err := Start(ctx, tt.opts(t))
			if err == nil {
				c.Stop()
				t.Fatalf("Start succeeded, want error containing %q", tt.wantErr)
			}
			t.Logf("error: %v", err)
			for _, s := range tt.wantErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q\ndoes not contain %q", err, s)
				}
			}
		})
	}

	// The failed attempt must not have disturbed the running server.
	connect(t, running.URL("postgres"))
}

// TestFindBinaries changes PATH and fallbackBinDirs, so it must not be
// parallel: Go runs it before any parallel test resumes.
func TestFindBinaries(t *testing.T) {
	// A fake /usr/lib/postgresql with two versions and one incomplete one.
	fakeLib := t.TempDir()
	for _, f := range []string{"13/bin/initdb", "13/bin/postgres", "15/bin/initdb", "15/bin/postgres", "16/bin/initdb"} {
		path := filepath.Join(fakeLib, f)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}

	tests := []struct {
		name     string
		path     string // PATH; "" means an empty directory
		fallback string
		wantDir  string // directory of the binaries found; "" means ErrNotInstalled
	}{
		{name: "nothing anywhere", fallback: "", wantDir: ""},
		{name: "fallback has none", fallback: filepath.Join(t.TempDir(), "*/bin"), wantDir: ""},
		{name: "newest complete fallback", fallback: filepath.Join(fakeLib, "*/bin"), wantDir: filepath.Join(fakeLib, "15/bin")},
		{name: "PATH wins", path: filepath.Join(fakeLib, "13/bin"), fallback: filepath.Join(fakeLib, "*/bin"), wantDir: filepath.Join(fakeLib, "13/bin")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := tt.path
			if path == "" {
				path = t.TempDir()
			}
			t.Setenv("PATH", path)
			old := fallbackBinDirs
			fallbackBinDirs = tt.fallback
			t.Cleanup(func() { fallbackBinDirs = old })

			got, err := findBinaries()
			if tt.wantDir == "" {
				if !errors.Is(err, ErrNotInstalled) {
					t.Fatalf("findBinaries() = %+v, %v; want ErrNotInstalled", got, err)
				}
				// Start must report the same, before touching the data dir.
				dir := filepath.Join(t.TempDir(), "data")
				if _, err := Start(context.Background(), Options{DataDir: dir}); !errors.Is(err, ErrNotInstalled) {
					t.Errorf("Start error = %v, want ErrNotInstalled", err)
				}
				if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("Start created %s although nothing is installed", dir)
				}
				return
			}
			if err != nil {
				t.Fatalf("findBinaries: %v", err)
			}
			want := binaries{initdb: filepath.Join(tt.wantDir, "initdb"), postgres: filepath.Join(tt.wantDir, "postgres")}
			if got != want {
				t.Errorf("findBinaries() = %+v, want %+v", got, want)
			}
		})
	}
}

func TestURL(t *testing.T) {
	c := &Cluster{port: 5433}
	tests := []struct {
		db   string
		want string
	}{
		{"app", "postgres://postgres@127.0.0.1:5433/app?sslmode=disable"},
		{"odd name/x", "postgres://postgres@127.0.0.1:5433/odd%20name%2Fx?sslmode=disable"},
	}
	for _, tt := range tests {
		got := c.URL(tt.db)
		if got != tt.want {
			t.Errorf("URL(%q) = %q, want %q", tt.db, got, tt.want)
		}
		u, err := url.Parse(got)
		if err != nil {
			t.Fatal(err)
		}
		if db := strings.TrimPrefix(u.Path, "/"); db != tt.db {
			t.Errorf("URL(%q) path decodes to %q", tt.db, db)
		}
	}
}

// TestKilledParent checks that a server does not outlive a parent that dies
// without calling Stop, and that the stale postmaster.pid it leaves behind
// does not block the next Start.
func TestKilledParent(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	helper := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.v")
	helper.Env = append(os.Environ(), "PGCLUSTER_HELPER_DIR="+dir)
	helper.Stderr = os.Stderr
	out, err := helper.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	pid := 0
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if s, ok := strings.CutPrefix(sc.Text(), "postgres pid "); ok {
			pid, _ = strconv.Atoi(s)
			break
		}
	}
	if pid == 0 {
		helper.Process.Kill()
		helper.Wait()
		t.Fatalf("helper did not report a postgres pid (scan error: %v)", sc.Err())
	}
	if err := helper.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	helper.Wait()

	deadline := time.Now().Add(15 * time.Second)
	for processAlive(pid) {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("postgres pid %d outlived its killed parent", pid)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := os.Stat(filepath.Join(dir, "postmaster.pid")); err == nil {
		t.Log("postmaster.pid left behind, as after a crash")
	}

	c := startCluster(t, Options{DataDir: dir, Fast: true})
	connect(t, c.URL("postgres"))
}

// TestHelperProcess is the parent that TestKilledParent kills.
func TestHelperProcess(t *testing.T) {
	dir := os.Getenv("PGCLUSTER_HELPER_DIR")
	if dir == "" {
		t.Skip("only runs as TestKilledParent's helper")
	}
	c, err := Start(context.Background(), Options{DataDir: dir, Fast: true})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("postgres pid %d\n", c.cmd.Process.Pid)
	time.Sleep(time.Minute) // until killed
	t.Fatal("helper was not killed")
}

// TestCrashedServer restarts on a data dir whose server was SIGKILLed, which
// leaves postmaster.pid and possibly backends behind.
func TestCrashedServer(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	c := startCluster(t, Options{DataDir: dir})
	conn := connect(t, c.URL("postgres"))
	if _, err := conn.Exec(context.Background(), "CREATE TABLE crash (v int); INSERT INTO crash VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-c.done
	if _, err := os.Stat(filepath.Join(dir, "postmaster.pid")); err != nil {
		t.Fatalf("expected a stale postmaster.pid: %v", err)
	}

	c2 := startCluster(t, Options{DataDir: dir})
	var v int
	if err := connect(t, c2.URL("postgres")).QueryRow(context.Background(), "SELECT v FROM crash").Scan(&v); err != nil || v != 1 {
		t.Fatalf("after crash recovery: v = %d, err = %v", v, err)
	}
}

// TestInitdbInterrupted checks that a Start cut short during initdb leaves a
// directory that the next Start can still use.
func TestInitdbInterrupted(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if c, err := Start(ctx, Options{DataDir: dir, Fast: true}); err == nil {
		c.Stop()
		t.Skip("initdb finished within 200ms; nothing was interrupted")
	} else {
		t.Logf("interrupted: %v", err)
	}
	c := startCluster(t, Options{DataDir: dir, Fast: true})
	connect(t, c.URL("postgres"))
}
