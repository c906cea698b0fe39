package pages

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/wmtna/referrals/internal/pipeline"
	"github.com/wmtna/referrals/internal/referral"
)

func TestCSRFTokenIsPerSession(t *testing.T) {
	a, b := csrfToken("session-a"), csrfToken("session-b")
	if a == b || a != csrfToken("session-a") || len(a) < 40 {
		t.Errorf("csrf tokens %q and %q", a, b)
	}
}

// TestEveryStatusHasPlainWords makes sure a new status cannot reach a
// trainee's page without an explanation.
func TestEveryStatusHasPlainWords(t *testing.T) {
	for _, s := range referral.Statuses {
		if st, ok := statusText[s]; !ok || st.Headline == "" || st.Next == "" {
			t.Errorf("status %s has no plain-English text for the trainee's page", s)
		}
	}
}

func TestSessionCookieIsSecureOverTLS(t *testing.T) {
	for _, tc := range []struct {
		name      string
		tls       bool
		publicURL string
		secure    bool
	}{
		{"plain http", false, "http://127.0.0.1:8080", false},
		{"TLS to the server", true, "http://127.0.0.1:8080", true},
		{"TLS at a proxy in front", false, "https://referrals.wmtna.example", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &Site{App: &pipeline.Service{PublicURL: tc.publicURL}}
			r := httptest.NewRequest("POST", "/sign-in/x", nil)
			if tc.tls {
				r.TLS = &tls.ConnectionState{}
			}
			w := httptest.NewRecorder()
			s.setSessionCookie(w, r, "token", 60)
			c := w.Result().Cookies()[0]
			if c.Secure != tc.secure || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode {
				t.Errorf("cookie Secure=%v HttpOnly=%v SameSite=%v", c.Secure, c.HttpOnly, c.SameSite)
			}
		})
	}
}

// The committee's list says how long ago a referral came in; "just now"
// must not become "just now ago".
func TestAgo(t *testing.T) {
	for _, tc := range []struct {
		before time.Duration
		want   string
	}{
		{30 * time.Second, "just now"},
		{5 * time.Minute, "5 minutes ago"},
		{3 * time.Hour, "3 hours ago"},
		{3 * 24 * time.Hour, "3 days ago"},
		{21 * 24 * time.Hour, "3 weeks ago"},
	} {
		if got := ago(time.Now().Add(-tc.before)); got != tc.want {
			t.Errorf("ago(%s before now) = %q, want %q", tc.before, got, tc.want)
		}
	}
}

func TestQuartersText(t *testing.T) {
	for q, want := range map[referral.Quarters]string{
		{From: "2026-Q1", To: "2026-Q1"}: "January to March 2026",
		{From: "2026-Q1", To: "2026-Q4"}: "January to December 2026",
		{From: "2025-Q4", To: "2026-Q1"}: "October 2025 to March 2026",
		{From: "2026-Q5", To: "2026-Q1"}: "2026-Q5 to 2026-Q1",
	} {
		if got := quartersText(q); got != want {
			t.Errorf("quartersText(%v) = %q, want %q", q, got, want)
		}
	}
}
