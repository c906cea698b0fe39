package service_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/temporalproto"

	"github.com/wmtna/referrals/internal/stacktest"
	"github.com/wmtna/referrals/workflows"
)

// checkHistory fetches the whole history of a referral's workflow (every
// run) and fails if any personal detail of the trainee appears in it: the
// workflow must carry IDs and statuses only. With WMTNA_RECORD_HISTORIES=1
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
	text := string(b)
	for _, p := range append(personal, "Priya", "@nhs.example", "imposter", "supervision") {
		if strings.Contains(text, p) {
			t.Errorf("workflow history of %s contains %q", name, p)
		}
	}
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
