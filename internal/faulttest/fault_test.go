package faulttest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/server/temporaltest"

	"github.com/wmtna/referrals/internal/codec"
	"github.com/wmtna/referrals/internal/config"
	"github.com/wmtna/referrals/internal/pgcluster"
	"github.com/wmtna/referrals/internal/pgtest"
	"github.com/wmtna/referrals/internal/postgres"
	"github.com/wmtna/referrals/internal/postgres/postgrestest"
	"github.com/wmtna/referrals/internal/stacktest"
	"github.com/wmtna/referrals/internal/wiring"
	"github.com/wmtna/referrals/worker"
	"github.com/wmtna/referrals/workflows"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// adminToken is the operator every stack here starts with.
const adminToken = "faulttest-operator-token-0123456789abcdef"

// timings keep every timer of a referral far away, so that only the faults
// move the referrals.
var timings = workflows.Timings{ReviewReminder: time.Hour, OfferTTL: time.Hour, WaitlistRecheck: time.Hour}

// TestWorkerKilledAtRandomPointsLosesAndRepeatsNothing drives 20 referrals
// through submit, approve and accept at once while the worker process, the
// real `wmtna worker` binary, is SIGKILLed at random moments and started
// again. Every referral must end matched with exactly its five events, each
// message written once, and no therapist holding more or fewer places than
// they have offers.
func TestWorkerKilledAtRandomPointsLosesAndRepeatsNothing(t *testing.T) {
	const (
		referrals = 20
		// Kills stop after chaosFor; the worker then runs undisturbed so
		// that what the last kills interrupted can finish: an activity lost
		// with a killed worker is retried only when its 30s start-to-close
		// timeout has passed, a workflow task after 10s.
		chaosFor = 15 * time.Second
		settle   = 60 * time.Second
	)
	began := time.Now()
	binDir := t.TempDir()
	built := make(chan error, 1)
	go func() { built <- buildWMTNA(binDir) }()

	st := newStack(t, "")
	if err := <-built; err != nil {
		t.Fatal(err)
	}
	t.Logf("stack up and wmtna built in %s", time.Since(began).Round(time.Millisecond))

	w := &workerProc{bin: filepath.Join(binDir, "wmtna"), env: st.workerEnv(t), out: &syncBuffer{}}
	t.Cleanup(w.stop)
	if err := w.start(); err != nil {
		t.Fatal(err)
	}
	// The first start proves the configuration; later ones are killed at
	// any point, before polling too.
	if err := w.waitOutput("worker polling", 30*time.Second); err != nil {
		t.Fatalf("%v; worker output:\n%s", err, w.out.tail(40))
	}

	chair := st.committeeMember(t)
	therapists := map[string]string{} // id → token
	for i := range 2 {
		id, token := st.therapist(t, i, 12) // 24 places for 20 referrals
		therapists[id] = token
	}

	seed := uint64(time.Now().UnixNano())
	t.Logf("chaos seed %d", seed)
	driving := time.Now()
	deadline := driving.Add(chaosFor + settle)
	stopChaos, chaosDone := make(chan struct{}), make(chan struct{})
	var kills int
	go func() {
		defer close(chaosDone)
		rng := rand.New(rand.NewPCG(seed, 0))
		end := time.Now().Add(chaosFor)
		for time.Now().Before(end) {
			select {
			case <-stopChaos:
				return
			case <-time.After(300*time.Millisecond + time.Duration(rng.Int64N(int64(1200*time.Millisecond)))):
			}
			if w.exited() {
				t.Errorf("the worker exited before it was killed; output:\n%s", w.out.tail(40))
			}
			w.kill()
			kills++
			if err := w.start(); err != nil {
				t.Errorf("restart worker: %v", err)
				return
			}
		}
	}()

	ids := make([]string, referrals)
	var wg sync.WaitGroup
	for i := range referrals {
		wg.Go(func() {
			// Spread over the first 5s, so that kills find referrals at
			// every stage.
			time.Sleep(time.Duration(i) * 250 * time.Millisecond)
			ids[i] = driveToMatched(t, st, i, chair, therapists, deadline)
		})
	}
	wg.Wait()
	close(stopChaos)
	<-chaosDone
	t.Logf("%d referrals driven to matched in %s; worker killed %d times", referrals, time.Since(driving).Round(time.Millisecond), kills)
	if t.Failed() {
		t.Fatalf("worker output (tail):\n%s", w.out.tail(60))
	}
	if w.exited() {
		t.Errorf("the worker exited on its own; output:\n%s", w.out.tail(40))
	}

	// The kills must have cut into work, or this proved nothing.
	var retried, timedOut int
	for _, id := range ids {
		h := historyOf(t, st, id)
		retried += h.retriedActivities
		timedOut += h.workflowTasksTimedOut
	}
	t.Logf("interrupted: %d activities retried, %d workflow tasks timed out", retried, timedOut)
	if retried+timedOut == 0 {
		t.Errorf("no activity or workflow task was interrupted by %d kills", kills)
	}

	ctx := context.Background()
	want := map[string]int{"confirm.trainee": 1, "committee.review": 1, "trainee.awaiting_review": 1, "therapist.offered": 1, "therapist.matched": 1, "trainee.matched": 1}
	for _, id := range ids {
		checkEvents(t, st.db, id, "submitted", "awaiting_review", "matching", "offered", "matched")
		checkOutbox(t, st.db, id, want)
	}
	conn := st.sql(t)
	var messages int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM outbox`).Scan(&messages); err != nil {
		t.Fatal(err)
	}
	if messages != referrals*len(want) {
		t.Errorf("%d messages in the outbox, want %d", messages, referrals*len(want))
	}
	// One offer per referral, accepted: a retried allocation made no
	// second offer.
	rows, err := conn.Query(ctx, `SELECT referral_id::text, count(*), count(*) FILTER (WHERE state = 'accepted') FROM offers GROUP BY referral_id`)
	if err != nil {
		t.Fatal(err)
	}
	offers := 0
	for rows.Next() {
		var id string
		var all, accepted int
		if err := rows.Scan(&id, &all, &accepted); err != nil {
			t.Fatal(err)
		}
		offers++
		if all != 1 || accepted != 1 {
			t.Errorf("referral %s has %d offers, %d accepted; want one, accepted", id, all, accepted)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if offers != referrals {
		t.Errorf("%d referrals have offers, want %d", offers, referrals)
	}
	checkPlaces(t, conn, referrals)
	t.Logf("total %s", time.Since(began).Round(time.Millisecond))
}

// driveToMatched takes one referral from submission to matched as its
// people would: each request is retried, with the same Idempotency-Key,
// while it times out or the API answers 503. It returns the referral's id,
// or "" after reporting what went wrong.
func driveToMatched(t *testing.T, st *stack, i int, chair string, therapists map[string]string, deadline time.Time) string {
	api := st.api()
	sub, err := st.refer(api, submission(st.trainingMonth(), fmt.Sprintf("trainee%d@nhs.example", i)), fmt.Sprintf("submit-%d", i), deadline)
	if err != nil {
		t.Errorf("referral %d: %v", i, err)
		return ""
	}
	id := sub.Str("id")
	if r, err := api.waitStatus(id, "awaiting_review", deadline); err != nil {
		t.Errorf("referral %d (%s): %v: %s", i, id, err, r.Raw)
		return ""
	}
	approved, err := api.retry(deadline, "POST", "/v1/referrals/"+id+"/review", chair, map[string]any{"decision": "approve"}, "Idempotency-Key", "approve-"+id)
	if err != nil || approved.Status != http.StatusOK || approved.Str("status") != "offered" || approved.Str("offer_id") == "" {
		t.Errorf("referral %d (%s): approve: %v %d %s", i, id, err, approved.Status, approved.Raw)
		return ""
	}
	token, ok := therapists[approved.Str("therapist_id")]
	if !ok {
		t.Errorf("referral %d (%s): offered to unknown therapist: %s", i, id, approved.Raw)
		return ""
	}
	accepted, err := api.retry(deadline, "POST", "/v1/offers/"+approved.Str("offer_id")+"/accept", token, nil, "Idempotency-Key", "accept-"+id)
	if err != nil || accepted.Status != http.StatusOK || accepted.Str("status") != "matched" {
		t.Errorf("referral %d (%s): accept: %v %d %s", i, id, err, accepted.Status, accepted.Raw)
		return ""
	}
	return id
}

// TestPostgresOutageAnswers503AndRecovers stops PostgreSQL under a running
// stack with referrals in flight: while it is down the API answers 503 with
// a JSON error (never 500) and /readyz says so; once it is back on the same
// port the API recovers by itself and every referral submitted before the
// outage reaches awaiting_review, its activities retried, nothing lost.
func TestPostgresOutageAnswers503AndRecovers(t *testing.T) {
	began := time.Now()
	ctx := context.Background()
	dataDir := filepath.Join(t.TempDir(), "pg")
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	cluster, err := pgcluster.Start(ctx, pgcluster.Options{DataDir: dataDir, Fast: true, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cluster != nil { // nil while it is down
			if err := cluster.Stop(); err != nil {
				t.Error(err)
			}
		}
	})
	if err := cluster.EnsureDatabase(ctx, "wmtna"); err != nil {
		t.Fatal(err)
	}
	dbURL := cluster.URL("wmtna")
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	port, err := strconv.Atoi(u.Port())
	if err != nil {
		t.Fatal(err)
	}

	st := newStack(t, dbURL)
	st.startWorker(t)
	api := st.api()
	chair := st.committeeMember(t)

	// Referrals in flight: postgres stops right after the last submission
	// is answered, while the worker records their first transitions.
	var ids []string
	for i := range 6 {
		r, err := st.refer(api, submission(st.trainingMonth(), fmt.Sprintf("before%d@nhs.example", i)), fmt.Sprintf("before%d", i), time.Now().Add(20*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.Str("id"))
	}

	stopped := time.Now()
	err = cluster.Stop()
	cluster = nil
	if err != nil {
		t.Fatal(err)
	}

	// While it is down: 503 with a JSON error body everywhere, never 500.
	for _, c := range []struct {
		method, path, token string
		body                any
	}{
		{"POST", "/v1/referrals", "", submission(st.trainingMonth(), "during@nhs.example")},
		{"GET", "/v1/referrals/" + ids[0], adminToken, nil},
		{"GET", "/v1/referrals/" + ids[0], chair, nil},
		{"GET", "/v1/referrals?status=awaiting_review", chair, nil},
		{"POST", "/v1/referrals/" + ids[0] + "/review", chair, map[string]any{"decision": "approve"}},
		{"GET", "/v1/therapists", adminToken, nil},
	} {
		r, err := api.do(c.method, c.path, c.token, c.body)
		if err != nil {
			t.Fatalf("%s %s while postgres is down: %v", c.method, c.path, err)
		}
		if r.Status != http.StatusServiceUnavailable || r.ErrorField("code") != "unavailable" || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
			t.Errorf("%s %s while postgres is down: %d %q %s, want 503 with a JSON error", c.method, c.path, r.Status, r.Header.Get("Content-Type"), r.Raw)
		}
	}
	ready, err := api.do("GET", "/readyz", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if ready.Status != http.StatusServiceUnavailable || ready.Str("postgres") != "unavailable" || ready.Str("temporal") != "ok" {
		t.Errorf("/readyz while postgres is down: %d %s, want 503 naming postgres", ready.Status, ready.Raw)
	}
	if live, err := api.do("GET", "/healthz", "", nil); err != nil || live.Status != http.StatusOK {
		t.Errorf("/healthz while postgres is down: %v %d, want 200 (the process is alive)", err, live.Status)
	}
	// A few seconds down, so that the workflows' activities fail and back
	// off (1s, 2s, 4s, ...).
	time.Sleep(time.Until(stopped.Add(3 * time.Second)))

	// The same data dir on the same port, so the pools' URL still works.
	cluster, err = pgcluster.Start(ctx, pgcluster.Options{DataDir: dataDir, Port: port, Fast: true, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	t.Logf("postgres down for %s", back.Sub(stopped).Round(time.Millisecond))

	deadline := time.Now().Add(20 * time.Second)
	for {
		r, err := api.do("GET", "/readyz", "", nil)
		if err == nil && r.Status == http.StatusOK {
			break
		}
		if err == nil && r.Status != http.StatusServiceUnavailable {
			t.Fatalf("/readyz after the restart: %d %s", r.Status, r.Raw)
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz still not ready 20s after postgres came back: %v %s", err, r.Raw)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("API ready %s after postgres came back", time.Since(back).Round(time.Millisecond))

	// Nothing lost: every referral from before the outage goes on, and a new
	// one goes through.
	r, err := st.refer(api, submission(st.trainingMonth(), "after@nhs.example"), "after", time.Now().Add(20*time.Second))
	if err != nil {
		t.Fatalf("after the outage: %v", err)
	}
	ids = append(ids, r.Str("id"))
	deadline = time.Now().Add(45 * time.Second)
	for _, id := range ids {
		if r, err := api.waitStatus(id, "awaiting_review", deadline); err != nil {
			t.Fatalf("referral %s: %v: %s", id, err, r.Raw)
		}
	}
	t.Logf("every referral awaiting review %s after postgres came back", time.Since(back).Round(time.Millisecond))
	// The outage met work in flight (at least the last submission's
	// first transitions), which was retried.
	retried := 0
	for _, id := range ids[:6] {
		retried += historyOf(t, st, id).retriedActivities
	}
	t.Logf("%d activities retried", retried)
	if retried == 0 {
		t.Error("no activity was retried: the outage met no work in flight")
	}
	want := map[string]int{"confirm.trainee": 1, "committee.review": 1, "trainee.awaiting_review": 1}
	for _, id := range ids {
		checkEvents(t, st.db, id, "submitted", "awaiting_review")
		checkOutbox(t, st.db, id, want)
	}
	// The refused submission left nothing behind.
	var n int
	if err := st.sql(t).QueryRow(ctx, `SELECT count(*) FROM referrals`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != len(ids) {
		t.Errorf("%d referrals stored, want %d", n, len(ids))
	}
	t.Logf("total %s", time.Since(began).Round(time.Millisecond))
}

// TestAPIRestartWithDecisionInFlightAppliesItOnce loses a committee's
// approval on its way twice, each time with the API going away: once after
// the decision was applied but before the answer left, once while the
// decision waited at Temporal for the (stopped) worker. A new API server
// on the same database and Temporal answers the retried request (same
// Idempotency-Key) with the same outcome, and each referral was approved
// exactly once.
func TestAPIRestartWithDecisionInFlightAppliesItOnce(t *testing.T) {
	began := time.Now()
	s := stacktest.Start(t, timings)
	logger := slog.New(slog.NewJSONHandler(s.Logs, nil))
	newAPI := func(wrap func(http.Handler) http.Handler) *httptest.Server {
		srv := wiring.NewAPI(s.DB, s.Client, s.Config, logger)
		srv.Limits.SubmitsPerMinute, srv.Limits.AuthFailuresPerMinute = 100_000, 100_000
		api := httptest.NewServer(wrap(srv.Handler()))
		t.Cleanup(api.Close)
		return api
	}
	admin := stacktest.AdminToken
	cm := s.Do("POST", "/v1/committee-members", admin, map[string]any{"name": "Chair Person", "email": "chair@example.org", "role": "chair"})
	if cm.Status != http.StatusCreated {
		t.Fatalf("committee member: %d %s", cm.Status, cm.Raw)
	}
	chair := cm.Str("token")
	th := s.Do("POST", "/v1/therapists", admin, map[string]any{
		"name": "Dr Therapist", "email": "t@example.org", "hcpc_number": "PYL00001", "capacity": 2, "online": true, "in_person": true, "areas": []string{"birmingham"},
	})
	if th.Status != http.StatusCreated {
		t.Fatalf("therapist: %d %s", th.Status, th.Raw)
	}
	var refs []string
	for i := range 2 {
		r := s.MustRefer(submission(s.TrainingMonth(), fmt.Sprintf("trainee%d@nhs.example", i)))
		refs = append(refs, r.Str("id"))
		s.WaitStatus(r.Str("id"), "awaiting_review", 20*time.Second)
	}
	applied, waiting := refs[0], refs[1]
	approve := map[string]any{"decision": "approve"}
	client := func(api *httptest.Server) apiClient {
		return apiClient{base: api.URL, hc: &http.Client{Timeout: 30 * time.Second}}
	}

	// 1. The decision is applied, then the API dies before answering.
	answers := make(chan *httptest.ResponseRecorder, 1)
	dropping := newAPI(func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			select {
			case answers <- rec:
			default: // a retry of the request by the client's transport
			}
			panic(http.ErrAbortHandler) // the connection closes, unanswered
		})
	})
	if r, err := client(dropping).do("POST", "/v1/referrals/"+applied+"/review", chair, approve, "Idempotency-Key", "approve-once"); err == nil {
		t.Fatalf("the dropping API answered: %d %s", r.Status, r.Raw)
	}
	dropping.Close()
	lost := <-answers
	if lost.Code != http.StatusOK || !strings.Contains(lost.Body.String(), `"offered"`) {
		t.Fatalf("the lost answer was not an offer: %v", lost)
	}
	var first struct {
		OfferID string `json:"offer_id"`
	}
	if err := json.Unmarshal(lost.Body.Bytes(), &first); err != nil || first.OfferID == "" {
		t.Fatalf("lost answer %s: %v", lost.Body.String(), err)
	}

	// 2. The decision reaches Temporal while no worker runs, and the API
	// goes away with the request still waiting for the outcome.
	s.StopWorker()
	entered := make(chan struct{}, 1)
	doomed := newAPI(func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			entered <- struct{}{}
			h.ServeHTTP(w, r)
		})
	})
	inFlight := make(chan error, 1)
	go func() {
		r, err := client(doomed).do("POST", "/v1/referrals/"+waiting+"/review", chair, approve, "Idempotency-Key", "approve-in-flight")
		if err == nil {
			err = fmt.Errorf("answered %d %s", r.Status, r.Raw)
		}
		inFlight <- err
	}()
	<-entered
	s.WaitUpdateAdmitted(workflows.WorkflowID(waiting), workflows.UpdateReview+":approve-in-flight")
	doomed.CloseClientConnections()
	doomed.Close()
	if err := <-inFlight; err == nil || strings.HasPrefix(err.Error(), "answered") {
		t.Fatalf("the request in flight when the API went away: %v, want a broken connection", err)
	}

	// 3. A new API server, the worker back: the retries get the outcome.
	s.StartWorker()
	fresh := client(newAPI(func(h http.Handler) http.Handler { return h }))
	for _, c := range []struct{ id, key, offer string }{
		{applied, "approve-once", first.OfferID},
		{waiting, "approve-in-flight", ""},
		{applied, "approve-once", first.OfferID},
		{waiting, "approve-in-flight", ""},
	} {
		r, err := fresh.do("POST", "/v1/referrals/"+c.id+"/review", chair, approve, "Idempotency-Key", c.key)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != http.StatusOK || r.Str("status") != "offered" || (c.offer != "" && r.Str("offer_id") != c.offer) {
			t.Errorf("retry of %s: %d %s, want 200 offered (offer %q)", c.key, r.Status, r.Raw, c.offer)
		}
	}
	// Without the key it is a new decision, refused.
	for _, id := range refs {
		r, err := fresh.do("POST", "/v1/referrals/"+id+"/review", chair, approve)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != http.StatusConflict || r.ErrorField("current_status") != "offered" {
			t.Errorf("a second approval: %d %s, want 409 offered", r.Status, r.Raw)
		}
	}
	for _, id := range refs {
		events := checkEvents(t, s.DB, id, "submitted", "awaiting_review", "matching", "offered")
		if len(events) == 4 && (events[2].Reason != "approved" || !strings.HasPrefix(events[2].Actor, "committee:")) {
			t.Errorf("referral %s: the approval is %+v", id, events[2])
		}
		checkOutbox(t, s.DB, id, map[string]int{"confirm.trainee": 1, "committee.review": 1, "trainee.awaiting_review": 1, "therapist.offered": 1})
	}
	t.Logf("total %s", time.Since(began).Round(time.Millisecond))
}

// stack is the service for one test: its own database, a real Temporal
// server, and the API in-process. The worker is a child process (test 1)
// or in-process (startWorker).
type stack struct {
	db     *postgres.DB
	dbURL  string
	ts     *temporaltest.TestServer
	client client.Client
	cfg    config.Config
	keys   string // WMTNA_PAYLOAD_KEYS
	logs   *syncBuffer
	server *httptest.Server
}

// newStack starts Temporal and the API on the database at dbURL, or on a
// new pgtest database when dbURL is "".
func newStack(t *testing.T, dbURL string) *stack {
	t.Helper()
	ctx := context.Background()
	db, dbURL := postgrestest.Open(t, dbURL)
	entry, err := codec.GenerateKey("faulttest")
	if err != nil {
		t.Fatal(err)
	}
	keys, err := codec.ParseKeys(entry)
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, nil))
	ts := temporaltest.NewServer(temporaltest.WithT(t), temporaltest.WithBaseClientOptions(client.Options{
		Logger:        wiring.TemporalLogger(logger),
		DataConverter: codec.DataConverter(keys),
	}))
	c := ts.GetDefaultClient()
	if err := worker.EnsureSearchAttributes(ctx, c, ts.GetDefaultNamespace()); err != nil {
		t.Fatal(err)
	}
	cfg := config.Config{DatabaseURL: dbURL, AdminToken: adminToken, Timings: timings, TraineeLinkTTL: time.Hour, PayloadKeys: keys,
		Clock: stacktest.EnvClock(t)}
	if err := wiring.EnsureAdmin(ctx, db, adminToken); err != nil {
		t.Fatal(err)
	}
	srv := wiring.NewAPI(db, c, cfg, logger)
	srv.Limits.SubmitsPerMinute, srv.Limits.AuthFailuresPerMinute = 1_000_000, 1_000_000
	api := httptest.NewServer(srv.Handler())
	t.Cleanup(api.Close)
	cfg.PublicURL = api.URL
	return &stack{db: db, dbURL: dbURL, ts: ts, client: c, cfg: cfg, keys: entry, logs: logs, server: api}
}

// trainingMonth is a training start eligible on the stack's clock.
func (s *stack) trainingMonth() string { return stacktest.TrainingMonth(s.cfg.Now()) }

// startWorker runs the referral worker in this process until the test ends.
func (s *stack) startWorker(t *testing.T) {
	t.Helper()
	w := wiring.NewWorkerProcess(s.db, s.client, s.cfg, slog.New(slog.NewJSONHandler(s.logs, nil)))
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
}

// interruptions is what a referral's workflow history says faults did to it.
type interruptions struct {
	retriedActivities     int // activities that succeeded only after a failed or timed-out attempt
	workflowTasksTimedOut int
}

func historyOf(t *testing.T, s *stack, referralID string) interruptions {
	t.Helper()
	it := s.client.GetWorkflowHistory(context.Background(), workflows.WorkflowID(referralID), "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	var n interruptions
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		if a := e.GetActivityTaskStartedEventAttributes(); a != nil && a.GetAttempt() > 1 {
			n.retriedActivities++
		}
		if e.GetWorkflowTaskTimedOutEventAttributes() != nil {
			n.workflowTasksTimedOut++
		}
	}
	return n
}

// workerEnv is the environment of a `wmtna worker` process for this stack:
// the caller's, without any DATABASE_URL, TEMPORAL_* or WMTNA_* setting of
// its own, and so with no email unless the test adds SMTP_URL.
func (s *stack) workerEnv(t *testing.T) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if k == "DATABASE_URL" || k == "SMTP_URL" || strings.HasPrefix(k, "TEMPORAL_") || strings.HasPrefix(k, "WMTNA_") {
			continue
		}
		env = append(env, kv)
	}
	return append(env,
		"DATABASE_URL="+s.dbURL,
		"TEMPORAL_ADDRESS="+s.ts.GetFrontendHostPort(),
		"TEMPORAL_NAMESPACE="+s.ts.GetDefaultNamespace(),
		// No profile from the machine's Temporal config file.
		"TEMPORAL_CONFIG_FILE="+filepath.Join(t.TempDir(), "none.toml"),
		"WMTNA_PAYLOAD_KEYS="+s.keys,
		"WMTNA_PUBLIC_URL="+s.server.URL,
		// Any free port for the worker's /metrics: a fixed one could be
		// taken, by another test or a worker killed a moment ago.
		"WMTNA_METRICS_ADDR=127.0.0.1:0",
	)
}

func (s *stack) api() apiClient {
	return apiClient{base: s.server.URL, hc: &http.Client{Timeout: 20 * time.Second}}
}

// do calls the API from the test's goroutine, failing the test on a
// transport error.
func (s *stack) do(t *testing.T, method, path, token string, body any, headers ...string) response {
	t.Helper()
	r, err := s.api().do(method, path, token, body, headers...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// sql is a plain connection to the stack's database, for checks the API
// does not expose.
func (s *stack) sql(t *testing.T) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), s.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func (s *stack) committeeMember(t *testing.T) string {
	t.Helper()
	r := s.do(t, "POST", "/v1/committee-members", adminToken, map[string]any{"name": "Chair Person", "email": "chair@example.org", "role": "chair"})
	if r.Status != http.StatusCreated || r.Str("token") == "" {
		t.Fatalf("create committee member: %d %s", r.Status, r.Raw)
	}
	return r.Str("token")
}

func (s *stack) therapist(t *testing.T, n, capacity int) (id, token string) {
	t.Helper()
	r := s.do(t, "POST", "/v1/therapists", adminToken, map[string]any{
		"name": fmt.Sprintf("Dr Therapist %d", n), "email": fmt.Sprintf("t%d@example.org", n), "hcpc_number": fmt.Sprintf("PYL%05d", n+1),
		"capacity": capacity, "online": true, "in_person": true, "areas": []string{"birmingham"},
	})
	if r.Status != http.StatusCreated || r.Str("id") == "" || r.Str("token") == "" {
		t.Fatalf("create therapist: %d %s", r.Status, r.Raw)
	}
	return r.Str("id"), r.Str("token")
}

// submission is a referral eligible on the service's clock, on which
// month (TrainingMonth) is based.
func submission(month, email string) map[string]any {
	return map[string]any{
		"name": "Fault Tester", "email": email, "programme": "clinical", "employer": "RXT",
		"training_start": month, "concerns": "a difficult placement",
		"preferences": map[string]any{"meeting": "either", "areas": []string{"birmingham"}}, "consent": true,
	}
}

// checkEvents asserts a referral's recorded transitions are exactly want,
// numbered 1, 2, ... with none repeated, and returns them.
func checkEvents(t *testing.T, db *postgres.DB, id string, want ...string) []eventView {
	t.Helper()
	events, err := db.Events(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	var out []eventView
	for i, e := range events {
		got = append(got, string(e.To))
		out = append(out, eventView{Seq: e.Seq, To: string(e.To), Reason: e.Reason, Actor: e.Actor})
		if e.Seq != i+1 {
			t.Errorf("referral %s: event %d has seq %d", id, i+1, e.Seq)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("referral %s: events %v, want %v", id, got, want)
	}
	return out
}

type eventView struct {
	Seq               int
	To, Reason, Actor string
}

// checkOutbox asserts a referral's messages are exactly want (kind →
// count), each dedupe key once.
func checkOutbox(t *testing.T, db *postgres.DB, id string, want map[string]int) {
	t.Helper()
	msgs, err := db.Outbox(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	keys := map[string]bool{}
	for _, m := range msgs {
		kinds[m.Kind]++
		if keys[m.Key] {
			t.Errorf("referral %s: message %s written twice", id, m.Key)
		}
		keys[m.Key] = true
	}
	for kind := range kinds {
		if _, ok := want[kind]; !ok {
			want[kind] = 0
		}
	}
	for kind, n := range want {
		if kinds[kind] != n {
			t.Errorf("referral %s: %d %s messages, want %d (all: %v)", id, kinds[kind], kind, n, kinds)
		}
	}
}

// checkPlaces asserts that each therapist's places_used is their number of
// open and accepted offers, within capacity, and that they add up to want.
func checkPlaces(t *testing.T, conn *pgx.Conn, want int) {
	t.Helper()
	rows, err := conn.Query(context.Background(), `
		SELECT t.id::text, t.capacity, t.places_used,
		       (SELECT count(*) FROM offers o WHERE o.therapist_id = t.id AND o.state IN ('open', 'accepted'))
		FROM therapists t ORDER BY t.id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	total := 0
	for rows.Next() {
		var id string
		var capacity, used, live int
		if err := rows.Scan(&id, &capacity, &used, &live); err != nil {
			t.Fatal(err)
		}
		total += used
		if used != live || used > capacity {
			t.Errorf("therapist %s: %d places used, %d open or accepted offers, capacity %d", id, used, live, capacity)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if total != want {
		t.Errorf("%d places used in all, want %d", total, want)
	}
}

// buildWMTNA builds the wmtna command into dir with the go command that runs
// the tests (go test puts its GOROOT/bin first on PATH).
func buildWMTNA(dir string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// -s -w: no symbol table or DWARF, which makes linking the binary (it
	// embeds the Temporal server for `wmtna dev`) a third faster.
	cmd := exec.CommandContext(ctx, "go", "build", "-ldflags=-s -w", "-o", filepath.Join(dir, "wmtna"), "github.com/wmtna/referrals/cmd/wmtna")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("go build wmtna: %w\n%s", err, out)
	}
	return nil
}

// workerProc is a `wmtna worker` child process that can be killed and
// started again.
type workerProc struct {
	bin string
	env []string
	out *syncBuffer

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
}

func (w *workerProc) start() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	cmd := exec.Command(w.bin, "worker")
	cmd.Env = w.env
	cmd.Stdout, cmd.Stderr = w.out, w.out
	dieWithUs(cmd)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s worker: %w", w.bin, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	w.cmd, w.done = cmd, done
	return nil
}

// exited reports whether the current process has ended without being
// killed.
func (w *workerProc) exited() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.cmd == nil {
		return false
	}
	select {
	case <-w.done:
		return true
	default:
		return false
	}
}

// kill SIGKILLs the worker and waits until it is gone.
func (w *workerProc) kill() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.cmd == nil {
		return
	}
	_ = w.cmd.Process.Kill()
	<-w.done
	w.cmd = nil
}

// stop ends the worker as an operator would (SIGTERM), or kills it if it
// does not stop in time.
func (w *workerProc) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.cmd == nil {
		return
	}
	_ = w.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-w.done:
	case <-time.After(10 * time.Second):
		_ = w.cmd.Process.Kill()
		<-w.done
	}
	w.cmd = nil
}

// waitOutput waits until the worker has written s.
func (w *workerProc) waitOutput(s string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for !strings.Contains(w.out.String(), s) {
		if w.exited() {
			return errors.New("the worker exited")
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the worker did not write %q within %s", s, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}

// syncBuffer is stacktest's goroutine-safe log sink, with tail.
type syncBuffer struct{ stacktest.Buffer }

// tail returns the last n lines written.
func (b *syncBuffer) tail(n int) string {
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// response is an API answer, as stacktest reads it.
// refer submits a referral and confirms it from the link emailed to its
// address, each request retried as people would (the same Idempotency-Key,
// the same link) until deadline. It returns the confirmation's answer.
func (s *stack) refer(api apiClient, body map[string]any, key string, deadline time.Time) (response, error) {
	sub, err := api.retry(deadline, "POST", "/v1/referrals", "", body, "Idempotency-Key", key)
	if err != nil || sub.Status != http.StatusAccepted {
		return sub, fmt.Errorf("submit: %v %d %s", err, sub.Status, sub.Raw)
	}
	code, err := s.confirmCode(body["email"].(string))
	if err != nil {
		return sub, err
	}
	c, err := api.retry(deadline, "POST", "/v1/confirmations", "", map[string]any{"code": code})
	if err != nil || (c.Status != http.StatusCreated && c.Status != http.StatusOK) || c.Str("id") == "" {
		return c, fmt.Errorf("confirm: %v %d %s", err, c.Status, c.Raw)
	}
	return c, nil
}

// confirmCode is the code of the newest link to confirm a referral emailed
// to address. The stack's workers send no email (unless a test gives them
// SMTP_URL), so the message waits in the outbox with its link; it was
// written with the submission's answer.
func (s *stack) confirmCode(address string) (string, error) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, s.dbURL)
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	var body string
	if err := conn.QueryRow(ctx, `SELECT body FROM outbox WHERE recipient = $1 AND kind = 'confirm.trainee' ORDER BY id DESC LIMIT 1`, address).Scan(&body); err != nil {
		return "", fmt.Errorf("no email to %s with a link to confirm: %w", address, err)
	}
	m := regexp.MustCompile(`/confirm/([A-Za-z0-9_-]+)`).FindStringSubmatch(body)
	if m == nil {
		return "", fmt.Errorf("the email to %s has no link to confirm (was it sent?):\n%s", address, body)
	}
	return m[1], nil
}

type response = stacktest.Response

// apiClient calls the API; unlike stacktest's, it returns transport errors,
// so it can be used from any goroutine and across restarts.
type apiClient struct {
	base string
	hc   *http.Client
}

func (c apiClient) do(method, path, token string, body any, headers ...string) (response, error) {
	return stacktest.Call(c.hc, c.base, method, path, token, body, headers...)
}

// retry repeats a request while it fails in transport (a timeout) or the
// API answers 503, until deadline; any other answer is returned.
func (c apiClient) retry(deadline time.Time, method, path, token string, body any, headers ...string) (response, error) {
	for {
		r, err := c.do(method, path, token, body, headers...)
		if err == nil && r.Status != http.StatusServiceUnavailable {
			return r, nil
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = fmt.Errorf("still %d at the deadline", r.Status)
			}
			return r, err
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitStatus polls a referral as the operator until it has status want.
func (c apiClient) waitStatus(id, want string, deadline time.Time) (response, error) {
	for {
		r, err := c.do("GET", "/v1/referrals/"+id, adminToken, nil)
		if err == nil && r.Str("status") == want {
			return r, nil
		}
		if time.Now().After(deadline) {
			return r, fmt.Errorf("status %q at the deadline, want %q (last error: %v)", r.Str("status"), want, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
