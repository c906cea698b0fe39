package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/contrib/envconfig"

	"github.com/wmtna/referrals/internal/config"
	"github.com/wmtna/referrals/internal/postgres"
	"github.com/wmtna/referrals/internal/service"
	"github.com/wmtna/referrals/worker"
)

// connect reads the configuration and opens Postgres and Temporal, as the
// production processes do: Temporal through the SDK's standard environment
// configuration (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TLS).
func connect(ctx context.Context, logger *slog.Logger) (config.Config, *postgres.DB, client.Client, error) {
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
	opts.Logger = service.TemporalLogger(logger)
	c, err := client.DialContext(ctx, opts)
	if err != nil {
		db.Close()
		return cfg, nil, nil, fmt.Errorf("connect to temporal at %s: %w", opts.HostPort, err)
	}
	return cfg, db, c, nil
}

func runAPI(ctx context.Context, logger *slog.Logger) error {
	cfg, db, c, err := connect(ctx, logger)
	if err != nil {
		return err
	}
	defer db.Close()
	defer c.Close()
	if err := service.EnsureAdmin(ctx, db, cfg.AdminToken); err != nil {
		return err
	}
	api := service.NewAPI(db, c, cfg, logger)
	go api.ResumeSubmissions(ctx, time.Minute)
	logger.Info("api listening", "addr", cfg.HTTPAddr)
	return service.Serve(ctx, cfg.HTTPAddr, api.Handler(), logger, nil)
}

func runWorker(ctx context.Context, logger *slog.Logger) error {
	cfg, db, c, err := connect(ctx, logger)
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
	w := service.NewWorker(db, c, cfg, logger)
	if err := w.Start(); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	logger.Info("worker polling", "namespace", ns)
	<-ctx.Done()
	w.Stop()
	return nil
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
