// Command wmtna runs the WMTNA referral pipeline.
//
//	wmtna dev       the whole service in one process, on embedded defaults
//	wmtna api       the HTTP API (production)
//	wmtna worker    the Temporal worker (production)
//	wmtna migrate   apply the database migrations
//	wmtna register  register the search attributes and retention schedule on Temporal
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

const usage = `wmtna runs the West Midlands Therapy Network Association referral pipeline.

Usage:
  wmtna dev [flags]   run everything in one process: PostgreSQL, Temporal with its UI,
                      the worker and the API, with demo data (see wmtna dev -h)
  wmtna api           run the HTTP API (DATABASE_URL, TEMPORAL_ADDRESS, ...)
  wmtna worker        run the Temporal worker (DATABASE_URL, TEMPORAL_ADDRESS, ...)
  wmtna migrate       apply database migrations to DATABASE_URL
  wmtna register      prepare the Temporal namespace: create it if the server has none,
                      register the search attributes and the retention schedule
                      (TEMPORAL_ADDRESS, ...); safe to repeat
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "wmtna:", err)
		}
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("name a command")
	}
	switch args[0] {
	case "dev":
		return runDev(ctx, args[1:], stdout, stderr)
	case "api":
		return runAPI(ctx, jsonLogger(stderr))
	case "worker":
		return runWorker(ctx, jsonLogger(stderr))
	case "migrate":
		return runMigrate(ctx, jsonLogger(stderr))
	case "register":
		return runRegister(ctx, jsonLogger(stderr))
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}

func jsonLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, nil))
}
