package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/client"
	"golang.org/x/sync/errgroup"

	"github.com/wmtna/referrals/internal/codec"
	"github.com/wmtna/referrals/internal/config"
	"github.com/wmtna/referrals/internal/demo"
	"github.com/wmtna/referrals/internal/devmail"
	"github.com/wmtna/referrals/internal/email"
	"github.com/wmtna/referrals/internal/metrics"
	"github.com/wmtna/referrals/internal/pgcluster"
	"github.com/wmtna/referrals/internal/postgres"
	"github.com/wmtna/referrals/internal/temporalserver"
	"github.com/wmtna/referrals/internal/wiring"
	"github.com/wmtna/referrals/worker"
)

// devUsage says what dev does, its flags, and the settings it reads from
// the environment: the names come from config.FromEnv itself, so the list
// cannot fall behind it.
func devUsage(fs *flag.FlagSet) {
	w := fs.Output()
	fmt.Fprint(w, `Usage: wmtna dev [flags]

Runs the whole service in one process on embedded defaults: a PostgreSQL
cluster under the data dir (or DATABASE_URL), an embedded Temporal server
with its UI, the migrations, demo data, the worker, and the web pages and
API, with a dev mailbox that catches every email. Ctrl-C stops it; starting
it again on the same data dir carries on where it left off.

Flags:
`)
	fs.PrintDefaults()
	var names []string
	_, _ = config.FromEnv(func(name string) string { names = append(names, name); return "" })
	slices.Sort(names)
	fmt.Fprintf(w, "\nSettings from the environment (README.md, Configuration, says what each does):\n  %s\n",
		strings.Join(slices.Compact(names), "\n  "))
}

// runDev runs the whole service in one process: a PostgreSQL cluster (or
// DATABASE_URL), an embedded Temporal server with its UI persisted under the
// data directory, migrations, search attributes, demo data, the worker and
// the API. Stopping and starting again on the same data directory carries on
// where it left off.
func runDev(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	fs.SetOutput(stderr)
	httpAddr := fs.String("http-addr", "127.0.0.1:8080", "address the API listens on")
	temporalPort := fs.Int("temporal-port", 7233, "port of the embedded Temporal server's frontend (gRPC)")
	uiPort := fs.Int("ui-port", 8233, "port of the Temporal UI")
	dataDir := fs.String("data-dir", ".wmtna", "where PostgreSQL, Temporal and the demo tokens keep their data")
	fs.Usage = func() { devUsage(fs) }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil // asked for, and given: not a failure
		}
		return err
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	cfg, err := config.FromEnv(os.Getenv)
	if err != nil {
		return err
	}
	cfg.HTTPAddr = *httpAddr
	if os.Getenv("WMTNA_PUBLIC_URL") == "" {
		cfg.PublicURL = "http://" + *httpAddr
	}
	dir, err := filepath.Abs(*dataDir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	// Dev encrypts payloads too, with WMTNA_PAYLOAD_KEYS or else a key kept
	// in the data directory, so a restart reads the histories it wrote.
	keys := cfg.PayloadKeys
	if keys == nil {
		if keys, err = devPayloadKeys(dir); err != nil {
			return err
		}
	}
	// The embedded UI has no login, so no token to pass to the codec
	// endpoint: its endpoint carries a secret made for this run instead.
	// The UI publishes that URL to anyone who can reach it (its settings
	// endpoint needs no login), so the secret grants no more than the UI
	// does, which decodes every payload for whoever opens it; the UI
	// listens on loopback only. Operators' bearer tokens work on /codec/
	// as in production, where there is no such secret.
	uiSecret := rand.Text()
	codecBase := strings.TrimSuffix(cfg.PublicURL, "/") + "/codec"

	// Email goes to SMTP_URL when it is set, and otherwise to a mail catcher
	// whose messages are shown at /dev/mailbox: no mail server needed.
	var box *devmail.Box
	if cfg.SMTPURL == "" {
		if box, err = devmail.Start(); err != nil {
			return fmt.Errorf("start the dev mailbox: %w", err)
		}
		defer box.Close()
		cfg.SMTPURL = box.URL()
	}

	if cfg.DatabaseURL == "" {
		cluster, err := pgcluster.Start(ctx, pgcluster.Options{DataDir: filepath.Join(dir, "postgres"), Logger: logger})
		if errors.Is(err, pgcluster.ErrNotInstalled) {
			return err
		}
		if err != nil {
			return fmt.Errorf("start PostgreSQL: %w", err)
		}
		defer cluster.Stop()
		if err := cluster.EnsureDatabase(ctx, "wmtna"); err != nil {
			return err
		}
		cfg.DatabaseURL = cluster.URL("wmtna")
	}
	if err := postgres.Migrate(ctx, cfg.DatabaseURL); err != nil {
		return err
	}
	db, err := postgres.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer db.Close()

	ts, err := temporalserver.Start(ctx, temporalserver.Options{
		DataDir: filepath.Join(dir, "temporal"), Port: *temporalPort, UIPort: *uiPort,
		SearchAttributes: worker.SearchAttributes(), Logger: logger,
		CodecEndpoint: codecBase + "/" + uiSecret,
	})
	if err != nil {
		return fmt.Errorf("start Temporal: %w", err)
	}
	defer ts.Stop()
	// One registry for the whole dev process: the API's requests, the
	// pipeline's figures and the SDK's metrics (API and worker), all at the
	// API's /metrics.
	reg := metrics.NewRegistry()
	c, err := client.DialContext(ctx, client.Options{
		HostPort: ts.FrontendAddress(), Logger: wiring.TemporalLogger(quiet(logger)),
		DataConverter: codec.DataConverter(keys), MetricsHandler: metrics.NewTemporalHandler(reg),
	})
	if err != nil {
		return fmt.Errorf("connect to Temporal: %w", err)
	}
	defer c.Close()

	tokens, err := demo.Seed(ctx, db, dir, cfg.AdminToken)
	if err != nil {
		return fmt.Errorf("seed demo data: %w", err)
	}
	if err := worker.EnsureRetentionSchedule(ctx, c, cfg.Retention); err != nil {
		return fmt.Errorf("retention schedule: %w", err)
	}
	w := wiring.NewWorkerProcess(db, c, cfg, logger)
	if err := w.Start(); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	defer w.Stop()

	api := wiring.NewAPI(db, c, cfg, logger)
	wiring.InstrumentAPI(api, db, reg, cfg.MetricsToken)
	origins := append(uiOrigins(ts.UIAddress()), cfg.CodecOrigins...)
	h := withCodec(api.Handler(), api.Limits.CountUnauthorized(codec.Handler(keys, origins,
		codec.PathSecret(uiSecret, codec.Bearer(operatorToken(db, logger))))))
	if box != nil {
		h = withMailbox(h, box.Handler())
	}
	g, gctx := errgroup.WithContext(ctx)
	go api.App.ResumeSubmissions(gctx, time.Minute)
	go api.App.PurgeCredentials(gctx, time.Hour)
	go api.App.AnswerSignInRequests(gctx, time.Minute)
	g.Go(func() error {
		return wiring.Serve(gctx, cfg.HTTPAddr, h, logger, func(a net.Addr) {
			fmt.Fprintf(stdout, "\nWMTNA referral pipeline (dev) is running. Data: %s\n\n", dir)
			fmt.Fprintf(stdout, "  Web pages    http://%s/   (refer yourself; staff sign in at /sign-in, see below)\n", a)
			if box != nil {
				fmt.Fprintf(stdout, "  Dev mailbox  http://%s/dev/mailbox   (every email the service sends, with its links)\n", a)
			} else {
				fmt.Fprintf(stdout, "  Email        sent to %s\n", email.Redacted(cfg.SMTPURL))
			}
			fmt.Fprintf(stdout, "  API          http://%s/v1/   (described at /v1/openapi.yaml)\n", a)
			fmt.Fprintf(stdout, "  Metrics      http://%s/metrics   (API, worker and pipeline figures)\n", a)
			fmt.Fprintf(stdout, "  Temporal UI  %s   (payloads are encrypted; it decrypts them through %s/)\n", ts.UIAddress(), codecBase)
			fmt.Fprintf(stdout, "  Referrals    %s   (the Temporal UI's list of referrals only, without the email workflows)\n", referralList(ts.UIAddress()))
			fmt.Fprintf(stdout, "  Temporal     %s (namespace default)\n\n", ts.FrontendAddress())
			fmt.Fprintf(stdout, "Sign in to the pages by email as the committee's chair@wmtna.example, or as the therapists\n")
			fmt.Fprintf(stdout, "ada@therapist.example, ben@therapist.example and cara@therapist.example.\n\n")
			fmt.Fprintf(stdout, "Demo bearer tokens for the API (also in %s):\n", filepath.Join(dir, "demo-tokens.json"))
			tokens.Print(stdout)
			fmt.Fprintf(stdout, "\nPress Ctrl-C to stop; start again with the same --data-dir to carry on.\n")
		})
	})
	return g.Wait()
}

// withMailbox serves the dev mailbox at /dev/mailbox, beside the pages and
// the API.
func withMailbox(h, mailbox http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /dev/mailbox", mailbox)
	mux.Handle("/", h)
	return mux
}

// devPayloadKeys reads the payload keys kept in <dir>/payload-keys, in the
// format of WMTNA_PAYLOAD_KEYS, and creates the file with a new key on the
// first start.
func devPayloadKeys(dir string) (*codec.Keys, error) {
	path := filepath.Join(dir, "payload-keys")
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		var entry string
		if entry, err = codec.GenerateKey("dev1"); err != nil {
			return nil, err
		}
		b = []byte(entry + "\n")
		err = writeNewFile(path, b)
	}
	if err != nil {
		return nil, fmt.Errorf("payload keys: %w", err)
	}
	keys, err := codec.ParseKeys(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("payload keys in %s: %w", path, err)
	}
	return keys, nil
}

// writeNewFile creates path, readable by its owner only, and fails if it
// exists.
func writeNewFile(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path)
	}
	return err
}

// referralList is the Temporal UI's workflow list with the query that
// shows referrals only, for an operator to open or save as a view.
func referralList(uiAddr string) string {
	q := strings.ReplaceAll(url.QueryEscape(`WorkflowType = "Referral"`), "+", "%20")
	return strings.TrimSuffix(uiAddr, "/") + "/namespaces/default/workflows?query=" + q
}

// uiOrigins are the origins a browser shows the Temporal UI at uiAddr
// under: as given and, for 127.0.0.1, as localhost.
func uiOrigins(uiAddr string) []string {
	u, err := url.Parse(uiAddr)
	if uiAddr == "" || err != nil {
		return nil
	}
	origins := []string{u.Scheme + "://" + u.Host}
	if u.Hostname() == "127.0.0.1" {
		origins = append(origins, u.Scheme+"://"+net.JoinHostPort("localhost", u.Port()))
	}
	return origins
}

// quiet keeps the SDK's routine chatter (worker started, polling) out of
// the developer's terminal.
func quiet(l *slog.Logger) *slog.Logger {
	return slog.New(levelFilter{l.Handler(), slog.LevelWarn})
}

type levelFilter struct {
	slog.Handler
	min slog.Level
}

func (f levelFilter) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= f.min && f.Handler.Enabled(ctx, l)
}

func (f levelFilter) WithAttrs(attrs []slog.Attr) slog.Handler {
	return levelFilter{f.Handler.WithAttrs(attrs), f.min}
}

func (f levelFilter) WithGroup(name string) slog.Handler {
	return levelFilter{f.Handler.WithGroup(name), f.min}
}
