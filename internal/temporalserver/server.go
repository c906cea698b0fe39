// Package temporalserver runs an embedded Temporal server, persisted in a
// SQLite file so that restarting the dev stack keeps every workflow, plus the
// Temporal Web UI.
//
// It is a smaller take on the Temporal CLI's dev server
// (temporalcli/devserver): all four services run in this process with static
// membership, one history shard, and SQLite for both persistence and
// visibility. It is meant for local development only.
package temporalserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	uiserver "github.com/temporalio/ui-server/v2/server"
	uiconfig "github.com/temporalio/ui-server/v2/server/config"
	uiserveroptions "github.com/temporalio/ui-server/v2/server/server_options"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/server/common/authorization"
	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/common/membership/static"
	"go.temporal.io/server/common/primitives"
	"go.temporal.io/server/temporal"
)

const (
	defaultHost      = "127.0.0.1"
	defaultPort      = 7233
	defaultUIPort    = 8233
	defaultNamespace = "default"

	// namespaceRetention is how long closed workflows stay visible. A week
	// is long enough to look back at last week's dev runs without letting
	// the SQLite file grow without bound.
	namespaceRetention = 7 * 24 * time.Hour

	dbFileName  = "temporal.db"
	logFileName = "temporal-server.log"

	// clusterName is persisted in the database on first start; it must never
	// change for an existing DataDir.
	clusterName = "active"

	// defaultStartTimeout bounds Start when the caller's context has no
	// deadline, so a wedged server cannot hang the dev stack forever.
	defaultStartTimeout = 2 * time.Minute
)

// Options configures Start. The zero value is usable apart from DataDir.
type Options struct {
	// DataDir holds the SQLite database (DataDir/temporal.db) and the
	// server's log file (DataDir/temporal-server.log). It is created if
	// missing.
	DataDir string
	// Host is the address the frontend and UI listen on. Default 127.0.0.1.
	Host string
	// Port is the frontend gRPC port. Default 7233.
	Port int
	// UIPort is the Temporal Web UI HTTP port. Default 8233; -1 disables
	// the UI.
	UIPort int
	// Namespace is created if missing, with a retention of 7 days.
	// Default "default".
	Namespace string
	// SearchAttributes are custom search attributes registered on
	// Namespace. Registering is idempotent. SQLite visibility has a fixed
	// number of columns per type (e.g. 9 Keyword, 3 Int, 3 Text), so only
	// that many of each type can ever exist.
	SearchAttributes map[string]enums.IndexedValueType
	// CodecEndpoint is the URL of a remote codec server (Temporal's codec
	// server protocol: POST <endpoint>/decode and /encode) that the UI
	// calls, from the browser, to show encoded payloads decoded. The codec
	// server must allow the UI's origin (UIAddress) by CORS. The UI has no
	// login here, so it passes no access token: the endpoint itself must
	// carry whatever authorises it. The UI hands the URL to any browser
	// that asks, at its unauthenticated /api/v1/settings, so whatever the
	// URL carries is no stronger than access to the UI. Empty means none.
	CodecEndpoint string
	// Logger receives the server's errors (except while stopping) and
	// start-up timing at debug level. Everything the server logs at info
	// and above goes to DataDir/temporal-server.log. Nil means
	// slog.Default().
	Logger *slog.Logger
}

// Server is a running embedded Temporal server and, optionally, its UI.
type Server struct {
	server       temporal.Server
	ui           *uiserver.Server
	frontendAddr string
	uiAddr       string
	logFile      *os.File
	// quiet stops the server's log records reaching Options.Logger.
	quiet *atomic.Bool

	stopOnce sync.Once
	stopErr  error
}

// Start starts the server and returns once the frontend answers requests and
// the namespace and search attributes exist. On a fresh DataDir it creates
// the SQLite schema first; on an existing one it reuses the stored state.
//
// The server is not stopped when ctx is done; ctx only bounds start-up.
func Start(ctx context.Context, opts Options) (*Server, error) {
	begin := time.Now()
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultStartTimeout)
		defer cancel()
	}

	if err := os.MkdirAll(opts.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("creating temporal data dir: %w", err)
	}
	quiet := new(atomic.Bool)
	logFile, logger, err := openServerLog(opts.DataDir, opts.Logger, quiet)
	if err != nil {
		return nil, err
	}
	s := &Server{logFile: logFile, quiet: quiet}
	ok := false
	defer func() {
		if !ok {
			_ = s.Stop()
		}
	}()

	ports, err := reservePorts(opts)
	if err != nil {
		return nil, err
	}
	// By the time this runs on success every port has been handed over; on
	// failure it frees whatever is still reserved.
	defer ports.closeAll()
	dialHost := loopbackIfUnspecified(opts.Host)
	s.frontendAddr = net.JoinHostPort(dialHost, strconv.Itoa(opts.Port))

	sqlConf, err := prepareDatabase(opts)
	if err != nil {
		return nil, err
	}

	// Hand the ports over as late as possible so nothing else grabs them.
	// That is just before NewServer, not Start: the services bind their
	// gRPC listeners while being constructed, and a failed bind there
	// panics in a server goroutine instead of returning an error.
	ports.release()
	srv, err := newTemporalServer(opts, ports, sqlConf, logger)
	if err != nil {
		return nil, err
	}
	if err := srv.Start(); err != nil {
		return nil, fmt.Errorf("starting temporal server: %w", err)
	}
	s.server = srv

	c, err := client.DialContext(ctx, client.Options{
		HostPort:  s.frontendAddr,
		Namespace: opts.Namespace,
		Logger:    sdklog.NewStructuredLogger(logger.l),
	})
	if err != nil {
		return nil, fmt.Errorf("connecting to temporal frontend %s: %w", s.frontendAddr, err)
	}
	defer c.Close()
	if err := waitForNamespace(ctx, c, opts.Namespace); err != nil {
		return nil, err
	}
	if err := ensureSearchAttributes(ctx, c, opts.Namespace, opts.SearchAttributes); err != nil {
		return nil, err
	}

	if opts.UIPort != -1 {
		s.uiAddr = "http://" + net.JoinHostPort(dialHost, strconv.Itoa(opts.UIPort))
		if err := s.startUI(ctx, opts, dialHost, ports.ui); err != nil {
			return nil, err
		}
	}

	ok = true
	opts.Logger.Debug("temporal server started",
		"frontend", s.frontendAddr, "ui", s.uiAddr, "data_dir", opts.DataDir,
		"took", time.Since(begin).Round(time.Millisecond))
	return s, nil
}

// FrontendAddress returns the host:port to pass to client.Dial.
func (s *Server) FrontendAddress() string { return s.frontendAddr }

// UIAddress returns the base URL of the Web UI, or "" when it is disabled.
func (s *Server) UIAddress() string { return s.uiAddr }

// Stop stops the UI and the server. It is safe to call more than once.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		var errs []error
		s.quiet.Store(true)
		if s.ui != nil {
			s.ui.Stop()
		}
		if s.server != nil {
			if err := s.server.Stop(); err != nil {
				errs = append(errs, fmt.Errorf("stopping temporal server: %w", err))
			}
		}
		if s.logFile != nil {
			if err := s.logFile.Close(); err != nil {
				errs = append(errs, fmt.Errorf("closing temporal server log: %w", err))
			}
		}
		s.stopErr = errors.Join(errs...)
	})
	return s.stopErr
}

func (o *Options) setDefaults() error {
	if o.DataDir == "" {
		return errors.New("temporalserver: DataDir is required")
	}
	if o.Host == "" {
		o.Host = defaultHost
	}
	if o.Port == 0 {
		o.Port = defaultPort
	}
	if o.UIPort == 0 {
		o.UIPort = defaultUIPort
	}
	if o.Namespace == "" {
		o.Namespace = defaultNamespace
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return nil
}

// openServerLog opens DataDir/temporal-server.log and returns a logger that
// writes everything at info and above there, and passes only errors on to
// user, until quiet is set. The server logs dozens of info lines while
// starting, and even its warnings are mostly routine (no HTTP API port,
// retried connections), which would drown the dev stack's own output.
//
// The previous run's log is kept as temporal-server.log.1 so the file cannot
// grow across restarts forever but a crash can still be investigated.
func openServerLog(dataDir string, user *slog.Logger, quiet *atomic.Bool) (*os.File, serverLogger, error) {
	path := filepath.Join(dataDir, logFileName)
	if err := os.Rename(path, path+".1"); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, serverLogger{}, fmt.Errorf("rotating temporal server log: %w", err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, serverLogger{}, fmt.Errorf("opening temporal server log: %w", err)
	}
	h := teeHandler{
		slog.NewJSONHandler(f, &slog.HandlerOptions{Level: slog.LevelInfo}),
		userHandler{min: slog.LevelError, off: quiet, h: user.With("component", "temporal").Handler()},
	}
	return f, serverLogger{l: slog.New(h)}, nil
}

// ports holds the ports the server will listen on. The listeners are kept
// open while the remaining ports are picked, so that an OS-assigned port
// cannot collide with the frontend or UI port, and so that a port already in
// use is reported clearly before the server starts.
type ports struct {
	history, matching, worker int
	listeners                 []net.Listener
	// ui holds the UI port until the UI starts, which is only after the
	// server is up; nil when the UI is disabled.
	ui net.Listener
}

func reservePorts(opts Options) (*ports, error) {
	p := &ports{}
	listen := func(host string, port int) (int, error) {
		l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			return 0, err
		}
		p.listeners = append(p.listeners, l)
		return l.Addr().(*net.TCPAddr).Port, nil
	}
	if _, err := listen(opts.Host, opts.Port); err != nil {
		p.closeAll()
		return nil, fmt.Errorf("temporal frontend port %d is not available (is another Temporal server running?): %w", opts.Port, err)
	}
	if opts.UIPort != -1 {
		l, err := net.Listen("tcp", net.JoinHostPort(opts.Host, strconv.Itoa(opts.UIPort)))
		if err != nil {
			p.closeAll()
			return nil, fmt.Errorf("temporal UI port %d is not available: %w", opts.UIPort, err)
		}
		p.ui = l
	}
	// The internal services only ever talk to each other, so they stay on
	// loopback whatever Host is.
	for _, dst := range []*int{&p.history, &p.matching, &p.worker} {
		port, err := listen(defaultHost, 0)
		if err != nil {
			p.closeAll()
			return nil, fmt.Errorf("picking a free port for temporal services: %w", err)
		}
		*dst = port
	}
	return p, nil
}

// release frees the ports for the Temporal services. The UI port is freed
// by startUI.
func (p *ports) release() {
	for _, l := range p.listeners {
		_ = l.Close()
	}
	p.listeners = nil
}

// closeAll frees every port still reserved.
func (p *ports) closeAll() {
	p.release()
	if p.ui != nil {
		_ = p.ui.Close()
	}
}

func newTemporalServer(opts Options, p *ports, sqlConf *config.SQL, logger serverLogger) (temporal.Server, error) {
	frontendHostPort := net.JoinHostPort(loopbackIfUnspecified(opts.Host), strconv.Itoa(opts.Port))
	hostPort := func(port int) string { return net.JoinHostPort(defaultHost, strconv.Itoa(port)) }

	var conf config.Config
	conf.Global.Membership.MaxJoinDuration = 30 * time.Second
	conf.Global.Membership.BroadcastAddress = defaultHost
	conf.Persistence.DefaultStore = "sqlite"
	conf.Persistence.VisibilityStore = "sqlite"
	conf.Persistence.NumHistoryShards = 1
	conf.Persistence.DataStores = map[string]config.DataStore{"sqlite": {SQL: sqlConf}}
	conf.ClusterMetadata = &cluster.Config{
		EnableGlobalNamespace:    false,
		FailoverVersionIncrement: 10,
		MasterClusterName:        clusterName,
		CurrentClusterName:       clusterName,
		ClusterInformation: map[string]cluster.ClusterInformation{
			clusterName: {
				Enabled:                true,
				InitialFailoverVersion: 1,
				RPCAddress:             frontendHostPort,
			},
		},
	}
	conf.DCRedirectionPolicy.Policy = "noop"
	conf.Services = map[string]config.Service{
		string(primitives.FrontendService): {RPC: config.RPC{GRPCPort: opts.Port, BindOnIP: opts.Host}},
		string(primitives.HistoryService):  {RPC: config.RPC{GRPCPort: p.history, BindOnIP: defaultHost}},
		string(primitives.MatchingService): {RPC: config.RPC{GRPCPort: p.matching, BindOnIP: defaultHost}},
		string(primitives.WorkerService):   {RPC: config.RPC{GRPCPort: p.worker, BindOnIP: defaultHost}},
	}
	conf.Archival.History.State = "disabled"
	conf.Archival.Visibility.State = "disabled"
	conf.NamespaceDefaults.Archival.History.State = "disabled"
	conf.NamespaceDefaults.Archival.Visibility.State = "disabled"
	// The worker service's system workflows dial the frontend through this.
	conf.PublicClient.HostPort = frontendHostPort

	authorizer, err := authorization.GetAuthorizerFromConfig(&conf.Global.Authorization)
	if err != nil {
		return nil, fmt.Errorf("creating temporal authorizer: %w", err)
	}
	claimMapper, err := authorization.GetClaimMapperFromConfig(&conf.Global.Authorization, logger)
	if err != nil {
		return nil, fmt.Errorf("creating temporal claim mapper: %w", err)
	}

	dynConf := dynamicconfig.StaticClient{
		// Same as the CLI dev server: a bigger mutable state cache and more
		// visibility RPS than the production defaults, because the UI polls
		// list queries aggressively.
		dynamicconfig.HistoryCacheHostLevelMaxSize.Key():                 8096,
		dynamicconfig.FrontendMaxNamespaceVisibilityRPSPerInstance.Key(): 100,
		dynamicconfig.NamespaceCacheRefreshInterval.Key():                namespaceCacheRefresh,
	}

	srv, err := temporal.NewServer(
		temporal.WithConfig(&conf),
		temporal.ForServices(temporal.DefaultServices),
		// Static hosts instead of ringpop: everything is in this process,
		// so there is no membership protocol and no membership ports.
		temporal.WithStaticHosts(map[primitives.ServiceName]static.Hosts{
			primitives.FrontendService: static.SingleLocalHost(frontendHostPort),
			primitives.HistoryService:  static.SingleLocalHost(hostPort(p.history)),
			primitives.MatchingService: static.SingleLocalHost(hostPort(p.matching)),
			primitives.WorkerService:   static.SingleLocalHost(hostPort(p.worker)),
		}),
		temporal.WithLogger(logger),
		temporal.WithAuthorizer(authorizer),
		temporal.WithClaimMapper(func(*config.Config) authorization.ClaimMapper { return claimMapper }),
		temporal.WithDynamicConfigClient(dynConf),
	)
	if err != nil {
		return nil, fmt.Errorf("creating temporal server: %w", err)
	}
	return srv, nil
}

func (s *Server) startUI(ctx context.Context, opts Options, dialHost string, reserved net.Listener) error {
	s.ui = uiserver.NewServer(uiserveroptions.WithConfigProvider(&uiconfig.Config{
		Host:                opts.Host,
		Port:                opts.UIPort,
		TemporalGRPCAddress: s.frontendAddr,
		EnableUI:            true,
		DefaultNamespace:    opts.Namespace,
		// Plain HTTP on localhost: a Secure cookie would never be sent
		// back, breaking the CSRF token check on every write action.
		CORS:     uiconfig.CORS{CookieInsecure: true},
		HideLogs: true,
		Codec:    uiconfig.Codec{Endpoint: opts.CodecEndpoint},
	}))
	// ui.Start blocks until Stop. It also exits the whole process (echo's
	// Logger.Fatal) if it cannot bind, and offers no way to pass it a
	// listener, so the port stays reserved until this moment.
	_ = reserved.Close()
	go func() {
		if err := s.ui.Start(); err != nil {
			opts.Logger.Error("temporal UI server failed", "error", err)
		}
	}()

	healthURL := "http://" + net.JoinHostPort(dialHost, strconv.Itoa(opts.UIPort)) + "/healthz"
	hc := &http.Client{Timeout: time.Second}
	err := poll(ctx, 50*time.Millisecond, func() (bool, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, healthURL, nil)
		if err != nil {
			return false, err
		}
		resp, err := hc.Do(req)
		if err != nil {
			return false, nil // not listening yet
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	})
	if err != nil {
		return fmt.Errorf("waiting for temporal UI at %s: %w", healthURL, err)
	}
	return nil
}

// loopbackIfUnspecified turns a wildcard listen address into one that can be
// dialed.
func loopbackIfUnspecified(host string) string {
	ip := net.ParseIP(host)
	switch {
	case ip == nil || !ip.IsUnspecified():
		return host
	case ip.To4() != nil:
		return "127.0.0.1"
	default:
		return "::1"
	}
}

// poll calls f every interval until it reports done, returns an error, or
// ctx is done.
func poll(ctx context.Context, interval time.Duration, f func() (bool, error)) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		done, err := f()
		if err != nil {
			return err
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}
