package workflows_test

import (
	"path/filepath"
	"testing"

	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/wmtna/referrals/workflows"
)

// TestReplayRecordedHistories replays histories of real referrals (and of a
// therapist's return from being away), recorded
// from the integration tests against a real server, through today's
// workflow code. A change that would break running referrals (a reordered
// activity, a removed timer) fails here as a nondeterminism error. Record
// new ones with: WMTNA_RECORD_HISTORIES=1 go test ./internal/wiring/
func TestReplayRecordedHistories(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "histories", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no recorded histories in testdata/histories")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			r := worker.NewWorkflowReplayer()
			r.RegisterWorkflowWithOptions(workflows.ReferralWorkflow, workflow.RegisterOptions{Name: workflows.WorkflowName})
			r.RegisterWorkflowWithOptions(workflows.TherapistReturnWorkflow, workflow.RegisterOptions{Name: workflows.TherapistReturnWorkflowName})
			if err := r.ReplayWorkflowHistoryFromJSONFile(nil, f); err != nil {
				t.Fatalf("replay %s: %v", f, err)
			}
		})
	}
}
