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
}

// Handler returns the API's routes. Each route names the roles that may
// call it; handlers then check ownership of the referral or offer.
func (s *Server) Handler() http.Handler {
	r := chi.NewRouter()
	r.Use(s.recoverer, securityHeaders)
	r.Get("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	r.Get("/readyz", s.ready)
	r.Route("/v1", func(r chi.Router) {
		r.Use(s.authenticate)
		r.Post("/referrals", s.submit)
		r.With(allow(referral.RoleTrainee, referral.RoleCommittee, referral.RoleOperator, referral.RoleTherapist)).Get("/referrals/{id}", s.getReferral)
		r.With(allow(referral.RoleCommittee, referral.RoleOperator)).Get("/referrals", s.listReferrals)
		r.With(allow(referral.RoleCommittee)).Post("/referrals/{id}/review", s.review)
		r.With(allow(referral.RoleTrainee)).Post("/referrals/{id}/withdraw", s.withdraw)
		r.With(allow(referral.RoleTherapist)).Post("/referrals/{id}/end", s.endTherapy)
		r.With(allow(referral.RoleTherapist)).Get("/offers", s.listOffers)
		r.With(allow(referral.RoleTherapist)).Post("/offers/{id}/accept", s.answerOffer(workflows.UpdateAcceptOffer))
		r.With(allow(referral.RoleTherapist)).Post("/offers/{id}/decline", s.answerOffer(workflows.UpdateDeclineOffer))
		r.With(allow(referral.RoleOperator)).Post("/therapists", s.createTherapist)
		r.With(allow(referral.RoleOperator)).Patch("/therapists/{id}", s.updateTherapist)
		r.With(allow(referral.RoleOperator, referral.RoleCommittee)).Get("/therapists", s.listTherapists)
		r.With(allow(referral.RoleOperator)).Post("/committee-members", s.createCommitteeMember)
		r.With(allow(referral.RoleOperator)).Get("/organisations", s.listOrganisations)
		r.With(allow(referral.RoleOperator)).Post("/organisations", s.upsertOrganisation)
	})
	r.NotFound(func(w http.ResponseWriter, _ *http.Request) { writeError(w, errNotFound) })
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
		token, ok := strings.CutPrefix(h, "Bearer ")
		if !ok || token == "" {
			writeError(w, errUnauthenticated)
			return
		}
		p, err := s.DB.Authenticate(r.Context(), token)
		if errors.Is(err, referral.ErrNotFound) {
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

func allow(roles ...referral.Role) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p, ok := principal(r)
			if !ok {
				writeError(w, errUnauthenticated)
				return
			}
			for _, role := range roles {
				if p.Role == role {
					next.ServeHTTP(w, r)
					return
				}
			}
			writeError(w, errForbidden)
		})
	}
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
