package temporalserver

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

var (
	statusKey = temporal.NewSearchAttributeKeyKeyword("ReferralStatus")
	// codeKey is only registered on the second start, to exercise adding a
	// search attribute to an existing DataDir.
	codeKey = temporal.NewSearchAttributeKeyKeyword("ReferralCode")
)

const taskQueue = "temporalserver-test"

func setStatusWorkflow(ctx workflow.Context, status string) error {
	return workflow.UpsertTypedSearchAttributes(ctx, statusKey.ValueSet(status))
}

func setCodeWorkflow(ctx workflow.Context, code string) error {
	return workflow.UpsertTypedSearchAttributes(ctx, codeKey.ValueSet(code))
}

func TestStartPersistsAcrossRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real Temporal server")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	ports := freePorts(t, 2)
	opts := Options{
		DataDir: t.TempDir(),
		Port:    ports[0],
		UIPort:  ports[1],
		SearchAttributes: map[string]enums.IndexedValueType{
			statusKey.GetName(): enums.INDEXED_VALUE_TYPE_KEYWORD,
		},
		Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})),
	}

	srv := startServer(t, ctx, opts)
	c := dial(t, srv)
	w := startWorker(t, c)

	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "referral-1", TaskQueue: taskQueue}, setStatusWorkflow, "x")
	if err != nil {
		t.Fatalf("ExecuteWorkflow: %v", err)
	}
	if err := run.Get(ctx, nil); err != nil {
		t.Fatalf("workflow failed: %v", err)
	}
	waitForList(t, ctx, c, `ReferralStatus = "x"`, "referral-1")

	resp, err := http.Get(srv.UIAddress())
	if err != nil {
		t.Fatalf("GET %s: %v", srv.UIAddress(), err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(strings.ToLower(string(body)), "<html") {
		t.Fatalf("GET %s: status %d, body starts %.200q; want 200 HTML", srv.UIAddress(), resp.StatusCode, body)
	}

	w.Stop()
	c.Close()
	if err := srv.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}

	// Second start on the same DataDir, with one more search attribute.
	opts.SearchAttributes[codeKey.GetName()] = enums.INDEXED_VALUE_TYPE_KEYWORD
	srv = startServer(t, ctx, opts)
	c = dial(t, srv)
	desc, err := c.DescribeWorkflowExecution(ctx, "referral-1", run.GetRunID())
	if err != nil {
		t.Fatalf("DescribeWorkflowExecution after restart: %v", err)
	}
	if got := desc.GetWorkflowExecutionInfo().GetStatus(); got != enums.WORKFLOW_EXECUTION_STATUS_COMPLETED {
		t.Errorf("status after restart = %v, want completed", got)
	}
	waitForList(t, ctx, c, `ReferralStatus = "x"`, "referral-1")

	// The search attribute added on restart must be usable as soon as
	// Start returns.
	w = startWorker(t, c)
	run, err = c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "referral-2", TaskQueue: taskQueue}, setCodeWorkflow, "abc")
	if err != nil {
		t.Fatalf("ExecuteWorkflow: %v", err)
	}
	if err := run.Get(ctx, nil); err != nil {
		t.Fatalf("workflow failed: %v", err)
	}
	waitForList(t, ctx, c, `ReferralCode = "abc"`, "referral-2")
	w.Stop()
}

func startServer(t *testing.T, ctx context.Context, opts Options) *Server {
	t.Helper()
	start := time.Now()
	srv, err := Start(ctx, opts)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Logf("Start took %v (frontend %s, UI %s)", time.Since(start).Round(time.Millisecond), srv.FrontendAddress(), srv.UIAddress())
	t.Cleanup(func() { _ = srv.Stop() })
	return srv
}

func dial(t *testing.T, srv *Server) client.Client {
	t.Helper()
	c, err := client.Dial(client.Options{
		HostPort: srv.FrontendAddress(),
		Logger:   sdklog.NewStructuredLogger(slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))),
	})
	if err != nil {
		t.Fatalf("client.Dial: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

func startWorker(t *testing.T, c client.Client) worker.Worker {
	t.Helper()
	w := worker.New(c, taskQueue, worker.Options{})
	w.RegisterWorkflow(setStatusWorkflow)
	w.RegisterWorkflow(setCodeWorkflow)
	if err := w.Start(); err != nil {
		t.Fatalf("starting worker: %v", err)
	}
	return w
}

// waitForList polls ListWorkflow until query finds workflowID, because
// visibility is updated asynchronously after the workflow closes.
func waitForList(t *testing.T, ctx context.Context, c client.Client, query, workflowID string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: query})
		if err != nil {
			t.Fatalf("ListWorkflow(%s): %v", query, err)
		}
		for _, e := range resp.GetExecutions() {
			if e.GetExecution().GetWorkflowId() == workflowID {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("ListWorkflow(%s) did not find %s: %v", query, workflowID, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// freePorts returns n distinct TCP ports on 127.0.0.1 that were free a
// moment ago. The listeners are held until all are picked so the OS cannot
// hand out the same port twice.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	ports := make([]int, n)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("finding a free port: %v", err)
		}
		defer l.Close()
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	return ports
}
