package deploy

import (
	"context"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/jackc/pgx/v5"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"go.temporal.io/server/common/authorization"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/common/headers"
	"go.temporal.io/server/common/log"
	_ "go.temporal.io/server/common/persistence/sql/sqlplugin/postgresql" // the plugin DB=postgres12 names
	"go.temporal.io/server/temporal"
	sqltool "go.temporal.io/server/tools/sql"

	"github.com/wmtna/referrals/internal/pgcluster"
	"github.com/wmtna/referrals/worker"
	"github.com/wmtna/referrals/workflows"
)

// TestMain lets this test binary stand in for temporal-sql-tool, the schema
// tool of temporalio/admin-tools: run under that name it is the tool, built
// from the same release of the server as the images the compose file names.
func TestMain(m *testing.M) {
	if filepath.Base(os.Args[0]) == "temporal-sql-tool" {
		if err := sqltool.RunTool(os.Args); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestComposeTemporalImagesMatchTheServerLibrary: the schema the tool
// writes and the server that reads it must be of one release, the one
// whose library the tests below run.
func TestComposeTemporalImagesMatchTheServerLibrary(t *testing.T) {
	p := loadCompose(t)
	v := headers.ServerVersion // of the server library linked into this test
	for name, image := range map[string]string{"temporal-schema": "temporalio/admin-tools", "temporal": "temporalio/server"} {
		if got, want := service(t, p, name).Image, image+":"+v; got != want {
			t.Errorf("%s runs %s, want %s, the release of go.temporal.io/server in go.mod", name, got, want)
		}
	}
}

// TestComposeTemporalRunsOnPostgres runs the compose file's Temporal part
// without Docker, on a real PostgreSQL: temporal-schema's script with the
// release's temporal-sql-tool and the service's environment (twice, as on
// a second `docker compose up`), then a Temporal server configured as the
// temporalio/server image configures itself (its embedded template read
// with the temporal service's environment and dynamic config file), then
// what the register service does, and a workflow whose search attribute is
// found through PostgreSQL visibility. Only the addresses change (the
// database is on 127.0.0.1, the server's ports are free ones), and files
// are read where the bind mounts take them from.
func TestComposeTemporalRunsOnPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL and a Temporal server")
	}
	p := loadCompose(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	cluster, err := pgcluster.Start(ctx, pgcluster.Options{
		DataDir: filepath.Join(t.TempDir(), "pg"), Fast: true,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cluster.Stop() })
	u, err := url.Parse(cluster.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	pgHost, pgPort := u.Hostname(), u.Port()

	// The postgres image makes POSTGRES_USER a superuser with the password.
	pg := environment(service(t, p, "postgres"))
	admin, err := pgx.Connect(ctx, cluster.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = admin.Exec(ctx, "CREATE ROLE "+pgx.Identifier{pg["POSTGRES_USER"]}.Sanitize()+" LOGIN SUPERUSER PASSWORD '"+strings.ReplaceAll(pg["POSTGRES_PASSWORD"], "'", "''")+"'")
	admin.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	moved := map[string]string{"POSTGRES_SEEDS": pgHost, "DB_PORT": pgPort}

	// temporal-schema, twice.
	schema := service(t, p, "temporal-schema")
	if len(schema.Entrypoint) != 2 {
		t.Fatalf("temporal-schema's entrypoint is %q, want [/bin/sh <script>]", schema.Entrypoint)
	}
	script := hostPath(t, schema, schema.Entrypoint[1])
	bin := t.TempDir()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(self, filepath.Join(bin, "temporal-sql-tool")); err != nil {
		t.Fatal(err)
	}
	for run := 1; run <= 2; run++ {
		cmd := exec.CommandContext(ctx, "sh", script)
		cmd.Env = []string{"PATH=" + bin + string(os.PathListSeparator) + os.Getenv("PATH")}
		for k, v := range environment(schema) {
			if m, ok := moved[k]; ok {
				v = m
			}
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("temporal-schema, run %d: %v\n%s", run, err, out)
		}
	}

	// temporal: the image's entrypoint is `temporal-server start`, which
	// loads the embedded template with the container's environment.
	temporalSvc := service(t, p, "temporal")
	env := environment(temporalSvc)
	dynPath := env["DYNAMIC_CONFIG_FILE_PATH"]
	if dynPath == "" {
		t.Fatal("temporal: DYNAMIC_CONFIG_FILE_PATH is not set; the image has no dynamic config file of its own")
	}
	dynFile := hostPath(t, temporalSvc, dynPath)
	contents, err := os.ReadFile(dynFile)
	if err != nil {
		t.Fatal(err)
	}
	if res := dynamicconfig.LoadYamlFile(contents); len(res.Errors) > 0 || len(res.Warnings) > 0 {
		t.Errorf("%s: errors %v, warnings %v", dynFile, res.Errors, res.Warnings)
	}
	for k, v := range env {
		if m, ok := moved[k]; ok {
			v = m
		}
		t.Setenv(k, v)
	}
	t.Setenv("DYNAMIC_CONFIG_FILE_PATH", dynFile)
	t.Setenv("BIND_ON_IP", "127.0.0.1")
	ports := map[string]int{}
	for _, name := range []string{"FRONTEND_GRPC_PORT", "FRONTEND_HTTP_PORT", "FRONTEND_MEMBERSHIP_PORT",
		"HISTORY_GRPC_PORT", "HISTORY_MEMBERSHIP_PORT", "MATCHING_GRPC_PORT", "MATCHING_MEMBERSHIP_PORT",
		"WORKER_GRPC_PORT", "WORKER_MEMBERSHIP_PORT"} {
		ports[name] = freePort(t, ports)
		t.Setenv(name, strconv.Itoa(ports[name]))
	}
	cfg, err := config.Load(config.WithEmbedded())
	if err != nil {
		t.Fatalf("the server's embedded configuration with the temporal service's environment: %v", err)
	}
	if got := cfg.Persistence.DataStores[cfg.Persistence.DefaultStore].SQL; got == nil || got.PluginName != "postgres12" || got.DatabaseName != env["DBNAME"] {
		t.Fatalf("temporal's default store is %+v, want postgres12 on database %s", got, env["DBNAME"])
	}
	// The server's errors go to a file, shown if it does not start.
	serverLog := filepath.Join(t.TempDir(), "temporal.log")
	srv, err := temporal.NewServer(
		temporal.ForServices(temporal.DefaultServices),
		temporal.WithConfig(cfg),
		temporal.WithLogger(log.NewZapLogger(log.BuildZapLogger(log.Config{Level: "error", OutputFile: serverLog}))),
		temporal.WithAuthorizer(authorization.NewNoopAuthorizer()),
		temporal.WithClaimMapper(func(*config.Config) authorization.ClaimMapper { return authorization.NewNoopClaimMapper() }),
	)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		logged, _ := os.ReadFile(serverLog)
		t.Fatalf("start the temporal server on the compose configuration: %v\n%s", err, logged)
	}
	t.Cleanup(func() { _ = srv.Stop() })

	// register: the namespace, its search attributes and the schedule.
	ns := environment(service(t, p, "register"))["TEMPORAL_NAMESPACE"]
	hostPort := net.JoinHostPort("127.0.0.1", strconv.Itoa(ports["FRONTEND_GRPC_PORT"]))
	var c client.Client
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(time.Second) {
		c, err = client.DialContext(ctx, client.Options{HostPort: hostPort, Namespace: ns, Logger: quietSDKLogger()})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("dial %s: %v", hostPort, err)
		}
	}
	defer c.Close()
	created, err := worker.EnsureNamespace(ctx, c, ns)
	if err != nil || !created {
		t.Fatalf("namespace %s on a new server: created %v, %v", ns, created, err)
	}
	if err := worker.EnsureSearchAttributes(ctx, c, ns); err != nil {
		t.Fatal(err)
	}
	if err := worker.EnsureRetentionSchedule(ctx, c, 24*time.Hour); err != nil {
		t.Fatal(err)
	}

	// A workflow that sets the referral status attribute, found by it.
	const queue = "compose-check"
	w := sdkworker.New(c, queue, sdkworker.Options{})
	w.RegisterWorkflowWithOptions(func(ctx workflow.Context) error {
		return workflow.UpsertTypedSearchAttributes(ctx, workflows.StatusKey.ValueSet("awaiting_review"))
	}, workflow.RegisterOptions{Name: "ComposeCheck"})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "compose-check", TaskQueue: queue}, "ComposeCheck")
	if err != nil {
		t.Fatal(err)
	}
	if err := run.Get(ctx, nil); err != nil {
		t.Fatal(err)
	}
	query := workflows.StatusKey.GetName() + " = 'awaiting_review'"
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		// The frontend learns of new search attributes when it refreshes
		// the namespace (every 10 s by default): until then the query is
		// refused, and the workflow's record may not be visible yet.
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: ns, Query: query})
		if err == nil && len(resp.Executions) == 1 && resp.Executions[0].Status == enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("list %q: %v executions, %v; want the completed workflow", query, len(resp.GetExecutions()), err)
		}
	}
}

// environment is a service's environment as compose resolved it.
func environment(s types.ServiceConfig) map[string]string {
	env := map[string]string{}
	for k, v := range s.Environment {
		if v != nil {
			env[k] = *v
		}
	}
	return env
}

// hostPath maps a path inside a service's container to the repository file
// a bind mount puts there.
func hostPath(t *testing.T, s types.ServiceConfig, inContainer string) string {
	t.Helper()
	for _, v := range s.Volumes {
		if v.Type != types.VolumeTypeBind {
			continue
		}
		if inContainer == v.Target {
			return v.Source
		}
		if rel, err := filepath.Rel(v.Target, inContainer); err == nil && !strings.HasPrefix(rel, "..") {
			return filepath.Join(v.Source, rel)
		}
	}
	t.Fatalf("%s: nothing in the repository is mounted at %s", s.Name, inContainer)
	return ""
}

// freePort returns a free TCP port on 127.0.0.1 below 32768, not among
// taken: Temporal's PostgreSQL schema keeps membership ports in a smallint,
// and the kernel's ephemeral ports are above it.
func freePort(t *testing.T, taken map[string]int) int {
	t.Helper()
	used := map[int]bool{}
	for _, p := range taken {
		used[p] = true
	}
	for range 1000 {
		p := 20000 + rand.IntN(12000)
		if used[p] {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			continue
		}
		_ = l.Close()
		return p
	}
	t.Fatal("no free port between 20000 and 32000")
	return 0
}

func quietSDKLogger() sdklog.Logger {
	return sdklog.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
}
