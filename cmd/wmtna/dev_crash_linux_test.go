package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestDevStartsAgainAtOnceAfterSIGKILL is a crash as a supervisor (or an
// impatient person) handles it: the whole process group of `wmtna dev` is
// SIGKILLed and `wmtna dev` is started again at once. Its PostgreSQL runs in
// a process group of its own and is still in the fast shutdown its
// parent-death signal asked for; the new run must wait for it, not refuse,
// and carry on with the data of the first.
func TestDevStartsAgainAtOnceAfterSIGKILL(t *testing.T) {
	t.Setenv("DATABASE_URL", "")
	t.Setenv("WMTNA_ADMIN_TOKEN", "")
	t.Setenv("WMTNA_METRICS_TOKEN", "")
	t.Setenv("SMTP_URL", "")
	t.Setenv("WMTNA_PUBLIC_URL", "")
	dir := filepath.Join(t.TempDir(), "data")
	httpAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	uiPort := freePort(t)
	// Fixed ports on both runs, as a developer's defaults are: the second
	// run must get them back from the killed one.
	args := []string{"--data-dir", dir, "--http-addr", httpAddr,
		"--temporal-port", fmt.Sprint(freePort(t)), "--ui-port", fmt.Sprint(uiPort)}
	t.Cleanup(func() { waitPostgresGone(t, dir) })

	first := startDevProcess(t, args)
	ctx := context.Background()
	conn := connectDevPostgres(t, dir)
	// Dirty pages give the killed run's server a shutdown checkpoint to
	// write, which is the window this test is about.
	if _, err := conn.Exec(ctx, "CREATE TABLE crash_sentinel AS SELECT g FROM generate_series(1, 200000) AS g"); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	oldPostgres, _ := postmasterPID(dir)

	first.kill()
	stillShuttingDown := processAlive(oldPostgres)
	second := startDevProcess(t, args)
	t.Logf("the killed run's postgres (pid %d) was still alive when the second run started: %v", oldPostgres, stillShuttingDown)
	for _, line := range strings.Split(second.stderr.String(), "\n") {
		if strings.Contains(line, "previous postgres") {
			t.Logf("second run: %s", line)
		}
	}

	var n int
	if err := connectDevPostgres(t, dir).QueryRow(ctx, "SELECT count(*) FROM crash_sentinel").Scan(&n); err != nil || n != 200000 {
		t.Errorf("after the restart: %d rows, err %v; want 200000", n, err)
	}
	if status, body := call(t, "GET", "http://"+httpAddr+"/healthz", "", ""); status != 200 {
		t.Errorf("healthz after the restart: %d %s", status, body)
	}
	if status, _ := call(t, "GET", fmt.Sprintf("http://127.0.0.1:%d/", uiPort), "", ""); status != 200 {
		t.Errorf("Temporal UI after the restart: %d", status)
	}
	if err := second.interrupt(); err != nil {
		t.Errorf("second run did not stop cleanly on SIGINT: %v\n%s", err, second.stderr.String())
	}
}

// devProcess is `wmtna dev` in a child process with a process group of its
// own, so that a test can kill it as a whole.
type devProcess struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdout *lockedBuffer
	stderr *lockedBuffer
	done   chan error
}

// startDevProcess runs `wmtna dev args` (this test binary, as
// TestDevHelperProcess) and returns once it says it is running.
func startDevProcess(t *testing.T, args []string) *devProcess {
	t.Helper()
	encoded, err := json.Marshal(args)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestDevHelperProcess$")
	cmd.Env = append(os.Environ(), "WMTNA_DEV_HELPER_ARGS="+string(encoded))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p := &devProcess{t: t, cmd: cmd, stdout: &lockedBuffer{}, stderr: &lockedBuffer{}, done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = p.stdout, p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(p.kill)

	deadline := time.After(2 * time.Minute)
	for !strings.Contains(p.stdout.String(), "is running") {
		select {
		case err := <-p.done:
			p.done <- err
			t.Fatalf("wmtna dev exited before it was running (%v):\n%s", err, p.stderr.String())
		case <-deadline:
			t.Fatalf("wmtna dev did not start within 2 minutes:\n%s", p.stderr.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	return p
}

// kill SIGKILLs the process group and reaps the process, as a supervisor
// does before it starts a replacement.
func (p *devProcess) kill() {
	if p.cmd.ProcessState != nil {
		return
	}
	if err := syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		p.t.Errorf("kill process group %d: %v", p.cmd.Process.Pid, err)
	}
	err := <-p.done
	p.done <- err
}

// interrupt is Ctrl-C: it returns how the process exited.
func (p *devProcess) interrupt() error {
	if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
		return err
	}
	select {
	case err := <-p.done:
		p.done <- err
		return err
	case <-time.After(time.Minute):
		p.kill()
		return errors.New("still running a minute after SIGINT")
	}
}

// TestDevHelperProcess is the `wmtna dev` that startDevProcess runs.
func TestDevHelperProcess(t *testing.T) {
	encoded := os.Getenv("WMTNA_DEV_HELPER_ARGS")
	if encoded == "" {
		t.Skip("only runs as a child of startDevProcess")
	}
	var args []string
	if err := json.Unmarshal([]byte(encoded), &args); err != nil {
		t.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, append([]string{"dev"}, args...), os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "wmtna:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// postmasterPID reads the pid and port of the dev cluster's server from
// its postmaster.pid.
func postmasterPID(dataDir string) (pid, port int) {
	b, err := os.ReadFile(filepath.Join(dataDir, "postgres", "postmaster.pid"))
	if err != nil {
		return 0, 0
	}
	lines := strings.Split(string(b), "\n")
	if len(lines) < 4 {
		return 0, 0
	}
	pid, _ = strconv.Atoi(strings.TrimSpace(lines[0]))
	port, _ = strconv.Atoi(strings.TrimSpace(lines[3]))
	return pid, port
}

func connectDevPostgres(t *testing.T, dataDir string) *pgx.Conn {
	t.Helper()
	_, port := postmasterPID(dataDir)
	if port == 0 {
		t.Fatalf("no postmaster.pid with a port in %s", dataDir)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, fmt.Sprintf("postgres://postgres@127.0.0.1:%d/wmtna?sslmode=disable", port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// waitPostgresGone waits for the dev cluster's server, which outlives a
// killed run for a moment, so that the temporary directory can go.
func waitPostgresGone(t *testing.T, dataDir string) {
	pid, _ := postmasterPID(dataDir)
	deadline := time.Now().Add(time.Minute)
	for pid > 0 && processAlive(pid) {
		if time.Now().After(deadline) {
			t.Errorf("postgres pid %d still running a minute after the test", pid)
			_ = syscall.Kill(pid, syscall.SIGQUIT)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
