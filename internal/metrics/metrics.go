// Package metrics holds what the processes report to Prometheus besides the
// API's request metrics (package httpapi): the Temporal SDK's metrics, the
// pipeline's figures read from PostgreSQL at scrape time, and the /metrics
// handler. Every process has its own registry (never Prometheus' global
// one), so tests can run side by side.
package metrics

import (
	"crypto/sha256"
	"crypto/subtle"
	"log/slog"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// NewRegistry returns a registry with the Go runtime and process metrics.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Handler serves g in the Prometheus exposition format. With a token
// (WMTNA_METRICS_TOKEN), a scrape must send it as a bearer token; without,
// the endpoint is public like /healthz. A collector that fails (PostgreSQL
// unreachable) is logged and left out, and the rest is still served.
func Handler(g prometheus.Gatherer, token string, logger *slog.Logger) http.Handler {
	h := promhttp.HandlerFor(g, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(logger.Handler(), slog.LevelError),
		ErrorHandling: promhttp.ContinueOnError,
	})
	if token == "" {
		return h
	}
	want := sha256.Sum256([]byte(token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		sum := sha256.Sum256([]byte(got))
		if !ok || subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="metrics"`)
			http.Error(w, "a bearer token is needed for /metrics", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}
