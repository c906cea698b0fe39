package main

import (
	"bytes"
	"context"
	"testing"

	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/server/temporaltest"

	"github.com/wmtna/referrals/worker"
	"github.com/wmtna/referrals/workflows"
)

// TestRegisterPreparesTheNamespace runs `wmtna register` twice against a
// real Temporal server that does not have the namespace yet, as a compose
// one-shot service would on a fresh server and then on the next deploy:
// the namespace, the search attributes and the retention schedule are
// there, and the second run changes nothing and does not fail.
func TestRegisterPreparesTheNamespace(t *testing.T) {
	ts := temporaltest.NewServer()
	t.Cleanup(ts.Stop)
	const ns = "wmtna-register-test"
	t.Setenv("TEMPORAL_ADDRESS", ts.GetFrontendHostPort())
	t.Setenv("TEMPORAL_NAMESPACE", ns)
	t.Setenv("WMTNA_PAYLOAD_KEYS", "")
	t.Setenv("WMTNA_RETENTION", "")
	ctx := context.Background()
	for i := range 2 {
		var out, errs bytes.Buffer
		if err := run(ctx, []string{"register"}, &out, &errs); err != nil {
			t.Fatalf("run %d: %v\n%s", i+1, err, errs.String())
		}
	}
	c := ts.NewClientWithOptions(client.Options{Namespace: ns})
	desc, err := c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: ns})
	if err != nil {
		t.Fatalf("the namespace was not created: %v", err)
	}
	if got := desc.GetConfig().GetWorkflowExecutionRetentionTtl().AsDuration(); got != worker.NamespaceRetention {
		t.Errorf("history retention %s, want %s", got, worker.NamespaceRetention)
	}
	have, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	for name := range worker.SearchAttributes() {
		if _, ok := have.GetCustomAttributes()[name]; !ok {
			t.Errorf("search attribute %s is not registered", name)
		}
	}
	if _, err := c.ScheduleClient().GetHandle(ctx, workflows.RetentionScheduleID).Describe(ctx); err != nil {
		t.Errorf("retention schedule: %v", err)
	}
}
