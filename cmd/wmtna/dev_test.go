package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wmtna/referrals/internal/stacktest"
)

// TestDevRunsEverythingAndCarriesOnAfterRestart is the README's promise:
// `wmtna dev` alone brings up PostgreSQL, Temporal with its UI, the worker
// and the API with demo data, and a restart on the same data directory keeps
// every referral and carries on with it.
func TestDevRunsEverythingAndCarriesOnAfterRestart(t *testing.T) {
	t.Setenv("DATABASE_URL", "")
	t.Setenv("WMTNA_ADMIN_TOKEN", "")
	t.Setenv("WMTNA_METRICS_TOKEN", "")
	t.Setenv("SMTP_URL", "")
	dir := filepath.Join(t.TempDir(), "data")
	httpAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	args := []string{"--data-dir", dir, "--http-addr", httpAddr,
		"--temporal-port", fmt.Sprint(freePort(t)), "--ui-port", fmt.Sprint(freePort(t))}
	api := "http://" + httpAddr

	stop := startDev(t, args)
	var tokens struct {
		Operator  string            `json:"operator"`
		Committee map[string]string `json:"committee"`
	}
	b, err := os.ReadFile(filepath.Join(dir, "demo-tokens.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &tokens); err != nil {
		t.Fatal(err)
	}
	// wmtna dev runs on the real clock: the training start is today's.
	status, body := call(t, "POST", api+"/v1/referrals", "", `{"name":"Dev User","email":"dev@nhs.example","programme":"clinical",
		"employer":"RXT","training_start":"`+stacktest.TrainingMonth(time.Now())+`","concerns":"none","consent":true}`)
	if status != 202 {
		t.Fatalf("submit: %d %s", status, body)
	}
	// The link to confirm it is in the dev mailbox, as the README's walk
	// finds it.
	waitFor(t, api+"/dev/mailbox?to=dev@nhs.example", "", "Confirm your email address")
	_, page := call(t, "GET", api+"/dev/mailbox?to=dev@nhs.example", "", "")
	code := regexp.MustCompile(`/confirm/([A-Za-z0-9_-]+)`).FindStringSubmatch(page)
	if code == nil {
		t.Fatalf("no link to confirm in the dev mailbox:\n%s", page)
	}
	status, body = call(t, "POST", api+"/v1/confirmations", "", `{"code":"`+code[1]+`"}`)
	if status != 201 {
		t.Fatalf("confirm: %d %s", status, body)
	}
	var ref struct{ ID string }
	_ = json.Unmarshal([]byte(body), &ref)
	waitFor(t, api+"/v1/referrals/"+ref.ID, tokens.Operator, `"status":"awaiting_review"`)
	// The trainee's email reached the dev mailbox, with a link to the pages.
	waitFor(t, api+"/dev/mailbox?to=dev@nhs.example", "", "We have received your referral")
	if _, page := call(t, "GET", api+"/dev/mailbox?to=dev@nhs.example", "", ""); !strings.Contains(page, `<a href="`+api+`/my-referral">`) {
		t.Errorf("the dev mailbox shows no link to the trainee's page:\n%s", page)
	}
	if status, page := call(t, "GET", api+"/", "", ""); status != 200 || !strings.Contains(page, "Refer yourself") {
		t.Errorf("the start page: %d", status)
	}
	stop()

	stop = startDev(t, args)
	defer stop()
	status, body = call(t, "POST", api+"/v1/referrals/"+ref.ID+"/review", tokens.Committee["chair"], `{"decision":"approve"}`)
	if status != 200 || !strings.Contains(body, `"status":"offered"`) {
		t.Fatalf("approve after restart: %d %s", status, body)
	}
	uiURL := "http://127.0.0.1:" + args[7] + "/"
	if status, body := call(t, "GET", uiURL, "", ""); status != 200 || !strings.Contains(strings.ToLower(body), "<html") {
		t.Errorf("Temporal UI at %s: %d", uiURL, status)
	}
	// One /metrics for the dev process: the API's, the worker's and the figures.
	_, metrics := call(t, "GET", api+"/metrics", "", "")
	for _, want := range []string{`wmtna_http_requests_total{method="POST",route="/v1/referrals/{id}/review",status="200"} 1`,
		`temporal_activity_execution_latency_count{activity_type="Enqueue"`, `wmtna_referrals{status="offered"} 1`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// startDev runs `wmtna dev` in this process until the returned stop is
// called, after it has printed that it is running.
func startDev(t *testing.T, args []string) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := &lockedBuffer{}
	done := make(chan error, 1)
	go func() { done <- runDev(ctx, args, out, io.Discard) }()
	deadline := time.Now().Add(2 * time.Minute)
	for !strings.Contains(out.String(), "is running") {
		select {
		case err := <-done:
			cancel()
			t.Fatalf("dev stopped before it was running: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatal("dev did not start within 2 minutes")
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, want := range []string{"Web pages    http://", "Dev mailbox  http://", "chair@wmtna.example", "Temporal UI  http://", "/namespaces/default/workflows?query=WorkflowType%20%3D%20%22Referral%22", "operator ", "committee (chair"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("dev's banner lacks %q:\n%s", want, out.String())
		}
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("dev stopped with %v", err)
			}
		})
	}
}

// call sends a JSON body (none when "") and returns the status and body.
func call(t *testing.T, method, url, token, body string) (int, string) {
	t.Helper()
	var payload any
	if body != "" {
		payload = body
	}
	r, err := stacktest.Call(http.DefaultClient, "", method, url, token, payload)
	if err != nil {
		t.Fatal(err)
	}
	return r.Status, r.Raw
}

func waitFor(t *testing.T, url, token, want string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, body := call(t, "GET", url, token, "")
		if strings.Contains(body, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never showed %s: %s", url, want, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
