// Package service wires the pieces into the two long-running processes,
// the API and the worker, the same way for production, the dev stack and
// the integration tests.
package service

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
	"github.com/wmtna/referrals/internal/httpapi"
	"github.com/wmtna/referrals/internal/metrics"
	"github.com/wmtna/referrals/internal/postgres"
	"github.com/wmtna/referrals/internal/referral"
	"github.com/wmtna/referrals/worker"
)

// TemporalLogger adapts slog for the Temporal SDK.
func TemporalLogger(l *slog.Logger) sdklog.Logger { return sdklog.NewStructuredLogger(l) }

// NewWorker returns a started-ready worker for referrals.
func NewWorker(db *postgres.DB, c client.Client, cfg config.Config, logger *slog.Logger) sdkworker.Worker {
	acts := &activities.Activities{
		DB:        db,
		Announcer: &announce.Announcer{DB: db, Temporal: c, Logger: logger},
		PublicURL: cfg.PublicURL,
		Logger:    logger,
	}
	return worker.New(c, acts, sdkworker.Options{
		// A worker stopping for a deploy lets running activities finish,
		// rather than leaving them to time out and retry 30 s later.
		WorkerStopTimeout: 10 * time.Second,
	})
}

// NewAPI returns the API server's handler state.
func NewAPI(db *postgres.DB, c client.Client, cfg config.Config, logger *slog.Logger) *httpapi.Server {
	return &httpapi.Server{
		DB:             db,
		Temporal:       c,
		Announcer:      &announce.Announcer{DB: db, Temporal: c, Logger: logger},
		Timings:        cfg.Timings,
		TraineeLinkTTL: cfg.TraineeLinkTTL,
		PublicURL:      cfg.PublicURL,
		Logger:         logger,
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
