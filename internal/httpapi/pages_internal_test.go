package httpapi

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/wmtna/referrals/internal/referral"
)

func TestNextFor(t *testing.T) {
	trainee := referral.Principal{Role: referral.RoleTrainee, Subject: "r1"}
	committee := referral.Principal{Role: referral.RoleCommittee, Subject: "c1"}
	for _, tc := range []struct {
		p          referral.Principal
		next, want string
	}{
		{trainee, "", "/my-referral"},
		{trainee, "/my-referral/check-in", "/my-referral/check-in"},
		{trainee, "/committee", "/my-referral"}, // not their area
		{trainee, "/my-referralx", "/my-referral"},
		{trainee, "//evil.example/my-referral", "/my-referral"},
		{trainee, "https://evil.example/my-referral", "/my-referral"},
		{committee, "/committee/referrals/00000000-0000-4000-8000-000000000000", "/committee/referrals/00000000-0000-4000-8000-000000000000"},
		{committee, "/committee//evil.example", "/committee"},
		{committee, `/committee/\evil`, "/committee"},
	} {
		if got := nextFor(tc.p, cleanNext(tc.next)); got != tc.want {
			t.Errorf("nextFor(%s, %q) = %q, want %q", tc.p.Role, tc.next, got, tc.want)
		}
	}
}

func TestCSRFTokenIsPerSession(t *testing.T) {
	a, b := csrfToken("session-a"), csrfToken("session-b")
	if a == b || a != csrfToken("session-a") || len(a) < 40 {
		t.Errorf("csrf tokens %q and %q", a, b)
	}
}

func TestHumanDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{30 * time.Minute: "30 minutes", 7 * 24 * time.Hour: "7 days", 5 * time.Hour: "5 hours"} {
		if got := humanDuration(d); got != want {
			t.Errorf("humanDuration(%s) = %q, want %q", d, got, want)
		}
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
			s := &Server{PublicURL: tc.publicURL}
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
