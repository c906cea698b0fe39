package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/wmtna/referrals/internal/postgres"
	"github.com/wmtna/referrals/internal/referral"
)

func TestSignInLinksWorkOnce(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	p := referral.Principal{Role: referral.RoleCommittee, Subject: postgres.NewID()}
	var secret string
	err := s.CreateSignInLink(ctx, p, time.Hour, "", func(sec string) (postgres.Message, error) {
		secret = sec
		return postgres.Message{Key: "sign-in/test", Recipient: "chair@example.org", Kind: "sign-in.committee", Subject: "link", Body: "…/sign-in/" + sec}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.UseSignInLink(ctx, secret)
	if err != nil || got != p {
		t.Fatalf("UseSignInLink = %+v, %v; want %+v", got, err, p)
	}
	if _, err := s.UseSignInLink(ctx, secret); !errors.Is(err, referral.ErrNotFound) {
		t.Errorf("second use: %v, want ErrNotFound", err)
	}
	var stored int
	if err := s.raw.QueryRow(ctx, `SELECT count(*) FROM sign_in_links WHERE hash = sha256($1::bytea)`, []byte(secret)).Scan(&stored); err != nil || stored != 1 {
		t.Errorf("the link is not stored by its hash alone: %d %v", stored, err)
	}
}

// TestPurgeCredentials deletes what can no longer be used, a day after it
// stopped working, and nothing else.
func TestPurgeCredentials(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	at := func(d time.Duration) *time.Time { x := time.Now().Add(d); return &x }
	issue := func(expires *time.Time) string {
		tok, err := s.IssueToken(ctx, referral.RoleTherapist, postgres.NewID(), expires)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	live, forever := issue(at(time.Hour)), issue(nil)
	recentlyExpired := issue(at(-time.Hour))
	issue(at(-48 * time.Hour)) // long expired
	revoked := issue(nil)
	if _, err := s.raw.Exec(ctx, `UPDATE tokens SET revoked_at = now() - interval '2 days' WHERE hash = sha256($1::bytea)`, []byte(revoked)); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`INSERT INTO sign_in_links (hash, role, subject, expires_at) VALUES ('\x01', 'trainee', 'r', now() + interval '1 hour')`,
		`INSERT INTO sign_in_links (hash, role, subject, expires_at) VALUES ('\x02', 'trainee', 'r', now() - interval '2 days')`,
		`INSERT INTO sign_in_links (hash, role, subject, expires_at, used_at) VALUES ('\x03', 'trainee', 'r', now() + interval '1 hour', now() - interval '2 days')`,
	} {
		if _, err := s.raw.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.PurgeCredentials(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n != 4 {
		t.Errorf("purged %d, want 4 (a long-expired and a long-revoked token, an expired and a spent link)", n)
	}
	for _, tok := range []string{live, forever} {
		if _, err := s.Authenticate(ctx, tok); err != nil {
			t.Errorf("a live token was purged: %v", err)
		}
	}
	var left int
	if err := s.raw.QueryRow(ctx, `SELECT count(*) FROM tokens WHERE hash = sha256($1::bytea)`, []byte(recentlyExpired)).Scan(&left); err != nil || left != 1 {
		t.Errorf("a token expired an hour ago was purged (%d, %v): it is kept for a day", left, err)
	}
	if err := s.raw.QueryRow(ctx, `SELECT count(*) FROM sign_in_links`).Scan(&left); err != nil || left != 1 {
		t.Errorf("%d sign-in links left, want the live one (%v)", left, err)
	}
}

// A sign-in request is answered once, atomically with its links; one whose
// answer fails stays (nothing half made) and is put off, so that it holds
// up no other request.
func TestSignInRequestsAreAnsweredOnce(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	for _, email := range []string{"first@example.org", "second@example.org"} {
		if err := s.RecordSignInRequest(ctx, email, ""); err != nil {
			t.Fatal(err)
		}
	}
	p := referral.Principal{Role: referral.RoleCommittee, Subject: postgres.NewID()}
	link := func(req postgres.SignInRequest) postgres.SignInLink {
		return postgres.SignInLink{For: p, TTL: time.Hour, Message: func(sec string) (postgres.Message, error) {
			return postgres.Message{Key: "sign-in/" + sec[:8], Recipient: req.Email, Kind: "sign-in.committee", Subject: "link", Body: "…"}, nil
		}}
	}
	failed := errors.New("the answer failed")
	found, err := s.AnswerSignInRequest(ctx, func(_ context.Context, req postgres.SignInRequest) ([]postgres.SignInLink, error) {
		if req.Email != "first@example.org" {
			t.Errorf("answered %s first", req.Email)
		}
		return []postgres.SignInLink{link(req)}, failed
	})
	if !found || !errors.Is(err, failed) {
		t.Fatalf("failing answer: found %v, err %v", found, err)
	}
	var answered []string
	for {
		found, err := s.AnswerSignInRequest(ctx, func(_ context.Context, req postgres.SignInRequest) ([]postgres.SignInLink, error) {
			answered = append(answered, req.Email)
			return []postgres.SignInLink{link(req)}, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if !found {
			break
		}
	}
	if len(answered) != 1 || answered[0] != "second@example.org" {
		t.Errorf("after a failure, answered %v; want the second request only, the first put off", answered)
	}
	var links, mails, left int
	if err := s.raw.QueryRow(ctx, `SELECT (SELECT count(*) FROM sign_in_links), (SELECT count(*) FROM outbox), (SELECT count(*) FROM sign_in_requests WHERE email = 'first@example.org' AND attempts = 1)`).
		Scan(&links, &mails, &left); err != nil {
		t.Fatal(err)
	}
	if links != 1 || mails != 1 || left != 1 {
		t.Errorf("%d links, %d emails, %d put-off requests; want one each (the failed answer leaves nothing)", links, mails, left)
	}
	if n, err := s.RecentSignInLinks(ctx, p, time.Hour); err != nil || n != 1 {
		t.Errorf("RecentSignInLinks = %d, %v; want 1", n, err)
	}
}
