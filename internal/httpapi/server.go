// Package httpapi is the JSON API for programs and operators: trainees'
// clients submit and follow referrals, the committee reviews, therapists
// answer offers, operators keep the registers. It is thin: each handler
// reads the request, asks a use case of package pipeline, and writes the
// answer. The web pages (package pages) call the same use cases and are
// served by the same router.
package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"go.temporal.io/sdk/client"

	"github.com/wmtna/referrals/internal/pipeline"
	"github.com/wmtna/referrals/internal/ratelimit"
	"github.com/wmtna/referrals/internal/referral"
)

// Server is the API and the router of the whole site.
type Server struct {
	App *pipeline.Service
	// Limits are per client address, shared with the pages.
	Limits *ratelimit.Limits
	Logger *slog.Logger
	// Metrics, when set, counts every request and serves GET /metrics,
	// public like /healthz unless MetricsToken (WMTNA_METRICS_TOKEN) is set.
	Metrics      *Metrics
	MetricsToken string
	// Pages, when set, serves the web pages on the same router.
	Pages Pages

	handlerOnce sync.Once
	handler     http.Handler
}

// Pages are the web pages: their routes, and the page for a path nobody
// serves.
type Pages interface {
	Routes(r chi.Router)
	NotFound(w http.ResponseWriter, r *http.Request)
}

// Handler returns the site's routes: health checks, metrics, the API built
// from the access table (routes), and the web pages.
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
	// The API describes itself, so a client need not find the source.
	r.Get("/v1/openapi.yaml", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/yaml; charset=utf-8")
		_, _ = w.Write(OpenAPI)
	})
	if s.Metrics != nil {
		r.Method(http.MethodGet, "/metrics", s.Metrics.handler(s.MetricsToken, s.Logger))
	}
	r.Route("/v1", func(r chi.Router) {
		r.Use(s.authenticate)
		for _, rt := range routes {
			r.With(s.allow(rt)).Method(rt.Method, strings.TrimPrefix(rt.Pattern, "/v1"), rt.Handler(s))
		}
	})
	if s.Pages != nil {
		r.Group(s.Pages.Routes)
	}
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		if s.Pages == nil || strings.HasPrefix(r.URL.Path, "/v1/") || !strings.Contains(r.Header.Get("Accept"), "text/html") {
			writeError(w, pipeline.ErrNotFound)
			return
		}
		s.Pages.NotFound(w, r)
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, requestError(http.StatusMethodNotAllowed, "method_not_allowed", "", "this method is not allowed here"))
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
//
// The token is checked before the failure limit is consulted: a wrong one
// takes from its client's budget, and is refused with 429 once that is
// spent, but a right one always gets through, so nobody who shares an
// address with a guesser (behind an NHS egress address, say) is locked out.
// Tokens are 256-bit random, so the limit is against load, not guessing.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Get("Authorization")
		if h == "" {
			next.ServeHTTP(w, r)
			return
		}
		token, _ := strings.CutPrefix(h, "Bearer ")
		if !strings.HasPrefix(h, "Bearer ") {
			token = ""
		}
		p, err := s.App.Authenticate(r.Context(), token)
		if err != nil {
			if pipeline.AsError(err).Outcome == pipeline.Unauthenticated && !s.Limits.AuthFailures().Allow(r) {
				err = pipeline.ErrTooMany
			}
			writeError(w, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
	})
}

// principal is who the request's token says the caller is; the zero
// principal (pipeline.Anonymous) without one.
func principal(r *http.Request) referral.Principal {
	p, _ := r.Context().Value(principalKey{}).(referral.Principal)
	return p
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
				writeError(w, requestError(http.StatusInternalServerError, "internal", "", "something went wrong on our side"))
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
	if err := s.App.DB.Ping(ctx); err != nil {
		checks["postgres"], status = "unavailable", http.StatusServiceUnavailable
	}
	if _, err := s.App.Temporal.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
		checks["temporal"], status = "unavailable", http.StatusServiceUnavailable
	}
	writeJSON(w, status, checks)
}
