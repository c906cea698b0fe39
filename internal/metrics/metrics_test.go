package metrics

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/wmtna/referrals/internal/postgres"
	"github.com/wmtna/referrals/internal/referral"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func scrape(t *testing.T, h http.Handler, token string) (int, string) {
	t.Helper()
	req := httptest.NewRequest("GET", "/metrics", nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.String()
}

func TestTemporalHandler(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	h := NewTemporalHandler(reg)
	ns := h.WithTags(map[string]string{"namespace": "default"})
	// The SDK uses one name with different sets of tags.
	ns.Counter("temporal_request").Inc(2)
	ns.WithTags(map[string]string{"operation": "StartWorkflowExecution"}).Counter("temporal_request").Inc(1)
	ns.WithTags(map[string]string{"operation": "StartWorkflowExecution"}).Counter("temporal_request").Inc(1)
	ns.Gauge("temporal_num_pollers").Update(3)
	ns.Gauge("temporal_num_pollers").Update(2)
	timer := ns.WithTags(map[string]string{"task-queue": "referrals"}).Timer("temporal_activity_execution_latency")
	timer.Record(3 * time.Millisecond)
	timer.Record(2 * time.Second)
	timer.Record(time.Hour) // beyond the last bucket: counted in +Inf only
	// A name first used as a counter is not then a gauge.
	ns.Gauge("temporal_request").Update(9)

	_, body := scrape(t, Handler(reg, "", quiet), "")
	for _, want := range []string{
		`temporal_request{namespace="default"} 2`,
		`temporal_request{namespace="default",operation="StartWorkflowExecution"} 2`,
		`temporal_num_pollers{namespace="default"} 2`,
		`temporal_activity_execution_latency_bucket{namespace="default",task_queue="referrals",le="0.005"} 1`,
		`temporal_activity_execution_latency_bucket{namespace="default",task_queue="referrals",le="2.5"} 2`,
		`temporal_activity_execution_latency_bucket{namespace="default",task_queue="referrals",le="600"} 2`,
		`temporal_activity_execution_latency_bucket{namespace="default",task_queue="referrals",le="+Inf"} 3`,
		`temporal_activity_execution_latency_count{namespace="default",task_queue="referrals"} 3`,
		`temporal_activity_execution_latency_sum{namespace="default",task_queue="referrals"} 3602.003`,
	} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("missing %s in\n%s", want, body)
		}
	}
	// Two series of temporal_request, one gauge, one histogram.
	if n, err := testutil.GatherAndCount(reg); err != nil || n != 4 {
		t.Errorf("gathered %d series (%v), want 4", n, err)
	}
}

func TestHandlerToken(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewCounter(prometheus.CounterOpts{Name: "wmtna_test_total", Help: "A test."}))
	open := Handler(reg, "", quiet)
	if code, body := scrape(t, open, ""); code != 200 || !strings.Contains(body, "wmtna_test_total 0") {
		t.Errorf("without a token configured: %d %s", code, body)
	}
	closed := Handler(reg, "metrics-secret", quiet)
	for _, token := range []string{"", "wrong", "metrics-secret-but-longer"} {
		if code, body := scrape(t, closed, token); code != 401 || strings.Contains(body, "wmtna_test_total") {
			t.Errorf("token %q: %d %s, want 401", token, code, body)
		}
	}
	if code, body := scrape(t, closed, "metrics-secret"); code != 200 || !strings.Contains(body, "wmtna_test_total 0") {
		t.Errorf("with the token: %d %s", code, body)
	}
}

type fakeStats struct {
	st  postgres.Stats
	err error
}

func (f fakeStats) Stats(context.Context) (postgres.Stats, error) { return f.st, f.err }

func TestDomain(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewDomain(fakeStats{st: postgres.Stats{
		ByStatus:   map[referral.Status]int{referral.StatusWaitlisted: 2, referral.StatusMatched: 0},
		Waiting:    2,
		OldestWait: 90 * time.Second,
		FreePlaces: 4,
		Emails:     map[string]int{"pending": 1, "sent": 5, "uncertain": 1, "failed": 0},
	}}))
	want := `
# HELP wmtna_emails Outbox messages by delivery state: pending, sent, uncertain (a crash came between the SMTP server taking it and our record; not sent again), failed.
# TYPE wmtna_emails gauge
wmtna_emails{state="failed"} 0
wmtna_emails{state="pending"} 1
wmtna_emails{state="sent"} 5
wmtna_emails{state="uncertain"} 1
# HELP wmtna_referrals Referrals by current status.
# TYPE wmtna_referrals gauge
wmtna_referrals{status="matched"} 0
wmtna_referrals{status="waitlisted"} 2
# HELP wmtna_therapist_free_places Free places of active therapists (capacity minus places used).
# TYPE wmtna_therapist_free_places gauge
wmtna_therapist_free_places 4
# HELP wmtna_waitlist_length Approved referrals waiting in the queue for a free place.
# TYPE wmtna_waitlist_length gauge
wmtna_waitlist_length 2
# HELP wmtna_waitlist_oldest_wait_seconds How long the longest-waiting referral has waited in the queue, since its approval; 0 when nobody waits.
# TYPE wmtna_waitlist_oldest_wait_seconds gauge
wmtna_waitlist_oldest_wait_seconds 90
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Error(err)
	}

	// PostgreSQL down: the figures are left out, the rest is served.
	broken := prometheus.NewRegistry()
	broken.MustRegister(NewDomain(fakeStats{err: errors.New("connection refused")}))
	broken.MustRegister(prometheus.NewCounter(prometheus.CounterOpts{Name: "wmtna_test_total", Help: "A test."}))
	code, body := scrape(t, Handler(broken, "", quiet), "")
	if code != 200 || !strings.Contains(body, "wmtna_test_total 0") || strings.Contains(body, "wmtna_waitlist_length") {
		t.Errorf("with the database down: %d %s", code, body)
	}
}
