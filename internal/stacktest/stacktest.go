// Package stacktest starts the whole service for a test: a real Temporal
// server (temporaltest), a real PostgreSQL database (pgtest), the referral
// worker and the HTTP API, wired as in production.
package stacktest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	updatepb "go.temporal.io/api/update/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/server/temporaltest"

	"github.com/wmtna/referrals/internal/codec"
	"github.com/wmtna/referrals/internal/config"
	"github.com/wmtna/referrals/internal/devmail"
	"github.com/wmtna/referrals/internal/metrics"
	"github.com/wmtna/referrals/internal/postgres"
	"github.com/wmtna/referrals/internal/postgres/postgrestest"
	"github.com/wmtna/referrals/internal/ratelimit"
	"github.com/wmtna/referrals/internal/referral"
	"github.com/wmtna/referrals/internal/wiring"
	"github.com/wmtna/referrals/worker"
	"github.com/wmtna/referrals/workflows"
)

// AdminToken is the operator token every stack starts with.
const AdminToken = "stacktest-operator-token-0123456789abcdef"

// Stack is a running service.
type Stack struct {
	t        testing.TB
	DB       *postgres.DB
	Temporal *temporaltest.TestServer
	Client   client.Client
	Config   config.Config
	API      *httptest.Server
	Logs     *Buffer // everything the service logged, for privacy checks
	// PayloadKeys encrypt every payload of the stack (a random key per
	// stack), as WMTNA_PAYLOAD_KEYS does in production. The API serves the
	// codec endpoint at /codec/ for its operators. Nil when
	// WMTNA_RECORD_HISTORIES=1 (see Start).
	PayloadKeys *codec.Keys
	// Metrics is the stack's registry, served at the API's /metrics: the
	// API's requests, the pipeline's figures and the SDK's metrics.
	Metrics *prometheus.Registry
	// Mailbox is a real SMTP server that every email of the stack goes to.
	Mailbox *devmail.Box

	// http calls the API for Do and Call, with a timeout, so that a request
	// that hangs fails the test instead of blocking it.
	http     *http.Client
	mu       sync.Mutex
	worker   *wiring.WorkerProcess
	recorded *recordedStatuses
	codes    map[string]bool // confirmation codes Refer has used
}

// Buffer is a goroutine-safe log sink.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Option changes how Start brings a stack up.
type Option func(*options)

type options struct {
	clock func() time.Time
}

// WithClock runs the service on clock (config.Config.Clock) instead of the
// one WMTNA_TEST_CLOCK names (EnvClock).
func WithClock(clock func() time.Time) Option {
	return func(o *options) { o.clock = clock }
}

// requestTimeout bounds one call of the API by Do or Call; the slowest
// answers (a decision waiting for a worker to come back) take seconds.
const requestTimeout = 60 * time.Second

// Start brings the stack up with the given timings; everything stops when
// the test ends. Its service clock is EnvClock's unless an option sets it.
func Start(t testing.TB, timings workflows.Timings, opts ...Option) *Stack {
	t.Helper()
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if o.clock == nil {
		o.clock = EnvClock(t)
	}
	ctx := context.Background()
	db, url := postgrestest.Open(t, "")

	logs := &Buffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	keys := newPayloadKeys(t)
	reg := metrics.NewRegistry()
	recorded := &recordedStatuses{}
	ts := temporaltest.NewServer(temporaltest.WithBaseClientOptions(client.Options{
		Logger:         wiring.TemporalLogger(logger),
		DataConverter:  codec.DataConverter(keys),
		MetricsHandler: metrics.NewTemporalHandler(reg),
		Interceptors:   []interceptor.ClientInterceptor{recorded},
	}))
	t.Cleanup(ts.Stop)
	c := ts.GetDefaultClient()
	if err := worker.EnsureSearchAttributes(ctx, c, ts.GetDefaultNamespace()); err != nil {
		t.Fatal(err)
	}
	box, err := devmail.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = box.Close() })
	cfg := config.Config{DatabaseURL: url, AdminToken: AdminToken, Timings: timings, TraineeLinkTTL: time.Hour, PayloadKeys: keys,
		SMTPURL: box.URL(), MailFrom: "WMTNA <no-reply@wmtna.invalid>", Clock: o.clock,
		ContactEmail: "committee@wmtna.example", Retention: 2 * 365 * 24 * time.Hour}
	if err := wiring.EnsureAdmin(ctx, db, AdminToken); err != nil {
		t.Fatal(err)
	}
	srv := wiring.NewAPI(db, c, cfg, logger)
	wiring.InstrumentAPI(srv, db, reg, "")
	// Tests submit many referrals from one address; the limits have their
	// own test.
	srv.Limits.SubmitsPerMinute, srv.Limits.AuthFailuresPerMinute = 100_000, 100_000
	api := httptest.NewServer(withCodec(srv.Handler(), srv.Limits, keys, db))
	t.Cleanup(api.Close)
	cfg.PublicURL, srv.App.PublicURL = api.URL, api.URL
	s := &Stack{t: t, DB: db, Temporal: ts, Client: c, Config: cfg, API: api, Logs: logs, PayloadKeys: keys, Metrics: reg, Mailbox: box,
		recorded: recorded, http: &http.Client{Timeout: requestTimeout}, codes: map[string]bool{}}
	s.StartWorker()
	t.Cleanup(s.StopWorker)
	return s
}

// newPayloadKeys makes a random payload key for one stack, so that every
// integration test runs with payload encryption on. Recording histories for
// the replay test (WMTNA_RECORD_HISTORIES=1) turns it off: the replayer
// reads recorded histories with the default data converter, and a random
// key would be lost with the stack.
func newPayloadKeys(t testing.TB) *codec.Keys {
	t.Helper()
	if os.Getenv("WMTNA_RECORD_HISTORIES") == "1" {
		return nil
	}
	entry, err := codec.GenerateKey("stacktest")
	if err != nil {
		t.Fatal(err)
	}
	keys, err := codec.ParseKeys(entry)
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// withCodec serves the payload codec at /codec/ for operators, as
// `wmtna api` does, when keys are set.
func withCodec(api http.Handler, limits *ratelimit.Limits, keys *codec.Keys, db *postgres.DB) http.Handler {
	if keys == nil {
		return api
	}
	h := http.StripPrefix("/codec", limits.CountUnauthorized(codec.Handler(keys, nil, codec.Bearer(func(ctx context.Context, token string) bool {
		p, err := db.Authenticate(ctx, token)
		return err == nil && p.Role == referral.RoleOperator
	}))))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/codec/") {
			h.ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(w, r)
	})
}

// StartWorker starts a referral worker (a new one after StopWorker, as a
// restarted process would).
func (s *Stack) StartWorker() {
	s.mu.Lock()
	defer s.mu.Unlock()
	logger := slog.New(slog.NewJSONHandler(s.Logs, nil))
	w := wiring.NewWorkerProcess(s.DB, s.Client, s.Config, logger)
	if err := w.Start(); err != nil {
		s.t.Fatal(err)
	}
	s.worker = w
}

// StopWorker stops the worker, if one runs.
func (s *Stack) StopWorker() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.worker != nil {
		s.worker.Stop()
		s.worker = nil
	}
}

// Response is an API answer.
type Response struct {
	Status int
	Header http.Header
	Body   map[string]any
	Raw    string
}

// Str returns a top-level string field of the body.
func (r Response) Str(field string) string {
	v, _ := r.Body[field].(string)
	return v
}

// ErrorField returns error.field of an error body.
func (r Response) ErrorField(name string) string {
	e, _ := r.Body["error"].(map[string]any)
	v, _ := e[name].(string)
	return v
}

// Now is the time by the stack's service clock.
func (s *Stack) Now() time.Time { return s.Config.Now() }

// TrainingMonth is a training start (YYYY-MM) well before its cut-off on
// the stack's clock: see TrainingStart.
func (s *Stack) TrainingMonth() string { return TrainingMonth(s.Now()) }

// Do calls the API with an optional bearer token and JSON body (a string is
// sent as is), failing the test if the request cannot be made or takes
// longer than a minute. It must be called from the test's goroutine; other
// goroutines use Call.
func (s *Stack) Do(method, path, token string, body any, headers ...string) Response {
	s.t.Helper()
	r, err := s.Call(method, path, token, body, headers...)
	if err != nil {
		s.t.Fatal(err)
	}
	return r
}

// Call is Do for any goroutine: it returns the error instead of failing
// the test.
func (s *Stack) Call(method, path, token string, body any, headers ...string) (Response, error) {
	return Call(s.http, s.API.URL, method, path, token, body, headers...)
}

// Call makes one API request and reads its answer; headers are name, value
// pairs. Unlike Do it returns transport errors, for tests that expect them
// (a server restarting) or call from several goroutines.
func Call(hc *http.Client, base, method, path, token string, body any, headers ...string) (Response, error) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			return Response{}, err
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		return Response{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := hc.Do(req)
	if err != nil {
		return Response{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return Response{}, err
	}
	r := Response{Status: resp.StatusCode, Header: resp.Header, Raw: string(raw)}
	_ = json.Unmarshal(raw, &r.Body)
	return r, nil
}

// WaitUpdateAdmitted waits until Temporal holds the workflow update (by its
// ID: the update name, a colon and the request's Idempotency-Key; see
// httpapi's update), so that the request carrying it is truly in flight
// even though no worker may be running to accept it. It fails the test
// after ten seconds.
func (s *Stack) WaitUpdateAdmitted(workflowID, updateID string) {
	s.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		resp, err := s.Client.WorkflowService().PollWorkflowExecutionUpdate(ctx, &workflowservice.PollWorkflowExecutionUpdateRequest{
			Namespace:  s.Temporal.GetDefaultNamespace(),
			UpdateRef:  &updatepb.UpdateRef{WorkflowExecution: &commonpb.WorkflowExecution{WorkflowId: workflowID}, UpdateId: updateID},
			WaitPolicy: &updatepb.WaitPolicy{LifecycleStage: enumspb.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_ADMITTED},
		})
		cancel()
		if err == nil && resp.GetStage() >= enumspb.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_ADMITTED {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("update %s of %s not admitted: %v", updateID, workflowID, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// WaitStatus polls a referral (as the operator) until it reaches want, and
// fails the test after timeout.
func (s *Stack) WaitStatus(id, want string, timeout time.Duration) Response {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		r := s.Do("GET", "/v1/referrals/"+id, AdminToken, nil)
		if r.Str("status") == want {
			return r
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("referral %s is %q after %s, want %q: %s", id, r.Str("status"), timeout, want, r.Raw)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
