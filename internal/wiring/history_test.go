package wiring_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/proxy"
	"go.temporal.io/api/temporalproto"

	"google.golang.org/protobuf/proto"

	"github.com/wmtna/referrals/internal/codec"
	"github.com/wmtna/referrals/internal/pgtest"
	"github.com/wmtna/referrals/internal/stacktest"
	"github.com/wmtna/referrals/workflows"
)

// checkHistory fetches the whole history of a referral's workflow (every
// run) and fails if any personal detail of the trainee appears in it, or in
// anything the service logged: both must carry IDs and statuses only. With WMTNA_RECORD_HISTORIES=1
// it also saves the history under workflows/testdata/histories, where the
// replay test keeps future workflow changes compatible with it.
func checkHistory(t *testing.T, s *stacktest.Stack, referralID, name string, personal ...string) {
	t.Helper()
	ctx := context.Background()
	hist := &historypb.History{}
	it := s.Client.GetWorkflowHistory(ctx, workflows.WorkflowID(referralID), "", false, 0)
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		hist.Events = append(hist.Events, e)
	}
	b, err := temporalproto.CustomJSONMarshalOptions{Indent: "  "}.Marshal(hist)
	if err != nil {
		t.Fatal(err)
	}
	// The stack encrypts payloads; scan what an operator with the key would
	// read, so the check is about what the workflow carries, not about the
	// cipher. Failure messages are not encrypted and are scanned as they are.
	text := decodedHistory(t, s, hist)
	// A positive control: the decoded payloads do carry the referral's ID,
	// so the scan below reads real content.
	if !strings.Contains(text, `"referral_id":"`+referralID+`"`) {
		t.Fatalf("decoded history of %s does not show its input", name)
	}
	for _, p := range append(personal, "Priya", "@nhs.example", "imposter", "supervision") {
		if strings.Contains(text, p) {
			t.Errorf("workflow history of %s contains %q", name, p)
		}
	}
	logs := s.Logs.String()
	pglog, readable, err := pgtest.ServerLog()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range append(personal, "Priya", "@nhs.example", "imposter", "supervision") {
		if strings.Contains(logs, p) {
			t.Errorf("the service's logs contain %q", p)
		}
		if readable && strings.Contains(pglog, p) {
			t.Errorf("PostgreSQL's log contains %q", p)
		}
	}
	record(t, b, name)
}

// record saves a workflow history (as JSON) under workflows/testdata/histories
// as name, when WMTNA_RECORD_HISTORIES=1.
func record(t *testing.T, b []byte, name string) {
	t.Helper()
	if os.Getenv("WMTNA_RECORD_HISTORIES") != "1" {
		return
	}
	path := filepath.Join("..", "..", "workflows", "testdata", "histories", name+".json")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("recorded %s", path)
}

// decodedHistory returns the history as JSON with every payload decrypted.
func decodedHistory(t *testing.T, s *stacktest.Stack, hist *historypb.History) string {
	t.Helper()
	plain := proto.Clone(hist).(*historypb.History)
	if s.PayloadKeys != nil {
		c := codec.NewCodec(s.PayloadKeys)
		err := proxy.VisitPayloads(context.Background(), plain, proxy.VisitPayloadsOptions{
			Visitor: func(_ *proxy.VisitPayloadsContext, p []*commonpb.Payload) ([]*commonpb.Payload, error) {
				return c.Decode(p)
			},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	b, err := temporalproto.CustomJSONMarshalOptions{}.Marshal(plain)
	if err != nil {
		t.Fatal(err)
	}
	// Payload data is base64 in JSON: decode each so the scan sees text.
	var out strings.Builder
	out.Write(b)
	_ = proxy.VisitPayloads(context.Background(), plain, proxy.VisitPayloadsOptions{
		Visitor: func(_ *proxy.VisitPayloadsContext, p []*commonpb.Payload) ([]*commonpb.Payload, error) {
			for _, pl := range p {
				out.Write(pl.GetData())
				out.WriteByte('\n')
			}
			return p, nil
		},
	})
	return out.String()
}

// recordWorkflow saves the latest run of a workflow's history for the replay
// test, when WMTNA_RECORD_HISTORIES=1.
func recordWorkflow(t *testing.T, s *stacktest.Stack, workflowID, name string) {
	t.Helper()
	if os.Getenv("WMTNA_RECORD_HISTORIES") != "1" {
		return
	}
	hist := &historypb.History{}
	it := s.Client.GetWorkflowHistory(context.Background(), workflowID, "", false, 0)
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		hist.Events = append(hist.Events, e)
	}
	b, err := temporalproto.CustomJSONMarshalOptions{Indent: "  "}.Marshal(hist)
	if err != nil {
		t.Fatal(err)
	}
	record(t, b, name)
}
