package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/contrib/envconfig"

	"github.com/wmtna/referrals/internal/codec"
	"github.com/wmtna/referrals/internal/config"
	"github.com/wmtna/referrals/internal/wiring"
	"github.com/wmtna/referrals/worker"
)

// registerPatience is how long `wmtna register` waits for Temporal to
// answer: in docker compose it may start before the server is up.
const registerPatience = 2 * time.Minute

// runRegister prepares the Temporal namespace for the pipeline, once per
// deployment: the namespace itself when the server has none of that name
// (a self-hosted server's first start), the referral search attributes,
// and the daily retention schedule. Every step is idempotent, so it is safe
// to run on every deploy; workers repeat the last two at start as a
// backstop.
func runRegister(ctx context.Context, logger *slog.Logger) error {
	cfg, err := config.FromEnv(os.Getenv)
	if err != nil {
		return err
	}
	opts, err := envconfig.LoadDefaultClientOptions()
	if err != nil {
		return fmt.Errorf("temporal client configuration: %w", err)
	}
	opts.Logger = wiring.TemporalLogger(logger)
	// The schedule's workflow input is a payload: encrypted like any other.
	opts.DataConverter = codec.DataConverter(cfg.PayloadKeys)
	ns := opts.Namespace
	if ns == "" {
		ns = client.DefaultNamespace
	}
	deadline := time.Now().Add(registerPatience)
	var c client.Client
	for {
		c, err = client.DialContext(ctx, opts)
		if err == nil {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("connect to temporal at %s: %w", opts.HostPort, err)
		}
		logger.Info("waiting for temporal", "address", opts.HostPort, "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(2 * time.Second):
		}
	}
	defer c.Close()
	created, err := worker.EnsureNamespace(ctx, c, ns)
	if err != nil {
		return err
	}
	if created {
		logger.Info("temporal namespace created", "namespace", ns, "history_retention", worker.NamespaceRetention.String())
	}
	if err := worker.EnsureSearchAttributes(ctx, c, ns); err != nil {
		return err
	}
	if err := worker.EnsureRetentionSchedule(ctx, c, cfg.Retention); err != nil {
		return err
	}
	logger.Info("temporal namespace ready", "namespace", ns, "search_attributes", len(worker.SearchAttributes()), "retention", cfg.Retention.String())
	return nil
}
