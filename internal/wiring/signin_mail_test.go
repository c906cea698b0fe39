package wiring_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wmtna/referrals/internal/stacktest"
)

// A sign-in link is stored only as a hash, and the outbox must not undo
// that: once the email carrying a link has gone, its stored body no longer
// holds the link's secret, while the link in the inbox still signs in.
func TestSentSignInLinksAreNotKeptInTheOutbox(t *testing.T) {
	s := stacktest.Start(t, fast)
	committeeMember(t, s) // chair@example.org
	if r := postForm(t, s, "/sign-in", url.Values{"email": {"chair@example.org"}}); r != http.StatusOK {
		t.Fatalf("ask for a link: %d", r)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	email, err := s.LastEmail(ctx, "chair@example.org", "sign-in link")
	if err != nil {
		t.Fatal(err)
	}
	link := regexp.MustCompile(`/sign-in/([A-Za-z0-9_-]+)`).FindStringSubmatch(email)
	if link == nil {
		t.Fatalf("no link in the email:\n%s", email)
	}
	conn, err := pgx.Connect(ctx, s.Config.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	// The delivery records the send just after the SMTP server took it.
	var body string
	for {
		var sent bool
		if err := conn.QueryRow(ctx, `SELECT body, sent_at IS NOT NULL FROM outbox WHERE kind = 'sign-in.committee' ORDER BY id DESC LIMIT 1`).Scan(&body, &sent); err != nil {
			t.Fatal(err)
		}
		if sent {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("the sign-in email was never recorded as sent")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if strings.Contains(body, link[1]) {
		t.Errorf("the outbox still holds the sent link's secret:\n%s", body)
	}
	if !strings.Contains(body, "/sign-in/") {
		t.Errorf("the stored body lost more than the secret:\n%s", body)
	}
	// The emailed link itself still works, once.
	if r := postForm(t, s, link[0], url.Values{}); r != http.StatusSeeOther {
		t.Errorf("the emailed link: %d, want 303", r)
	}
}

// An address that only looks like a known one (a dotted capital I, which a
// UTF-8 collation's lower() folds into "i") is refused on the form, naming
// the field, and no link goes to it or to the address it imitates.
func TestLookAlikeAddressGetsNoSignInLink(t *testing.T) {
	s := stacktest.Start(t, fast)
	committeeMember(t, s) // chair@example.org
	for _, email := range []string{"chaİr@example.org", "chair@examplе.org", "chair@\u212Aexample.org"} {
		req, err := http.NewRequest("POST", s.API.URL+"/sign-in", strings.NewReader(url.Values{"email": {email}}.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(body), "plain letters (a to z)") {
			t.Errorf("sign in as %+q: %d, want 422 saying what is wrong with the address", email, resp.StatusCode)
		}
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, s.Config.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var links int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM outbox WHERE kind LIKE 'sign-in.%'`).Scan(&links); err != nil {
		t.Fatal(err)
	}
	if links != 0 {
		t.Errorf("%d sign-in emails written for look-alike addresses", links)
	}
}
