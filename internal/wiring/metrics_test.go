package wiring_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/wmtna/referrals/internal/stacktest"
)

// scrapeMetrics reads the API's /metrics as Prometheus would.
func scrapeMetrics(t *testing.T, s *stacktest.Stack) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(s.API.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET /metrics: %d", resp.StatusCode)
	}
	var p expfmt.TextParser
	families, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return families
}

// sample returns the value of the series of name with exactly these labels
// (a counter's, a gauge's, or a histogram's count).
func sample(families map[string]*dto.MetricFamily, name string, labels ...string) (float64, bool) {
	f := families[name]
	if f == nil {
		return 0, false
	}
	want := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
next:
	for _, m := range f.GetMetric() {
		if len(m.GetLabel()) != len(want) {
			continue
		}
		for _, l := range m.GetLabel() {
			if v, ok := want[l.GetName()]; !ok || v != l.GetValue() {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount()), true
		}
	}
	return 0, false
}

func wantSample(t *testing.T, families map[string]*dto.MetricFamily, want float64, name string, labels ...string) {
	t.Helper()
	got, ok := sample(families, name, labels...)
	if !ok {
		t.Errorf("%s%v: missing", name, labels)
	} else if got != want {
		t.Errorf("%s%v = %v, want %v", name, labels, got, want)
	}
}

func TestMetricsEndpoint(t *testing.T) {
	s := stacktest.Start(t, fast)
	chair := committeeMember(t, s)
	addTherapist(t, s, 1, 1)

	var refs []submitted
	for i := range 3 {
		ref := submit(t, s, fmt.Sprintf("metrics%d@nhs.example", i))
		s.WaitStatus(ref.id, "awaiting_review", 10*time.Second)
		refs = append(refs, ref)
	}
	m := scrapeMetrics(t, s)
	wantSample(t, m, 3, "wmtna_http_requests_total", "route", "/v1/referrals", "method", "POST", "status", "202")
	wantSample(t, m, 3, "wmtna_http_request_duration_seconds", "route", "/v1/referrals", "method", "POST", "status", "202")
	wantSample(t, m, 3, "wmtna_referrals", "status", "awaiting_review")
	wantSample(t, m, 0, "wmtna_referrals", "status", "waitlisted")
	wantSample(t, m, 0, "wmtna_waitlist_length")
	wantSample(t, m, 0, "wmtna_waitlist_oldest_wait_seconds")
	wantSample(t, m, 1, "wmtna_therapist_free_places")

	// The one place goes to the first; the other two wait.
	for _, ref := range refs {
		approve(t, s, chair, ref.id)
	}
	s.WaitStatus(refs[0].id, "offered", 10*time.Second)
	s.WaitStatus(refs[1].id, "waitlisted", 10*time.Second)
	s.WaitStatus(refs[2].id, "waitlisted", 10*time.Second)
	// The second has waited an hour.
	conn, err := pgx.Connect(context.Background(), s.Config.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), `UPDATE queue SET entered_at = now() - interval '1 hour' WHERE referral_id = $1`, refs[1].id); err != nil {
		t.Fatal(err)
	}

	m = scrapeMetrics(t, s)
	wantSample(t, m, 3, "wmtna_http_requests_total", "route", "/v1/referrals/{id}/review", "method", "POST", "status", "200")
	wantSample(t, m, 0, "wmtna_referrals", "status", "awaiting_review")
	wantSample(t, m, 1, "wmtna_referrals", "status", "offered")
	wantSample(t, m, 2, "wmtna_referrals", "status", "waitlisted")
	wantSample(t, m, 2, "wmtna_waitlist_length")
	wantSample(t, m, 0, "wmtna_therapist_free_places")
	if oldest, _ := sample(m, "wmtna_waitlist_oldest_wait_seconds"); oldest < 3600 || oldest > 3600+60 {
		t.Errorf("wmtna_waitlist_oldest_wait_seconds = %v, want an hour", oldest)
	}
	// Routes are patterns: no ID reaches a label.
	for _, mf := range []string{"wmtna_http_requests_total", "wmtna_http_request_duration_seconds"} {
		for _, series := range m[mf].GetMetric() {
			for _, l := range series.GetLabel() {
				for _, ref := range refs {
					if strings.Contains(l.GetValue(), ref.id) {
						t.Errorf("%s has a referral ID in label %s=%q", mf, l.GetName(), l.GetValue())
					}
				}
			}
		}
	}
	// The Temporal SDK's metrics, from the API's client and the worker.
	for _, name := range []string{"temporal_request", "temporal_workflow_task_execution_latency", "temporal_activity_execution_latency"} {
		if m[name] == nil || len(m[name].GetMetric()) == 0 {
			t.Errorf("no %s in /metrics", name)
		}
	}
	timed := false
	for _, series := range m["temporal_activity_execution_latency"].GetMetric() {
		for _, l := range series.GetLabel() {
			timed = timed || l.GetName() == "activity_type" && l.GetValue() == "RecordTransition" && series.GetHistogram().GetSampleCount() > 0
		}
	}
	if !timed {
		t.Error("the RecordTransition activity was never timed")
	}
	checkLogsNameWorkflows(t, s, refs[0].id)
}

// checkLogsNameWorkflows checks that every log line about a referral names
// its workflow too, in the API and in the activities.
func checkLogsNameWorkflows(t *testing.T, s *stacktest.Stack, referralID string) {
	t.Helper()
	seen := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(s.Logs.String()), "\n") {
		var entry map[string]any
		if err := json.Unmarshal([]byte(line), &entry); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		id, ok := entry["referral_id"].(string)
		if !ok || id == "" {
			continue
		}
		wf, _ := entry["workflow_id"].(string)
		// The referral's own workflow, its erasure, or the delivery of one
		// of its emails.
		if wf != "referral-"+id && wf != "erase-"+id && !strings.HasPrefix(wf, "mail-") {
			t.Errorf("log line about referral %s has workflow_id %q: %s", id, wf, line)
		}
		if id == referralID {
			seen[entry["msg"].(string)] = true
		}
	}
	for _, msg := range []string{"referral confirmed", "decision applied", "referral transition", "messages written to outbox"} {
		if !seen[msg] {
			t.Errorf("no %q log line for referral %s", msg, referralID)
		}
	}
}
