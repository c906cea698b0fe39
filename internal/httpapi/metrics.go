package httpapi

import (
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/wmtna/referrals/internal/metrics"
)

// Metrics counts the API's requests and their latency in a registry of the
// caller's (never Prometheus' global one), by route pattern, method and
// status, and serves that registry at GET /metrics.
type Metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

// NewMetrics registers the request metrics in reg. Set the result as
// Server.Metrics; everything else registered in reg is served with them.
func NewMetrics(reg *prometheus.Registry) *Metrics {
	labels := []string{"route", "method", "status"}
	m := &Metrics{
		reg: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wmtna_http_requests_total",
			Help: "HTTP requests answered by the API, by route pattern, method and status.",
		}, labels),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "wmtna_http_request_duration_seconds",
			Help:    "Time the API took to answer, by route pattern, method and status.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, labels),
	}
	reg.MustRegister(m.requests, m.latency)
	return m
}

// instrument records each request under chi's route pattern
// (/v1/referrals/{id}), never the raw path, which carries IDs. A request
// that matched no route is "unmatched". It runs outside the recoverer, so a
// panic is counted as the 500 it becomes.
func (m *Metrics) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		defer func() {
			route := "unmatched"
			if rc := chi.RouteContext(r.Context()); rc != nil && rc.RoutePattern() != "" {
				route = rc.RoutePattern()
			}
			status := ww.Status()
			if status == 0 {
				status = http.StatusOK
			}
			method := r.Method
			switch method {
			case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions:
			default:
				method = "other" // any string is a method: keep the label set small
			}
			code := strconv.Itoa(status)
			m.requests.WithLabelValues(route, method, code).Inc()
			m.latency.WithLabelValues(route, method, code).Observe(time.Since(start).Seconds())
		}()
		next.ServeHTTP(ww, r)
	})
}

// handler serves the registry, behind token when one is set.
func (m *Metrics) handler(token string, logger *slog.Logger) http.Handler {
	return metrics.Handler(m.reg, token, logger)
}
