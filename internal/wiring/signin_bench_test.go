package wiring_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wmtna/referrals/internal/stacktest"
)

// BenchmarkSignInRequest times the answer to a sign-in request for an
// address with an account (a trainee's, a committee member's) and for one
// without: the answers must not tell them apart, in time as in words.
//
//	go test ./internal/wiring/ -run '^$' -bench SignInRequest -benchtime 200x -count 5
func BenchmarkSignInRequest(b *testing.B) {
	s := stacktest.Start(b, fast)
	s.Do("POST", "/v1/committee-members", admin, map[string]any{"name": "Chair", "email": "chair@example.org", "role": "chair"})
	s.MustRefer(submission(s, "known@nhs.example"))
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	ask := func(b *testing.B, email string) {
		req, _ := http.NewRequest("POST", s.API.URL+"/sign-in", strings.NewReader(url.Values{"email": {email}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		resp, err := hc.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("sign-in request: %d", resp.StatusCode)
		}
	}
	for _, tc := range []struct{ name, email string }{
		{"unknown", "nobody@nhs.example"},
		{"trainee", "known@nhs.example"},
		{"committee", "chair@example.org"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				ask(b, tc.email)
			}
		})
	}
	// Interleaved, as someone timing pairs would: the median of each kind,
	// taken under the same load.
	b.Run("interleaved", func(b *testing.B) {
		kinds := []string{"nobody@nhs.example", "known@nhs.example", "chair@example.org"}
		took := make([][]time.Duration, len(kinds))
		for i := 0; b.Loop(); i++ {
			k := i % len(kinds)
			start := time.Now()
			ask(b, kinds[k])
			took[k] = append(took[k], time.Since(start))
		}
		for k, name := range []string{"unknown", "trainee", "committee"} {
			if len(took[k]) == 0 {
				continue
			}
			slices.Sort(took[k])
			b.ReportMetric(float64(took[k][len(took[k])/2].Microseconds()), "µs-median-"+name)
		}
	})
}
