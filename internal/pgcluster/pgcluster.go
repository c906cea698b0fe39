// Package pgcluster runs a private PostgreSQL server from the binaries
// installed on the machine, so that development and tests need neither
// Docker nor a shared database server.
//
// The server listens on 127.0.0.1 only, with trust authentication for the
// "postgres" superuser: it is meant for throwaway and local development
// data, never for anything reachable from outside the machine.
package pgcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// ErrNotInstalled is returned by Start when there is nothing to run, so that
// callers can tell a missing installation from a server that failed.
var ErrNotInstalled = errors.New("PostgreSQL server binaries (initdb, postgres) were not found on PATH: install PostgreSQL 15 (e.g. `apt-get install postgresql`) or set DATABASE_URL to an existing database")

const (
	// superuser is the role initdb creates; URL connects as it.
	superuser = "postgres"
	// systemUser runs the server when we are root, because initdb and
	// postgres refuse to run as root.
	systemUser = "postgres"
	// logName is the server's log inside the data directory, kept out of
	// stdout so that it does not drown the program's own output.
	logName = "postgres.log"

	startTimeout = 30 * time.Second
	stopTimeout  = 30 * time.Second
	// portAttempts bounds retries when a port picked as free was taken by
	// someone else before postgres could bind it.
	portAttempts = 3
	// orphanAttempts bounds the retries while a killed server's backends
	// exit (200 ms apart).
	orphanAttempts = 25
	// shutdownWait bounds the wait for a server that is shutting down on
	// the data dir, such as ours after its owner was killed: longer than
	// Stop gives a fast shutdown before forcing it.
	shutdownWait = 2 * stopTimeout
)

// fallbackBinDirs are searched after PATH because Debian installs the server
// outside PATH. It is a variable so tests can switch the fallback off.
var fallbackBinDirs = "/usr/lib/postgresql/*/bin"

// Options configures Start.
type Options struct {
	// DataDir is the cluster directory. When it is missing or empty a new
	// cluster is created with initdb; when it already holds a cluster, that
	// cluster and its data are reused.
	DataDir string
	// Port is the TCP port on 127.0.0.1; 0 picks a free one.
	Port int
	// Logger receives progress messages; nil means slog.Default(). The
	// server's own output goes to postgres.log in DataDir instead.
	Logger *slog.Logger
	// Fast trades durability for speed (no fsync, no synchronous commit, no
	// full page writes): a crash can lose or corrupt data, which only
	// throwaway test clusters can afford.
	Fast bool
}

// Cluster is a running server. Call Stop when done with it.
type Cluster struct {
	dir    string
	port   int
	logger *slog.Logger
	cmd    *exec.Cmd

	done    chan struct{} // closed when the server process has exited
	waitErr error         // valid after done is closed

	stopOnce sync.Once
	stopErr  error
}

// binaries locates initdb and postgres of one installation.
type binaries struct {
	initdb, postgres string
}

func findBinaries() (binaries, error) {
	initdb, err1 := exec.LookPath("initdb")
	postgres, err2 := exec.LookPath("postgres")
	if err1 == nil && err2 == nil {
		return binaries{initdb: initdb, postgres: postgres}, nil
	}
	if fallbackBinDirs == "" {
		return binaries{}, ErrNotInstalled
	}
	dirs, _ := filepath.Glob(fallbackBinDirs)
	// Prefer the newest major version: /usr/lib/postgresql/<major>/bin.
	sort.Slice(dirs, func(i, j int) bool {
		return majorOf(dirs[i]) > majorOf(dirs[j])
	})
	for _, d := range dirs {
		b := binaries{initdb: filepath.Join(d, "initdb"), postgres: filepath.Join(d, "postgres")}
		if isExecutable(b.initdb) && isExecutable(b.postgres) {
			return b, nil
		}
	}
	return binaries{}, ErrNotInstalled
}

func majorOf(binDir string) float64 {
	v, err := strconv.ParseFloat(filepath.Base(filepath.Dir(binDir)), 64)
	if err != nil {
		return -1
	}
	return v
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// runAs is the account the server processes run under; nil means ourselves.
type runAs struct {
	name     string
	uid, gid int
}

func serverAccount() (*runAs, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup(systemUser)
	if err != nil {
		return nil, fmt.Errorf("running as root, so postgres must run as the %q system user, but looking it up failed (create it, or run as a normal user): %w", systemUser, err)
	}
	uid, err := strconv.Atoi(u.Uid)
	if err != nil {
		return nil, fmt.Errorf("parse uid %q of user %s: %w", u.Uid, systemUser, err)
	}
	gid, err := strconv.Atoi(u.Gid)
	if err != nil {
		return nil, fmt.Errorf("parse gid %q of user %s: %w", u.Gid, systemUser, err)
	}
	return &runAs{name: systemUser, uid: uid, gid: gid}, nil
}

// Start runs a server on opts.DataDir, creating the cluster first if needed,
// and returns once it accepts connections.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	if opts.DataDir == "" {
		return nil, errors.New("start postgres: Options.DataDir is empty")
	}
	dir, err := filepath.Abs(opts.DataDir)
	if err != nil {
		return nil, fmt.Errorf("start postgres in %s: %w", opts.DataDir, err)
	}
	bins, err := findBinaries()
	if err != nil {
		return nil, err
	}
	account, err := serverAccount()
	if err != nil {
		return nil, err
	}
	if account != nil && !canSwitchUser {
		return nil, fmt.Errorf("start postgres in %s: postgres refuses to run as root and switching to the %s user is only implemented on Linux", dir, systemUser)
	}

	if err := prepareDataDir(ctx, dir, bins, account, opts.Fast, logger); err != nil {
		return nil, err
	}
	if err := waitForDataDir(ctx, dir, shutdownWait, logger); err != nil {
		return nil, err
	}

	for attempt := 1; ; attempt++ {
		port := opts.Port
		if port == 0 {
			if port, err = freePort(); err != nil {
				return nil, fmt.Errorf("start postgres in %s: %w", dir, err)
			}
		}
		c, err := start(ctx, dir, port, bins, account, opts.Fast, logger)
		if err == nil {
			return c, nil
		}
		if errors.Is(err, errOrphans) && attempt < orphanAttempts {
			// The previous server was killed and its backends have not all
			// noticed yet; they exit within moments.
			logger.Info("backends of a killed postgres are still exiting, retrying", "dir", dir)
			select {
			case <-ctx.Done():
				return nil, err
			case <-time.After(200 * time.Millisecond):
			}
			continue
		}
		if opts.Port != 0 || attempt >= portAttempts || !errors.Is(err, errPortTaken) {
			return nil, err
		}
		logger.Info("postgres port was taken meanwhile, retrying with another", "port", port)
	}
}

// prepareDataDir makes sure dir holds a cluster that the server account can
// use, running initdb when dir is missing or empty.
func prepareDataDir(ctx context.Context, dir string, bins binaries, account *runAs, fast bool, logger *slog.Logger) error {
	if _, err := os.Stat(filepath.Join(dir, "PG_VERSION")); err == nil {
		logger.Debug("reusing postgres cluster", "dir", dir)
		return nil
	}
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("create postgres data dir %s: %w", dir, err)
		}
	case err != nil:
		return fmt.Errorf("read postgres data dir %s: %w", dir, err)
	case len(entries) > 0:
		// Refuse rather than guess: initdb would fail anyway, and the
		// files may be someone's data.
		return fmt.Errorf("postgres data dir %s is neither empty nor a cluster (no PG_VERSION): choose another directory", dir)
	}
	if account != nil {
		if err := os.Chown(dir, account.uid, account.gid); err != nil {
			return fmt.Errorf("hand postgres data dir %s to user %s: %w", dir, account.name, err)
		}
		if err := makeTraversable(filepath.Dir(dir), logger); err != nil {
			return err
		}
	}

	args := []string{
		"-D", dir,
		"-U", superuser,
		"-A", "trust",
		"--encoding=UTF8",
		// The C locale exists everywhere, so initdb does not depend on
		// which locales the machine has generated.
		"--no-locale",
	}
	if fast {
		args = append(args, "--no-sync")
	}
	cmd := exec.CommandContext(ctx, bins.initdb, args...)
	cmd.Dir = dir // the server account may not be allowed into our working dir
	cmd.SysProcAttr = sysProcAttr(account)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	logger.Info("creating postgres cluster", "dir", dir, "initdb", bins.initdb)
	if err := cmd.Run(); err != nil {
		// initdb cleans up after itself only when it is not killed (as
		// when ctx ends); a half-made cluster would fail every later
		// Start, and dir was empty before, so empty it again.
		if err := emptyDir(dir); err != nil {
			logger.Warn("cleaning up after failed initdb", "dir", dir, "err", err)
		}
		return fmt.Errorf("initdb %s: %w\n%s", dir, err, tail(out.Bytes(), 20))
	}

	// initdb also trusts the unix socket and ::1; we use neither, so say
	// exactly what is allowed.
	hba := "# Written by pgcluster: trust, on loopback only.\n" +
		"host all all 127.0.0.1/32 trust\n" +
		"host replication all 127.0.0.1/32 trust\n"
	if err := os.WriteFile(filepath.Join(dir, "pg_hba.conf"), []byte(hba), 0o600); err != nil {
		return fmt.Errorf("write pg_hba.conf in %s: %w", dir, err)
	}
	if account != nil {
		if err := os.Chown(filepath.Join(dir, "pg_hba.conf"), account.uid, account.gid); err != nil {
			return fmt.Errorf("hand pg_hba.conf in %s to user %s: %w", dir, account.name, err)
		}
	}
	return nil
}

func emptyDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// makeTraversable adds o+x to dir and its ancestors that lack it, because
// the server account must reach the data dir through them (t.TempDir, for
// one, makes 0700 directories).
func makeTraversable(dir string, logger *slog.Logger) error {
	dir, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return fmt.Errorf("resolve %s: %w", dir, err)
	}
	for {
		fi, err := os.Stat(dir)
		if err != nil {
			return fmt.Errorf("stat %s: %w", dir, err)
		}
		if mode := fi.Mode().Perm(); mode&0o001 == 0 {
			if err := os.Chmod(dir, mode|0o001); err != nil {
				return fmt.Errorf("make %s traversable for user %s: %w", dir, systemUser, err)
			}
			logger.Warn("made directory traversable (o+x) so the postgres user can reach its data dir", "dir", dir)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return nil
		}
		dir = parent
	}
}

// ownerSetting is a placeholder setting (postgres accepts any name with a
// dot) that carries the pid of the process that started the server. It
// appears in the server's command line, so that a later Start can tell a
// server of its own whose owner has died from one that someone runs.
const ownerSetting = "pgcluster.owner"

// holder is what the process named in a data dir's postmaster.pid is to
// Start.
type holder int

const (
	// holderGone: no live process; a stale postmaster.pid is for postgres
	// to clean up, which it does.
	holderGone holder = iota
	// holderStopping: a server that is shutting down, as postmaster.pid
	// says, or one of ours whose owner has died (its parent-death signal
	// has asked it to stop).
	holderStopping
	// holderRunning: a live postgres server.
	holderRunning
	// holderNotPostgres: the pid is alive but is not a postgres server,
	// so the file is stale, and postgres itself would refuse to start.
	holderNotPostgres
	// holderUnknown: the pid is alive and cannot be inspected.
	holderUnknown
)

// lockFile is the part of postmaster.pid that Start needs: the pid on its
// first line and the status on its eighth ("starting", "ready", "stopping"
// or "standby"), which the server updates as it goes.
type lockFile struct {
	pid    int
	status string
}

func readLockFile(dir string) (lockFile, bool) {
	b, err := os.ReadFile(filepath.Join(dir, "postmaster.pid"))
	if err != nil {
		return lockFile{}, false
	}
	lines := strings.Split(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(lines[0]))
	if err != nil || pid <= 0 {
		return lockFile{}, false
	}
	lf := lockFile{pid: pid}
	if len(lines) >= 8 {
		lf.status = strings.TrimSpace(lines[7])
	}
	return lf, true
}

// verdict is what Start found out about the process in postmaster.pid.
type verdict struct {
	kind holder
	args string // its command line, when known
	// ours: pgcluster started it on this data dir, for owner.
	ours      bool
	owner     int
	ownerArgs string
}

// describe is the process for messages: its pid and what is known of it.
func (v verdict) describe(pid int) string {
	s := fmt.Sprintf("pid %d", pid)
	if v.args != "" {
		s += ": " + v.args
	}
	if v.ours && v.kind == holderRunning {
		s += fmt.Sprintf("; started by pid %d", v.owner)
		if v.ownerArgs != "" {
			s += ": " + v.ownerArgs
		}
	}
	return s
}

func classify(dir string, lf lockFile) verdict {
	if lf.pid == os.Getpid() || !processAlive(lf.pid) {
		return verdict{kind: holderGone}
	}
	info, ok := inspectProcess(lf.pid)
	switch {
	case !ok && !processAlive(lf.pid):
		return verdict{kind: holderGone} // it exited meanwhile
	case !ok && lf.status == "stopping":
		return verdict{kind: holderStopping}
	case !ok:
		return verdict{kind: holderUnknown}
	}
	v := verdict{args: strings.Join(info.args, " ")}
	if !isPostgres(info.args) {
		v.kind = holderNotPostgres
		return v
	}
	v.owner, v.ours = ownerOf(info.args, dir)
	switch {
	case lf.status == "stopping":
		v.kind = holderStopping
	case !v.ours:
		v.kind = holderRunning
	case info.ppid != v.owner || processDying(v.owner):
		// The owner is the server's parent for as long as it lives: once
		// it has gone, the kernel reparents the server and sends it the
		// parent-death signal, which the server answers by writing
		// "stopping" a moment later. An owner being killed is as good as
		// gone.
		v.kind = holderStopping
	default:
		v.kind = holderRunning
		if oi, ok := inspectProcess(v.owner); ok {
			v.ownerArgs = strings.Join(oi.args, " ")
		}
	}
	return v
}

// isPostgres reports whether a command line is a postmaster's, which keeps
// the command line it was started with (its backends rewrite theirs).
func isPostgres(args []string) bool {
	if len(args) == 0 {
		return false
	}
	base := filepath.Base(args[0])
	return base == "postgres" || base == "postmaster"
}

// ownerOf finds the owner pid that pgcluster put in a server's command
// line, and whether that server serves dir.
func ownerOf(args []string, dir string) (owner int, ours bool) {
	var dataDir string
	for i := 1; i+1 < len(args); i++ {
		switch args[i] {
		case "-D":
			dataDir = args[i+1]
		case "-c":
			if v, ok := strings.CutPrefix(args[i+1], ownerSetting+"="); ok {
				owner, _ = strconv.Atoi(v)
			}
		}
	}
	return owner, owner > 0 && dataDir == dir
}

// waitForDataDir returns once no other server holds dir, waiting up to
// wait for one that is shutting down (typically ours, left by a run that
// was killed a moment ago). It refuses a server that someone runs, with
// advice that fits what the pid in postmaster.pid is: never to delete the
// file while the server it names lives.
func waitForDataDir(ctx context.Context, dir string, wait time.Duration, logger *slog.Logger) error {
	deadline := time.Now().Add(wait)
	waiting := false
	for {
		lf, ok := readLockFile(dir)
		if !ok {
			return nil
		}
		v := classify(dir, lf)
		switch v.kind {
		case holderGone:
			if waiting {
				logger.Info("the previous postgres on this data dir has exited", "dir", dir, "pid", lf.pid)
			}
			return nil
		case holderRunning:
			return fmt.Errorf("start postgres in %s: a server is already running on this data dir (%s): stop it first (kill -INT %d is a fast shutdown), or choose another data dir", dir, v.describe(lf.pid), lf.pid)
		case holderNotPostgres:
			return fmt.Errorf("start postgres in %s: postmaster.pid names a process that is not a postgres server (%s), so the file is stale, left by a server that did not shut down cleanly: delete %s and start again", dir, v.describe(lf.pid), filepath.Join(dir, "postmaster.pid"))
		case holderUnknown:
			return fmt.Errorf("start postgres in %s: a server may be running on this data dir (pid %d in postmaster.pid is alive): stop it first, or choose another data dir", dir, lf.pid)
		}
		if !waiting {
			logger.Info("waiting for the previous postgres on this data dir to finish shutting down", "dir", dir, "pid", lf.pid)
			waiting = true
		}
		if time.Now().After(deadline) {
			see := ""
			if v.ours {
				see = fmt.Sprintf(" (its log: %s)", filepath.Join(dir, logName))
			}
			return fmt.Errorf("start postgres in %s: the server on this data dir (%s) is still shutting down after %s%s: wait for it to exit, or end it now with kill -QUIT %d (immediate shutdown; the next start recovers from the WAL)", dir, v.describe(lf.pid), wait, see, lf.pid)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("start postgres in %s: waiting for the server on it (pid %d) to shut down: %w", dir, lf.pid, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pick a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

var errPortTaken = errors.New("port already in use")

// errOrphans is a start refused because backends of a killed server still
// hold its shared memory.
var errOrphans = errors.New("backends of a previous server still running")

func start(ctx context.Context, dir string, port int, bins binaries, account *runAs, fast bool, logger *slog.Logger) (*Cluster, error) {
	logPath := filepath.Join(dir, logName)
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open postgres log %s: %w", logPath, err)
	}
	defer logFile.Close() // the child keeps its own copy
	if account != nil {
		// Keep everything in the data dir owned by the server account.
		if err := logFile.Chown(account.uid, account.gid); err != nil {
			return nil, fmt.Errorf("hand %s to user %s: %w", logPath, account.name, err)
		}
	}
	logStart, err := logFile.Seek(0, io.SeekEnd)
	if err != nil {
		return nil, fmt.Errorf("seek postgres log %s: %w", logPath, err)
	}

	args := []string{
		"-D", dir,
		"-p", strconv.Itoa(port),
		"-c", "listen_addresses=127.0.0.1",
		// No unix socket: its path would be too long in deep temp dirs,
		// and every client here uses TCP anyway.
		"-c", "unix_socket_directories=",
		"-c", ownerSetting + "=" + strconv.Itoa(os.Getpid()),
	}
	if fast {
		args = append(args,
			"-c", "fsync=off",
			"-c", "synchronous_commit=off",
			"-c", "full_page_writes=off",
		)
	}
	// Not CommandContext: ctx bounds the start, not the server's lifetime.
	cmd := exec.Command(bins.postgres, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = sysProcAttr(account)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start postgres in %s: %w", dir, err)
	}

	c := &Cluster{dir: dir, port: port, logger: logger, cmd: cmd, done: make(chan struct{})}
	go func() {
		c.waitErr = cmd.Wait()
		close(c.done)
	}()

	if err := c.waitReady(ctx); err != nil {
		select {
		case <-c.done:
			log := c.logSince(logPath, logStart)
			if bytes.Contains(log, []byte("could not create any TCP/IP sockets")) {
				err = fmt.Errorf("%w: %w", errPortTaken, err)
			}
			if bytes.Contains(log, []byte("pre-existing shared memory block")) {
				err = fmt.Errorf("%w: %w", errOrphans, err)
			}
			return nil, fmt.Errorf("start postgres in %s: %w; last lines of %s:\n%s", dir, err, logPath, tail(log, 20))
		default:
			_ = c.Stop()
			return nil, fmt.Errorf("start postgres in %s: %w; see %s", dir, err, logPath)
		}
	}
	logger.Info("postgres started", "dir", dir, "port", port, "pid", cmd.Process.Pid, "log", logPath)
	return c, nil
}

// waitReady polls until the server answers a query, it dies, or time runs
// out; the port may open before the server finishes recovery.
func (c *Cluster) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	var lastErr error
	for {
		if err := c.ping(ctx); err == nil {
			return nil
		} else {
			lastErr = err
		}
		select {
		case <-c.done:
			return fmt.Errorf("postgres exited during startup: %v", c.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("not accepting connections after %s: %w (last error: %v)", startTimeout, ctx.Err(), lastErr)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (c *Cluster) ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	return conn.Ping(ctx)
}

// logSince reads what the server wrote to its log during this run.
func (c *Cluster) logSince(path string, offset int64) []byte {
	f, err := os.Open(path)
	if err != nil {
		return []byte(fmt.Sprintf("(cannot read log: %v)", err))
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return []byte(fmt.Sprintf("(cannot read log: %v)", err))
	}
	b, _ := io.ReadAll(io.LimitReader(f, 1<<20))
	return b
}

// tail returns the last n lines of b, enough to see why something failed.
func tail(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// URL returns a connection URL for database as the superuser.
func (c *Cluster) URL(database string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User(superuser),
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(c.port)),
		Path:     "/" + database,
		RawPath:  "/" + url.PathEscape(database),
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// EnsureDatabase creates database name unless it exists, so that callers
// can run it on every start of a reused cluster.
func (c *Cluster) EnsureDatabase(ctx context.Context, name string) error {
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		return fmt.Errorf("create database %s: connect: %w", name, err)
	}
	defer conn.Close(context.Background())
	var exists bool
	err = conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists)
	if err != nil {
		return fmt.Errorf("create database %s: check existence: %w", name, err)
	}
	if exists {
		return nil
	}
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P04" {
		return nil // created concurrently: fine
	}
	if err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}

// Stop shuts the server down (fast shutdown: clients are disconnected,
// transactions rolled back) and waits for it to exit. It is safe to call
// more than once.
func (c *Cluster) Stop() error {
	c.stopOnce.Do(func() { c.stopErr = c.stop() })
	return c.stopErr
}

func (c *Cluster) stop() error {
	select {
	case <-c.done:
		return fmt.Errorf("stop postgres in %s: it had already exited: %v", c.dir, c.waitErr)
	default:
	}
	pid := c.cmd.Process.Pid
	// SIGINT is postgres' "fast" shutdown.
	if err := c.cmd.Process.Signal(os.Interrupt); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("stop postgres in %s: signal pid %d: %w", c.dir, pid, err)
	}
	select {
	case <-c.done:
	case <-time.After(stopTimeout):
		// SIGQUIT is "immediate" shutdown; then kill whatever is left so
		// nothing outlives us.
		c.logger.Warn("postgres did not stop in time, forcing it", "dir", c.dir, "pid", pid)
		_ = c.cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-c.done:
		case <-time.After(5 * time.Second):
			killGroup(pid)
			<-c.done
		}
		return fmt.Errorf("stop postgres in %s: fast shutdown took over %s, forced", c.dir, stopTimeout)
	}
	if c.waitErr != nil {
		return fmt.Errorf("stop postgres in %s: %w", c.dir, c.waitErr)
	}
	c.logger.Info("postgres stopped", "dir", c.dir)
	return nil
}
