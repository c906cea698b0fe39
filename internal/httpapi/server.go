// Package httpapi is the JSON API people use to drive referrals: trainees
// submit and follow them, the committee reviews, therapists answer offers,
// operators keep the registers. Human decisions reach a referral's workflow
// as Temporal updates, so the caller learns the real outcome.
package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"go.temporal.io/sdk/client"

	"github.com/wmtna/referrals/internal/announce"
	"github.com/wmtna/referrals/internal/postgres"
	"github.com/wmtna/referrals/internal/referral"
	"github.com/wmtna/referrals/workflows"
)

// Server holds what the handlers need.
type Server struct {
	DB             *postgres.DB
	Temporal       client.Client
	Announcer      *announce.Announcer
	Timings        workflows.Timings
	TraineeLinkTTL time.Duration
	Logger         *slog.Logger
	// SubmitsPerMinute and AuthFailuresPerMinute limit each client address
	// on the public submission endpoint and on wrong tokens; 0 means the
	// defaults (10 and 20).
	SubmitsPerMinute      int
	AuthFailuresPerMinute int
	// Metrics, when set, counts every request and serves GET /metrics,
	// public like /healthz unless MetricsToken (WMTNA_METRICS_TOKEN) is set.
	Metrics      *Metrics
	MetricsToken string
	// Postman, when set, starts delivery of messages the API writes to the
	// outbox itself (sign-in links); the worker's sweep is the backstop.
	Postman Postman
	// PublicURL is where people reach the service: the base of the links
	// in sign-in emails.
	PublicURL string
	// Clock is the service's calendar (config.Config.Clock): it checks and
	// stamps submissions and sets a report's default period. Nil means
	// time.Now.
	Clock func() time.Time

	handlerOnce sync.Once
	handler     http.Handler

	limitsOnce             sync.Once
	submitLimit, authLimit *perClient
}

func (s *Server) now() time.Time {
	if s.Clock != nil {
		return s.Clock()
	}
	return time.Now()
}

// Postman starts the delivery of outbox messages not yet on their way.
type Postman interface {
	Dispatch(ctx context.Context) error
}

// Handler returns the API's routes, built from the access table (routes),
// and the web pages. It is built once: the pages call the API through it.
func (s *Server) Handler() http.Handler {
	s.handlerOnce.Do(func() { s.handler = s.routes() })
	return s.handler
}

func (s *Server) routes() http.Handler {
	r := chi.NewRouter()
	if s.Metrics != nil {
		r.Use(s.Metrics.instrument)
	}
	r.Use(s.recoverer, securityHeaders)
	r.Get("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	r.Get("/readyz", s.ready)
	if s.Metrics != nil {
		r.Method(http.MethodGet, "/metrics", s.Metrics.handler(s.MetricsToken, s.Logger))
	}
	r.Route("/v1", func(r chi.Router) {
		r.Use(s.authenticate)
		for _, rt := range routes {
			r.With(s.audited(rt), allow(rt)).Method(rt.Method, strings.TrimPrefix(rt.Pattern, "/v1"), rt.Handler(s))
		}
	})
	r.Group(s.pageRoutes)
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v1/") || !strings.Contains(r.Header.Get("Accept"), "text/html") {
			writeError(w, errNotFound)
			return
		}
		pageHeaders(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.pageError(w, r, errNotFound) })).ServeHTTP(w, r)
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, &apiError{Status: http.StatusMethodNotAllowed, Code: "method_not_allowed", Message: "this method is not allowed here"})
	})
	return r
}

// NewHTTPServer wraps the handler with timeouts, so a slow client cannot
// hold connections open.
func NewHTTPServer(addr string, h http.Handler) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
}

type principalKey struct{}

// authenticate resolves a bearer token, when one is sent, to a principal.
// Routes that need one refuse the request in allow.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Get("Authorization")
		if h == "" {
			next.ServeHTTP(w, r)
			return
		}
		_, failures := s.limits()
		if failures.exhausted(r) {
			writeError(w, errTooMany)
			return
		}
		token, ok := strings.CutPrefix(h, "Bearer ")
		if !ok || token == "" || len(token) > 200 {
			failures.allow(r)
			writeError(w, errUnauthenticated)
			return
		}
		p, err := s.DB.Authenticate(r.Context(), token)
		if errors.Is(err, referral.ErrNotFound) {
			failures.allow(r)
			writeError(w, errUnauthenticated)
			return
		}
		if err != nil {
			s.Logger.ErrorContext(r.Context(), "authenticate", "err", err)
			writeError(w, errUnavailable)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
	})
}

func principal(r *http.Request) (referral.Principal, bool) {
	p, ok := r.Context().Value(principalKey{}).(referral.Principal)
	return p, ok
}

func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "no-store")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		next.ServeHTTP(w, r)
	})
}

// recoverer turns a panic into a plain 500: the stack goes to the log, never
// to the client.
func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.Logger.ErrorContext(r.Context(), "panic in handler", "route", r.URL.Path, "panic", v, "stack", string(debug.Stack()))
				writeError(w, &apiError{Status: http.StatusInternalServerError, Code: "internal", Message: "something went wrong on our side"})
			}
		}()
		next.ServeHTTP(w, r)
	})
}

func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	checks := map[string]string{"postgres": "ok", "temporal": "ok"}
	status := http.StatusOK
	if err := s.DB.Ping(ctx); err != nil {
		checks["postgres"], status = "unavailable", http.StatusServiceUnavailable
	}
	if _, err := s.Temporal.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
		checks["temporal"], status = "unavailable", http.StatusServiceUnavailable
	}
	writeJSON(w, status, checks)
}

// storeError maps a store error to a response, logging what is unexpected.
func (s *Server) storeError(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, referral.ErrNotFound):
		writeError(w, errNotFound)
	case errors.Is(err, context.Canceled):
		writeError(w, &apiError{Status: 499, Code: "cancelled", Message: "request cancelled"})
	default:
		s.Logger.ErrorContext(r.Context(), "request failed", "route", chi.RouteContext(r.Context()).RoutePattern(), "err", err)
		writeError(w, errUnavailable)
	}
}
