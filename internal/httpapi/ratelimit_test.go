//go:build !fuzzing

// Left out of fuzzing builds (-tags fuzzing), which would otherwise
// instrument the whole Temporal server this test starts.

package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wmtna/referrals/internal/codec"
	"github.com/wmtna/referrals/internal/referral"
	"github.com/wmtna/referrals/internal/stacktest"
	"github.com/wmtna/referrals/internal/wiring"
	"github.com/wmtna/referrals/workflows"
)

// Brute force on the public submission endpoint and on tokens is limited
// per client address: past the limit the answer is 429 for submissions and
// for wrong tokens, but a right token always gets through.
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
	// A wrong token never blocks a right one, even from the same address.
	if got := do("GET", "/v1/therapists", stacktest.AdminToken, ""); got != 200 {
		t.Errorf("right token from a limited address: %d, want 200", got)
	}
	if got := do("GET", "/v1/therapists", "guess-z", ""); got != 429 {
		t.Errorf("wrong token after the right one: %d, want 429", got)
	}
	// Health checks are never limited or authenticated.
	if got := do("GET", "/healthz", "", ""); got != 200 {
		t.Errorf("healthz: %d", got)
	}
}

// TestOneClientCannotLockOutOthersBehindAProxy: behind a TLS proxy every
// connection comes from the proxy's address. With the proxy trusted
// (WMTNA_TRUSTED_PROXIES), each client behind it is limited on its own;
// and whatever an attacker sends (wrong bearer tokens, session cookies,
// sign-in links, codec tokens, junk sign-in requests), nobody's right
// credential is refused, the attacker's own address included.
func TestOneClientCannotLockOutOthersBehindAProxy(t *testing.T) {
	s := stacktest.Start(t, workflows.Timings{ReviewReminder: time.Hour, OfferTTL: time.Hour, WaitlistRecheck: time.Hour})
	ctx := context.Background()
	if r := s.Do("POST", "/v1/committee-members", stacktest.AdminToken, map[string]any{"name": "Chair", "email": "chair@example.org", "role": "chair"}); r.Status != 201 {
		t.Fatalf("committee member: %d %s", r.Status, r.Raw)
	}
	cfg := s.Config
	// The test's connections come from loopback: that is the proxy.
	cfg.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	api := wiring.NewAPI(s.DB, s.Client, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	const budget = 3
	api.Limits.AuthFailuresPerMinute = budget // submissions keep the default
	mux := http.NewServeMux()
	// The codec endpoint as `wmtna api` serves it.
	mux.Handle("/codec/", http.StripPrefix("/codec", api.Limits.CountUnauthorized(codec.Handler(s.PayloadKeys, nil, codec.Bearer(func(ctx context.Context, token string) bool {
		p, err := s.DB.Authenticate(ctx, token)
		return err == nil && p.Role == referral.RoleOperator
	})))))
	mux.Handle("/", api.Handler())
	srv := httptest.NewServer(mux)
	defer srv.Close()
	api.App.PublicURL = srv.URL

	const attacker, colleague = "198.51.100.66", "198.51.100.7"
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	type call struct {
		client, method, path, token, cookie, json string
		form                                      url.Values
	}
	do := func(c call) *http.Response {
		t.Helper()
		var body io.Reader
		if c.form != nil {
			body = strings.NewReader(c.form.Encode())
		}
		if c.method == "POST" && c.form == nil && strings.HasPrefix(c.path, "/codec/") {
			c.json = `{"payloads":[]}`
		}
		if c.json != "" {
			body = strings.NewReader(c.json)
		}
		req, err := http.NewRequest(c.method, srv.URL+c.path, body)
		if err != nil {
			t.Fatal(err)
		}
		// What the proxy adds: a client's own spoofed entry comes first.
		req.Header.Set("X-Forwarded-For", "203.0.113.1, "+c.client)
		req.Header.Set("Accept", "text/html")
		if c.form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Sec-Fetch-Site", "same-origin")
		}
		if c.json != "" {
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-Namespace", "default")
		}
		if c.token != "" {
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
		if c.cookie != "" {
			req.Header.Set("Cookie", "wmtna_session="+c.cookie)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	want := func(what string, c call, status int) *http.Response {
		t.Helper()
		r := do(c)
		if r.StatusCode != status {
			t.Errorf("%s: %d, want %d", what, r.StatusCode, status)
		}
		return r
	}

	// The chair asks for a link and gets it, before anything else happens.
	want("sign-in request", call{client: colleague, method: "POST", path: "/sign-in", form: url.Values{"email": {"chair@example.org"}}}, 200)
	wait, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	mail, err := s.LastEmail(wait, "chair@example.org", "sign")
	if err != nil {
		t.Fatal(err)
	}
	link := regexp.MustCompile(`/sign-in/[A-Za-z0-9_-]+`).FindString(mail)

	// A colleague refers themselves; the link to confirm is emailed.
	referral, _ := json.Marshal(map[string]any{
		"name": "Priya Example", "email": "priya@nhs.example", "programme": "clinical", "employer": "RXT",
		"training_start": s.TrainingMonth(), "concerns": "proxy test",
		"preferences": map[string]any{"meeting": "either", "areas": []string{"birmingham"}}, "consent": true,
	})
	want("a colleague's referral", call{client: colleague, method: "POST", path: "/v1/referrals", json: string(referral)}, 202)
	code, err := s.NextConfirmCode("priya@nhs.example")
	if err != nil {
		t.Fatal(err)
	}

	// The attacker spends its whole budget on every kind of wrong
	// credential, and more.
	for i := range budget {
		want("wrong bearer token", call{client: attacker, method: "GET", path: "/v1/therapists", token: "guess-" + string(rune('a'+i))}, 401)
	}
	want("wrong bearer token past the budget", call{client: attacker, method: "GET", path: "/v1/therapists", token: "guess-x"}, 429)
	want("wrong session cookie past the budget", call{client: attacker, method: "GET", path: "/committee", cookie: "stolen-guess"}, 429)
	want("wrong sign-in link past the budget", call{client: attacker, method: "POST", path: "/sign-in/not-a-link", form: url.Values{}}, 429)
	want("wrong codec token past the budget", call{client: attacker, method: "POST", path: "/codec/decode", token: "guess-y"}, 429)
	want("wrong confirmation code past the budget", call{client: attacker, method: "POST", path: "/v1/confirmations", json: `{"code":"guess-w"}`}, 429)
	// Junk sign-in requests: more than the old limit of ten a minute.
	for range 12 {
		want("junk sign-in request", call{client: attacker, method: "POST", path: "/sign-in", form: url.Values{"email": {"chair@example.org"}}}, 200)
	}

	// Everyone else behind the proxy is untouched: a colleague's wrong
	// token is a plain 401, their right one works, their referral goes in.
	want("a colleague's wrong token", call{client: colleague, method: "GET", path: "/v1/therapists", token: "typo"}, 401)
	want("a colleague's right token", call{client: colleague, method: "GET", path: "/v1/therapists", token: stacktest.AdminToken}, 200)
	want("a colleague's sign-in request", call{client: colleague, method: "POST", path: "/sign-in", form: url.Values{"email": {"someone@nhs.example"}}}, 200)

	// And right credentials work even from the attacker's own address
	// (an NHS egress address is shared by everyone behind it).
	want("a right bearer token from the limited address", call{client: attacker, method: "GET", path: "/v1/therapists", token: stacktest.AdminToken}, 200)
	want("an operator's codec token from the limited address", call{client: attacker, method: "POST", path: "/codec/decode", token: stacktest.AdminToken}, 200)
	want("a right confirmation code from the limited address", call{client: attacker, method: "POST", path: "/v1/confirmations", json: `{"code":"` + code + `"}`}, 201)
	r := want("the chair's emailed link from the limited address", call{client: attacker, method: "POST", path: link, form: url.Values{}}, 303)
	var session string
	for _, c := range r.Cookies() {
		if c.Name == "wmtna_session" {
			session = c.Value
		}
	}
	if session == "" {
		t.Fatal("signing in set no session cookie")
	}
	want("a signed-in page from the limited address", call{client: attacker, method: "GET", path: "/committee", cookie: session}, 200)
	want("a signed-in page from elsewhere", call{client: colleague, method: "GET", path: "/committee", cookie: session}, 200)
}
