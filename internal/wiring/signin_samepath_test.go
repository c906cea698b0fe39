package wiring_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wmtna/referrals/internal/pipeline"
	"github.com/wmtna/referrals/internal/postgres"
	"github.com/wmtna/referrals/internal/stacktest"
	"github.com/wmtna/referrals/internal/wiring"
)

// statements records the SQL run on behalf of a request, by the tag its
// context carries; statements of untagged contexts (work detached from any
// request) are not the request's.
type statements struct {
	mu  sync.Mutex
	run map[string][]string
}

type tagKey struct{}

var spaces = regexp.MustCompile(`\s+`)

func (s *statements) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	if tag, ok := ctx.Value(tagKey{}).(string); ok {
		s.mu.Lock()
		s.run[tag] = append(s.run[tag], strings.TrimSpace(spaces.ReplaceAllString(data.SQL, " ")))
		s.mu.Unlock()
	}
	return ctx
}

func (s *statements) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// A sign-in request for an address with an account took eight times as
// long as one without (it looked the accounts up, made links and wrote
// emails before answering), which told anyone timing it who is a trainee
// or on the staff. The request must run the same statements whatever the
// address, none of them touching accounts, links or email; the links come
// afterwards, and still arrive.
func TestSignInRequestTakesTheSamePathForAnyAddress(t *testing.T) {
	s := stacktest.Start(t, fast)
	committeeMember(t, s) // chair@example.org
	addTherapist(t, s, 1, 1)
	s.MustRefer(submission(s, "known.trainee@nhs.example"))
	rec := &statements{run: map[string][]string{}}
	ctx := context.Background()
	db, err := postgres.Open(ctx, s.Config.DatabaseURL, postgres.WithTracer(rec))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	api := wiring.NewAPI(db, s.Client, s.Config, slog.New(slog.NewTextHandler(io.Discard, nil)))
	api.App.PublicURL = s.API.URL
	h := api.Handler()

	addresses := []string{"nobody@nhs.example", "known.trainee@nhs.example", "chair@example.org", "t1@example.org"}
	bodies := map[string]string{}
	for _, email := range addresses {
		req := httptest.NewRequest("POST", "/sign-in", strings.NewReader(url.Values{"email": {email}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req.WithContext(context.WithValue(req.Context(), tagKey{}, email)))
		if w.Code != http.StatusOK {
			t.Fatalf("%s: %d\n%s", email, w.Code, w.Body)
		}
		bodies[email] = w.Body.String()
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	unknown := rec.run[addresses[0]]
	if len(unknown) == 0 {
		t.Fatal("no statements recorded for the unknown address: the tracer saw nothing")
	}
	for _, email := range addresses[1:] {
		if got := strings.Join(rec.run[email], "\n"); got != strings.Join(unknown, "\n") {
			t.Errorf("a request for %s runs other statements than one for an unknown address:\n%s\n--- unknown:\n%s", email, got, strings.Join(unknown, "\n"))
		}
		if bodies[email] != bodies[addresses[0]] {
			t.Errorf("a request for %s is answered differently", email)
		}
	}
	for _, q := range unknown {
		for _, table := range []string{"committee_members", "therapists", "referrals", "sign_in_links", "outbox"} {
			if strings.Contains(q, table) {
				t.Errorf("the request itself reads or writes %s: %s", table, q)
			}
		}
	}

	// Answered after the response: each account's link arrives.
	wait, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for _, email := range addresses[1:] {
		if _, err := s.LastEmail(wait, email, "sign"); err != nil {
			t.Errorf("no sign-in email to %s: %v\n%s", email, err, s.Logs.String())
		}
	}
}

// A recorded request outlives the process that recorded it: if it dies
// before answering, the next process's sweep answers.
func TestSignInRequestSurvivesTheProcess(t *testing.T) {
	s := stacktest.Start(t, fast)
	committeeMember(t, s)
	ctx := context.Background()
	// What RequestSignIn stores before it answers; the process "dies"
	// before its answering goroutine runs.
	if err := s.DB.RecordSignInRequest(ctx, "chair@example.org", ""); err != nil {
		t.Fatal(err)
	}
	next := wiring.NewAPI(s.DB, s.Client, s.Config, slog.New(slog.NewTextHandler(io.Discard, nil)))
	next.App.PublicURL = s.API.URL
	sweep, stop := context.WithCancel(ctx)
	defer stop()
	go next.App.AnswerSignInRequests(sweep, time.Hour)
	wait, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := s.LastEmail(wait, "chair@example.org", "sign"); err != nil {
		t.Fatalf("the recorded request was never answered: %v", err)
	}
}

// Anyone may ask for a person's sign-in link, from any address, so the
// limit that keeps a person from being mailed over and over is on the
// account: one link per pipeline.SignInLinkGap, further requests answered
// the same and sending nothing.
func TestSignInEmailsPerAccountAreLimited(t *testing.T) {
	s := stacktest.Start(t, fast)
	committeeMember(t, s) // chair@example.org
	ctx := context.Background()
	const asked = 8
	for i := range asked {
		if r := postForm(t, s, "/sign-in", url.Values{"email": {"chair@example.org"}}); r != http.StatusOK {
			t.Fatalf("request %d: %d", i+1, r)
		}
	}
	conn, err := pgx.Connect(ctx, s.Config.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	deadline := time.Now().Add(30 * time.Second)
	for {
		var waiting, links int
		if err := conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM sign_in_requests), (SELECT count(*) FROM sign_in_links WHERE role = 'committee')`).Scan(&waiting, &links); err != nil {
			t.Fatal(err)
		}
		if waiting == 0 {
			if links != 1 {
				t.Errorf("%d requests within %v made %d links, want 1", asked, pipeline.SignInLinkGap, links)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d sign-in requests never answered", waiting)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func postForm(t *testing.T, s *stacktest.Stack, path string, form url.Values) int {
	t.Helper()
	req, err := http.NewRequest("POST", s.API.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
