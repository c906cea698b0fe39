// Package wiring wires the pieces into the two long-running processes, the
// API and the worker, the same way for production, the dev stack and the
// integration tests.
package wiring

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/wmtna/referrals/activities"
	"github.com/wmtna/referrals/internal/announce"
	"github.com/wmtna/referrals/internal/config"
	"github.com/wmtna/referrals/internal/email"
	"github.com/wmtna/referrals/internal/httpapi"
	"github.com/wmtna/referrals/internal/metrics"
	"github.com/wmtna/referrals/internal/outbox"
	"github.com/wmtna/referrals/internal/pages"
	"github.com/wmtna/referrals/internal/pipeline"
	"github.com/wmtna/referrals/internal/postgres"
	"github.com/wmtna/referrals/internal/ratelimit"
	"github.com/wmtna/referrals/internal/referral"
	"github.com/wmtna/referrals/worker"
)

// TemporalLogger adapts slog for the Temporal SDK.
func TemporalLogger(l *slog.Logger) sdklog.Logger { return sdklog.NewStructuredLogger(l) }

// WorkerProcess is the worker process: the Temporal worker of the referral
// task queue (package worker registers what it runs) and, when email is
// configured, the postman that starts the delivery of the outbox.
type WorkerProcess struct {
	sdkworker.Worker
	postman *outbox.Postman
	stop    context.CancelFunc
	done    chan struct{}
}

// postmanSweep is how often the worker looks for messages nobody nudged it
// about (their writer died between writing and nudging).
const postmanSweep = 30 * time.Second

// NewWorkerProcess returns a started-ready worker for referrals. With cfg.SMTPURL
// set it delivers email; without, messages wait in the outbox.
func NewWorkerProcess(db *postgres.DB, c client.Client, cfg config.Config, logger *slog.Logger) *WorkerProcess {
	acts := &activities.Activities{
		DB:        db,
		Announcer: &announce.Announcer{DB: db, Temporal: c, Logger: logger},
		PublicURL: cfg.PublicURL,
		Logger:    logger,
	}
	w := &WorkerProcess{}
	if cfg.SMTPURL != "" {
		sender, err := email.New(cfg.SMTPURL, cfg.MailFrom, cfg.PublicURL)
		if err != nil { // config.FromEnv checked it; a hand-built Config may not have
			logger.Error("email is off", "err", err)
		} else {
			w.postman = outbox.New(db, c, logger)
			acts.Mailer, acts.Postman = sender, w.postman
		}
	} else {
		logger.Warn("SMTP_URL is not set: email waits in the outbox until it is")
	}
	w.Worker = worker.New(c, acts, sdkworker.Options{
		// A worker stopping for a deploy lets running activities finish,
		// rather than leaving them to time out and retry 30 s later.
		WorkerStopTimeout: 10 * time.Second,
	})
	return w
}

// Start starts polling, and the postman.
func (w *WorkerProcess) Start() error {
	if err := w.Worker.Start(); err != nil {
		return err
	}
	if w.postman != nil {
		ctx, stop := context.WithCancel(context.Background())
		w.stop, w.done = stop, make(chan struct{})
		go func() {
			defer close(w.done)
			w.postman.Run(ctx, postmanSweep)
		}()
	}
	return nil
}

// Stop stops the postman, then the worker.
func (w *WorkerProcess) Stop() {
	if w.stop != nil {
		w.stop()
		<-w.done
		w.stop = nil
	}
	w.Worker.Stop()
}

// NewAPI returns the API server, serving the web pages too, with the use
// cases both call.
func NewAPI(db *postgres.DB, c client.Client, cfg config.Config, logger *slog.Logger) *httpapi.Server {
	app := &pipeline.Service{
		DB:             db,
		Temporal:       c,
		Announcer:      &announce.Announcer{DB: db, Temporal: c, Logger: logger},
		Timings:        cfg.Timings,
		TraineeLinkTTL: cfg.TraineeLinkTTL,
		PublicURL:      cfg.PublicURL,
		Logger:         logger,
		Clock:          cfg.Clock,
	}
	if cfg.SMTPURL != "" {
		app.Postman = outbox.New(db, c, logger)
	}
	limits := &ratelimit.Limits{TrustedProxies: cfg.TrustedProxies}
	return &httpapi.Server{
		App:    app,
		Limits: limits,
		Logger: logger,
		Pages:  &pages.Site{App: app, Limits: limits, Logger: logger, Contact: cfg.ContactEmail, Retention: cfg.Retention},
	}
}

// InstrumentAPI has the API count its requests in reg and serve reg at
// GET /metrics (behind token when set), with the pipeline's figures read
// from db at each scrape.
func InstrumentAPI(api *httpapi.Server, db *postgres.DB, reg *prometheus.Registry, token string) {
	api.Metrics = httpapi.NewMetrics(reg)
	api.MetricsToken = token
	reg.MustRegister(metrics.NewDomain(db))
}

// EnsureAdmin makes the operator token from WMTNA_ADMIN_TOKEN valid.
func EnsureAdmin(ctx context.Context, db *postgres.DB, token string) error {
	if token == "" {
		return nil
	}
	return db.StoreToken(ctx, token, referral.RoleOperator, "admin", nil)
}

// Serve runs an HTTP server on addr until ctx is done, then shuts it down
// gracefully. ready, if not nil, receives the bound address.
func Serve(ctx context.Context, addr string, h http.Handler, logger *slog.Logger, ready func(net.Addr)) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	srv := httpapi.NewHTTPServer(addr, h)
	srv.ErrorLog = slog.NewLogLogger(logger.Handler(), slog.LevelWarn)
	if ready != nil {
		ready(ln.Addr())
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve http: %w", err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return fmt.Errorf("shut down http: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
