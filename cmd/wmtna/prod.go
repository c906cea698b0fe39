package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/contrib/envconfig"

	"github.com/wmtna/referrals/internal/codec"
	"github.com/wmtna/referrals/internal/config"
	"github.com/wmtna/referrals/internal/metrics"
	"github.com/wmtna/referrals/internal/postgres"
	"github.com/wmtna/referrals/internal/referral"
	"github.com/wmtna/referrals/internal/wiring"
	"github.com/wmtna/referrals/worker"
)

// connect reads the configuration and opens Postgres and Temporal, as the
// production processes do: Temporal through the SDK's standard environment
// configuration (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TLS).
// The SDK's metrics go to mh.
func connect(ctx context.Context, logger *slog.Logger, mh client.MetricsHandler) (config.Config, *postgres.DB, client.Client, error) {
	cfg, err := config.FromEnv(os.Getenv)
	if err != nil {
		return cfg, nil, nil, err
	}
	if cfg.DatabaseURL == "" {
		return cfg, nil, nil, errors.New("DATABASE_URL is not set: point it at the pipeline's PostgreSQL database")
	}
	db, err := postgres.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return cfg, nil, nil, err
	}
	opts, err := envconfig.LoadDefaultClientOptions()
	if err != nil {
		db.Close()
		return cfg, nil, nil, fmt.Errorf("temporal client configuration: %w", err)
	}
	opts.Logger = wiring.TemporalLogger(logger)
	opts.MetricsHandler = mh
	// With WMTNA_PAYLOAD_KEYS set, every payload is encrypted; without, the
	// SDK's default converter.
	opts.DataConverter = codec.DataConverter(cfg.PayloadKeys)
	c, err := client.DialContext(ctx, opts)
	if err != nil {
		db.Close()
		return cfg, nil, nil, fmt.Errorf("connect to temporal at %s: %w", opts.HostPort, err)
	}
	return cfg, db, c, nil
}

func runAPI(ctx context.Context, logger *slog.Logger) error {
	reg := metrics.NewRegistry()
	cfg, db, c, err := connect(ctx, logger, metrics.NewTemporalHandler(reg))
	if err != nil {
		return err
	}
	defer db.Close()
	defer c.Close()
	if err := wiring.EnsureAdmin(ctx, db, cfg.AdminToken); err != nil {
		return err
	}
	api := wiring.NewAPI(db, c, cfg, logger)
	wiring.InstrumentAPI(api, db, reg, cfg.MetricsToken)
	go api.App.ResumeSubmissions(ctx, time.Minute)
	go api.App.PurgeCredentials(ctx, time.Hour)
	go api.App.AnswerSignInRequests(ctx, time.Minute)
	h := api.Handler()
	if cfg.PayloadKeys != nil {
		h = withCodec(h, api.Limits.CountUnauthorized(codec.Handler(cfg.PayloadKeys, cfg.CodecOrigins, codec.Bearer(operatorToken(db, logger)))))
		logger.Info("payload codec endpoint for operators", "path", "/codec/", "keys", cfg.PayloadKeys.String())
	}
	logger.Info("api listening", "addr", cfg.HTTPAddr)
	return wiring.Serve(ctx, cfg.HTTPAddr, h, logger, nil)
}

// withCodec sends /codec/... to the payload codec handler, with the prefix
// stripped (so /codec/decode reaches it as /decode), and everything else to
// the API.
func withCodec(api, codecHandler http.Handler) http.Handler {
	codecHandler = http.StripPrefix("/codec", codecHandler)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/codec/") {
			codecHandler.ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(w, r)
	})
}

// operatorToken accepts the bearer token of an operator of the API, and
// nobody else: decoded payloads are for the people who run the service.
func operatorToken(db *postgres.DB, logger *slog.Logger) func(context.Context, string) bool {
	return func(ctx context.Context, token string) bool {
		p, err := db.Authenticate(ctx, token)
		if err != nil {
			if !errors.Is(err, referral.ErrNotFound) {
				logger.ErrorContext(ctx, "codec: authenticate", "err", err)
			}
			return false
		}
		return p.Role == referral.RoleOperator
	}
}

func runWorker(ctx context.Context, logger *slog.Logger) error {
	reg := metrics.NewRegistry()
	cfg, db, c, err := connect(ctx, logger, metrics.NewTemporalHandler(reg))
	if err != nil {
		return err
	}
	defer db.Close()
	defer c.Close()
	opts, _ := envconfig.LoadDefaultClientOptions()
	ns := opts.Namespace
	if ns == "" {
		ns = client.DefaultNamespace
	}
	if err := worker.EnsureSearchAttributes(ctx, c, ns); err != nil {
		return err
	}
	if err := worker.EnsureRetentionSchedule(ctx, c, cfg.Retention); err != nil {
		return err
	}
	w := wiring.NewWorkerProcess(db, c, cfg, logger)
	if err := w.Start(); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	// The SDK's metrics, on WMTNA_METRICS_ADDR.
	served := make(chan error, 1)
	go func() {
		served <- wiring.Serve(ctx, cfg.MetricsAddr, metrics.Handler(reg, cfg.MetricsToken, logger), logger, nil)
	}()
	logger.Info("worker polling", "namespace", ns, "metrics", "http://"+cfg.MetricsAddr+"/metrics")
	select {
	case err := <-served: // the metrics server could not start
		w.Stop()
		return err
	case <-ctx.Done():
	}
	w.Stop()
	return <-served
}

func runMigrate(ctx context.Context, logger *slog.Logger) error {
	url := os.Getenv("DATABASE_URL")
	if url == "" {
		return errors.New("DATABASE_URL is not set: point it at the pipeline's PostgreSQL database")
	}
	if err := postgres.Migrate(ctx, url); err != nil {
		return err
	}
	logger.Info("migrations applied")
	return nil
}
