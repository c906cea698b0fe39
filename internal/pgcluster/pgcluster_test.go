package pgcluster

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
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
// without calling Stop, and that the next Start carries on with its data,
// whether it comes after that server has exited (leaving a stale
// postmaster.pid) or at once, as a supervisor restarts a killed program,
// while the server is still in the fast shutdown that its parent-death
// signal started.
func TestKilledParent(t *testing.T) {
	tests := []struct {
		name   string
		atOnce bool
	}{
		{name: "after the server exited"},
		{name: "at once", atOnce: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "data")
			pid := startHelper(t, dir)
			alive := processAlive(pid)
			if !tt.atOnce {
				waitExited(t, pid)
				if _, err := os.Stat(filepath.Join(dir, "postmaster.pid")); err == nil {
					t.Log("postmaster.pid left behind, as after a crash")
				}
			}
			c := startCluster(t, Options{DataDir: dir})
			t.Logf("the killed parent's postgres (pid %d) was alive when Start began: %v", pid, alive)
			if lf, _ := readLockFile(dir); lf.pid != c.cmd.Process.Pid {
				t.Errorf("postmaster.pid names pid %d, not the new server's %d", lf.pid, c.cmd.Process.Pid)
			}
			var n int
			if err := connect(t, c.URL("postgres")).QueryRow(context.Background(), "SELECT count(*) FROM kept").Scan(&n); err != nil || n != helperRows {
				t.Fatalf("after the restart: %d rows, err %v; want %d", n, err, helperRows)
			}
		})
	}
}

// helperRows are written by TestHelperProcess: enough dirty pages that the
// server's shutdown checkpoint takes a moment.
const helperRows = 200000

// startHelper runs TestHelperProcess, the owner of a cluster on dir, and
// SIGKILLs it (reaping it, as a supervisor does) once the cluster has data.
// It returns the server's pid.
func startHelper(t *testing.T, dir string) int {
	t.Helper()
	pid, kill := startOwner(t, dir)
	kill()
	return pid
}

// startOwner runs TestHelperProcess and returns the pid of its server, once
// the cluster has data, and a function that SIGKILLs and reaps the helper.
func startOwner(t *testing.T, dir string) (pid int, kill func()) {
	t.Helper()
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
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if s, ok := strings.CutPrefix(sc.Text(), "postgres pid "); ok {
			pid, _ = strconv.Atoi(s)
			break
		}
	}
	var once sync.Once
	kill = func() {
		once.Do(func() {
			if err := helper.Process.Kill(); err != nil {
				t.Errorf("kill helper: %v", err)
			}
			helper.Wait()
		})
	}
	if pid == 0 {
		kill()
		t.Fatalf("helper did not report a postgres pid (scan error: %v)", sc.Err())
	}
	t.Cleanup(func() {
		kill()
		waitExited(t, pid)
	})
	return pid, kill
}

// waitExited waits for a server whose parent was killed to exit.
func waitExited(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for processAlive(pid) {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("postgres pid %d outlived its killed parent", pid)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestHelperProcess is the parent that TestKilledParent kills.
func TestHelperProcess(t *testing.T) {
	dir := os.Getenv("PGCLUSTER_HELPER_DIR")
	if dir == "" {
		t.Skip("only runs as TestKilledParent's helper")
	}
	c, err := Start(context.Background(), Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(context.Background(), c.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(context.Background(), fmt.Sprintf("CREATE TABLE kept AS SELECT g FROM generate_series(1, %d) AS g", helperRows)); err != nil {
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

// TestLiveServerRefused checks that Start still refuses a data dir that a
// live server uses, whoever runs it, and never advises deleting
// postmaster.pid while that server lives; and that the advice fits when
// the pid in postmaster.pid is not a server at all.
func TestLiveServerRefused(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		setup   func(t *testing.T, dir string) (pid int)
		wantErr []string
		notWant []string
	}{
		{
			name: "ours, owner in this process",
			setup: func(t *testing.T, dir string) int {
				return startCluster(t, Options{DataDir: dir, Fast: true}).cmd.Process.Pid
			},
			wantErr: []string{"already running", "kill -INT", "started by pid " + strconv.Itoa(os.Getpid())},
			notWant: []string{"delete"},
		},
		{
			name: "ours, owner another live program",
			setup: func(t *testing.T, dir string) int {
				pid, _ := startOwner(t, dir)
				return pid
			},
			wantErr: []string{"already running", "kill -INT", "TestHelperProcess"},
			notWant: []string{"delete"},
		},
		{
			// Like pg_ctl start: its parent is gone, yet it is not ours and
			// not shutting down.
			name:    "started outside pgcluster, parent gone",
			setup:   startForeign,
			wantErr: []string{"already running", "kill -INT", "postgres -D "},
			notWant: []string{"delete", "started by"},
		},
		{
			name: "stale file naming a live process that is not postgres",
			setup: func(t *testing.T, dir string) int {
				makeCluster(t, dir)
				sleep := exec.Command("sleep", "60")
				if err := sleep.Start(); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { sleep.Process.Kill(); sleep.Wait() })
				// Until the child has exec'd, its command line is still
				// this test's (or empty): the error could not name it.
				for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
					b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", sleep.Process.Pid))
					if strings.HasPrefix(string(b), "sleep\x00") {
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("sleep's command line is still %q", b)
					}
				}
				writeLockFile(t, dir, sleep.Process.Pid, "ready")
				return sleep.Process.Pid
			},
			wantErr: []string{"not a postgres server", "sleep 60", "stale", "delete " + "DIR/postmaster.pid"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "data")
			pid := tt.setup(t, dir)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			c, err := Start(ctx, Options{DataDir: dir, Fast: true})
			if err == nil {
				c.Stop()
				t.Fatalf("Start succeeded, want error containing %q", tt.wantErr)
			}
			t.Logf("error: %v", err)
			for _, s := range append(tt.wantErr, strconv.Itoa(pid)) {
				s = strings.ReplaceAll(s, "DIR", dir)
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q\ndoes not contain %q", err, s)
				}
			}
			for _, s := range tt.notWant {
				if strings.Contains(err.Error(), s) {
					t.Errorf("error %q\ncontains %q", err, s)
				}
			}
			if !processAlive(pid) {
				t.Errorf("the refused Start ended pid %d", pid)
			}
		})
	}
}

// TestWaitForStoppingServer checks the bounded wait for a server that is
// shutting down: it ends with a clear message when the server takes too
// long, and returns as soon as the server has gone.
func TestWaitForStoppingServer(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	pid := startForeign(t, dir)
	// A smart shutdown waits for every client, so a connected one keeps the
	// server "stopping" for as long as the test wants.
	port := 0
	if b, err := os.ReadFile(filepath.Join(dir, "postmaster.pid")); err == nil {
		if lines := strings.Split(string(b), "\n"); len(lines) > 3 {
			port, _ = strconv.Atoi(lines[3])
		}
	}
	conn := connect(t, fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port))
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for lf, _ := readLockFile(dir); lf.status != "stopping"; lf, _ = readLockFile(dir) {
		time.Sleep(20 * time.Millisecond)
	}

	ctx := context.Background()
	err := waitForDataDir(ctx, dir, time.Second, slog.Default())
	if err == nil {
		t.Fatal("waitForDataDir returned nil while the server is still shutting down")
	}
	t.Logf("error: %v", err)
	for _, s := range []string{"still shutting down after 1s", strconv.Itoa(pid), "kill -QUIT"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q\ndoes not contain %q", err, s)
		}
	}
	if strings.Contains(err.Error(), "delete") {
		t.Errorf("error %q advises deleting postmaster.pid while the server lives", err)
	}

	conn.Close(ctx)
	if err := waitForDataDir(ctx, dir, time.Minute, slog.Default()); err != nil {
		t.Fatalf("waitForDataDir after the last client left: %v", err)
	}
	// The server removes postmaster.pid as the last thing before it exits.
	if lf, ok := readLockFile(dir); ok {
		t.Errorf("waitForDataDir returned while postmaster.pid names pid %d", lf.pid)
	}
	c := startCluster(t, Options{DataDir: dir, Fast: true})
	connect(t, c.URL("postgres"))
}

// makeCluster creates a cluster on dir, with no server running.
func makeCluster(t *testing.T, dir string) {
	t.Helper()
	if err := startCluster(t, Options{DataDir: dir, Fast: true}).Stop(); err != nil {
		t.Fatal(err)
	}
}

// startForeign runs a server on a new cluster in dir the way pg_ctl does,
// outside pgcluster: in the background of a shell that exits, so that it
// has no parent of its own. It returns the server's pid once it is ready.
func startForeign(t *testing.T, dir string) int {
	t.Helper()
	makeCluster(t, dir)
	bins, err := findBinaries()
	if err != nil {
		t.Fatal(err)
	}
	account, err := serverAccount()
	if err != nil {
		t.Fatal(err)
	}
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	sh := exec.Command("/bin/sh", "-c", `"$0" -D "$1" -p "$2" -c listen_addresses=127.0.0.1 -c unix_socket_directories= >>"$1/foreign.log" 2>&1 &`,
		bins.postgres, dir, strconv.Itoa(port))
	sh.Dir = dir
	if account != nil {
		sh.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(account.uid), Gid: uint32(account.gid), Groups: []uint32{}}}
	}
	if out, err := sh.CombinedOutput(); err != nil {
		t.Fatalf("start a foreign server: %v\n%s", err, out)
	}
	deadline := time.Now().Add(time.Minute)
	lf, _ := readLockFile(dir)
	for lf.status != "ready" {
		if time.Now().After(deadline) {
			t.Fatalf("foreign server not ready after a minute: %+v", lf)
		}
		time.Sleep(50 * time.Millisecond)
		lf, _ = readLockFile(dir)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(lf.pid, syscall.SIGINT)
		waitExited(t, lf.pid)
	})
	return lf.pid
}

// writeLockFile writes a postmaster.pid as postgres does, naming pid.
func writeLockFile(t *testing.T, dir string, pid int, status string) {
	t.Helper()
	content := fmt.Sprintf("%d\n%s\n%d\n5432\n\n127.0.0.1\n  1234  5678\n%-8s\n", pid, dir, time.Now().Unix(), status)
	if err := os.WriteFile(filepath.Join(dir, "postmaster.pid"), []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
