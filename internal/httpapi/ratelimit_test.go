//go:build !fuzzing

// Left out of fuzzing builds (-tags fuzzing), which would otherwise
// instrument the whole Temporal server this test starts.

package httpapi_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/wmtna/referrals/internal/stacktest"
	"github.com/wmtna/referrals/internal/wiring"
	"github.com/wmtna/referrals/workflows"
)

// Brute force on the public submission endpoint and on tokens is limited
// per client address: past the limit the answer is 429, whatever is sent.
func TestRateLimits(t *testing.T) {
	s := stacktest.Start(t, workflows.Timings{ReviewReminder: time.Hour, OfferTTL: time.Hour, WaitlistRecheck: time.Hour})
	api := wiring.NewAPI(s.DB, s.Client, s.Config, slog.New(slog.NewTextHandler(io.Discard, nil)))
	api.Limits.SubmitsPerMinute, api.Limits.AuthFailuresPerMinute = 3, 3
	srv := httptest.NewServer(api.Handler())
	defer srv.Close()
	do := func(method, path, token, body string) int {
		var payload any
		if body != "" {
			payload = body
		}
		r, err := stacktest.Call(http.DefaultClient, srv.URL, method, path, token, payload)
		if err != nil {
			t.Fatal(err)
		}
		return r.Status
	}
	for i, want := range []int{400, 400, 400, 429, 429} {
		if got := do("POST", "/v1/referrals", "", "{"); got != want {
			t.Errorf("submission %d: %d, want %d", i+1, got, want)
		}
	}
	for i, want := range []int{401, 401, 401, 429} {
		if got := do("GET", "/v1/therapists", "guess-"+string(rune('a'+i)), ""); got != want {
			t.Errorf("wrong token %d: %d, want %d", i+1, got, want)
		}
	}
	// Once limited, even a right token waits: the limit is on the address.
	if got := do("GET", "/v1/therapists", stacktest.AdminToken, ""); got != 429 {
		t.Errorf("right token from a limited address: %d, want 429", got)
	}
	// Health checks are never limited or authenticated.
	if got := do("GET", "/healthz", "", ""); got != 200 {
		t.Errorf("healthz: %d", got)
	}
}
