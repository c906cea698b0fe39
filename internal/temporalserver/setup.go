package temporalserver

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/persistence/sql/sqlplugin"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	sqliteschema "go.temporal.io/server/schema/sqlite"
	"google.golang.org/protobuf/types/known/durationpb"
)

// namespaceCacheRefresh is how often every service reloads namespaces from
// the database. It is set explicitly (it is also the server's default) because
// ensureSearchAttributes waits for it after adding search attributes.
const namespaceCacheRefresh = 2 * time.Second

// prepareDatabase makes sure DataDir/temporal.db has the Temporal schema and
// the namespace, and returns the SQL config the server should use.
func prepareDatabase(opts Options) (*config.SQL, error) {
	path := filepath.Join(opts.DataDir, dbFileName)
	if err := setupSchema(path); err != nil {
		return nil, err
	}

	conf := &config.SQL{
		PluginName:   sqliteplugin.PluginName,
		DatabaseName: path,
		ConnectAttributes: map[string]string{
			"mode": "rwc",
			// WAL makes commits much cheaper than the default rollback
			// journal and is just as durable.
			"journal_mode": "wal",
		},
	}

	// Creating the namespace directly in the database before the server
	// starts (as the CLI dev server does) means it, and the search
	// attributes of a fresh database, are in every service's namespace
	// cache from the start instead of appearing one refresh later.
	// CreateNamespaces leaves an existing namespace alone.
	ns, err := sqliteschema.NewNamespaceConfig(clusterName, opts.Namespace, false, opts.SearchAttributes)
	if err != nil {
		return nil, fmt.Errorf("temporal namespace %q: %w", opts.Namespace, err)
	}
	ns.Detail.Config.Retention = durationpb.New(namespaceRetention)
	if err := sqliteschema.CreateNamespaces(conf, ns); err != nil {
		return nil, fmt.Errorf("creating temporal namespace %q: %w", opts.Namespace, err)
	}
	return conf, nil
}

// setupSchema creates the Temporal tables in the SQLite file at path unless
// they already exist.
//
// Checking for the tables rather than for the file, and creating them in one
// transaction, means a first start that died half-way is simply redone
// instead of leaving a file that later starts would take as set up. It also
// avoids the plugin's "setup=true" attribute, which runs the schema on every
// connection and relies on the first statement failing with "already exists".
func setupSchema(path string) error {
	// The sqlite plugin registers its driver with database/sql. Going
	// through database/sql directly, rather than the plugin, keeps this
	// short-lived connection out of the plugin's connection pool, which
	// never closes connections.
	db, err := sql.Open(sqliteDriverName, "file:"+path+"?mode=rwc")
	if err != nil {
		return fmt.Errorf("opening temporal database %s: %w", path, err)
	}
	defer db.Close()

	var n int
	err = db.QueryRow(`SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'namespaces'`).Scan(&n)
	if err != nil {
		return fmt.Errorf("inspecting temporal database %s: %w", path, err)
	}
	if n > 0 {
		return nil
	}

	tx, err := db.Begin()
	if err != nil {
		return fmt.Errorf("setting up temporal schema: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	if err := sqliteschema.SetupSchemaOnDB(txAdminDB{tx: tx}); err != nil {
		return fmt.Errorf("setting up temporal schema in %s: %w", path, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("setting up temporal schema in %s: %w", path, err)
	}
	return nil
}

// sqliteDriverName is the database/sql driver registered by the sqlite
// persistence plugin (modernc.org/sqlite).
const sqliteDriverName = "sqlite"

// txAdminDB lets sqliteschema.SetupSchemaOnDB run inside a transaction. That
// function only calls Exec; the embedded nil interface makes any other
// method panic loudly should a future server version start calling one.
type txAdminDB struct {
	sqlplugin.AdminDB
	tx *sql.Tx
}

func (t txAdminDB) Exec(stmt string, args ...any) error {
	_, err := t.tx.Exec(stmt, args...)
	return err
}

// waitForNamespace waits until the frontend can serve the namespace.
func waitForNamespace(ctx context.Context, c client.Client, namespace string) error {
	var lastErr error
	err := poll(ctx, 100*time.Millisecond, func() (bool, error) {
		_, lastErr = c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: namespace})
		return lastErr == nil, nil
	})
	if err != nil {
		return fmt.Errorf("waiting for temporal namespace %q: %w (last error: %v)", namespace, err, lastErr)
	}
	return nil
}

// ensureSearchAttributes registers the search attributes that the namespace
// does not have yet. A fresh database already has them all (see
// prepareDatabase); this covers attributes added to Options after the
// DataDir was created.
func ensureSearchAttributes(ctx context.Context, c client.Client, namespace string, want map[string]enums.IndexedValueType) error {
	if len(want) == 0 {
		return nil
	}
	resp, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return fmt.Errorf("listing temporal search attributes: %w", err)
	}
	missing := make(map[string]enums.IndexedValueType)
	for name, typ := range want {
		got, ok := resp.GetCustomAttributes()[name]
		if !ok {
			missing[name] = typ
			continue
		}
		if got != typ {
			// A type can't be changed in place; say so rather than let
			// upserts fail later with a confusing error.
			return fmt.Errorf("temporal search attribute %s is registered as %s, not %s; delete the data dir to reset it", name, got, typ)
		}
	}
	if len(missing) == 0 {
		return nil
	}

	_, err = c.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
		Namespace:        namespace,
		SearchAttributes: missing,
	})
	var exists *serviceerror.AlreadyExists
	if err != nil && !errors.As(err, &exists) {
		return fmt.Errorf("adding temporal search attributes %v: %w", slices.Sorted(maps.Keys(missing)), err)
	}
	return waitForSearchAttributes(ctx, c, namespace, slices.Sorted(maps.Keys(missing)))
}

// waitForSearchAttributes waits until newly added search attributes can be
// used. They are stored in the namespace record, which each service
// caches and reloads every namespaceCacheRefresh, so until then the
// frontend rejects queries on them and history rejects upserts of them.
// Once the frontend accepts a query, the other services are at most one
// refresh behind.
func waitForSearchAttributes(ctx context.Context, c client.Client, namespace string, names []string) error {
	conds := make([]string, len(names))
	for i, n := range names {
		conds[i] = n + " IS NULL"
	}
	query := strings.Join(conds, " AND ")
	var lastErr error
	err := poll(ctx, 100*time.Millisecond, func() (bool, error) {
		_, lastErr = c.WorkflowService().CountWorkflowExecutions(ctx, &workflowservice.CountWorkflowExecutionsRequest{
			Namespace: namespace,
			Query:     query,
		})
		return lastErr == nil, nil
	})
	if err != nil {
		return fmt.Errorf("waiting for temporal search attributes %v: %w (last error: %v)", names, err, lastErr)
	}
	select {
	case <-ctx.Done():
		return fmt.Errorf("waiting for temporal search attributes %v: %w", names, ctx.Err())
	case <-time.After(namespaceCacheRefresh):
		return nil
	}
}
