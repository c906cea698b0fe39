package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/wmtna/referrals/internal/postgres"
	"github.com/wmtna/referrals/internal/referral"
)

// letterTo records what StoreUnconfirmed asked to write, and writes a
// message carrying the link as the pipeline's letters do.
type letterTo struct {
	open, secret string
}

func (l *letterTo) write(open, secret string) (postgres.Message, error) {
	l.open, l.secret = open, secret
	path := "/confirm/"
	kind := "confirm.trainee"
	if open != "" {
		path, kind = "/sign-in/", "sign-in.trainee"
	}
	return postgres.Message{Recipient: "sam@nhs.example", Kind: kind, Subject: "s", Body: "Open https://x.example" + path + secret + " now."}, nil
}

func unconfirmed(s referral.Submission, key string) postgres.Unconfirmed {
	return postgres.Unconfirmed{Submission: s, SubmittedAt: time.Now(), IdempotencyKey: key, Fingerprint: "fp-" + s.Email,
		ConfirmFor: time.Hour, SignInFor: 30 * time.Minute}
}

// TestUnconfirmedReferrals: a submission is a referral only once its link
// is used; the link works once; an address with an open referral gets a
// sign-in link instead and stores nothing; what nobody confirmed is purged
// when its link expires, with the address and body of its email.
func TestUnconfirmedReferrals(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	sub := submission(anyTrainee, "sam@nhs.example")
	count := func(q string, args ...any) int {
		t.Helper()
		var n int
		if err := s.raw.QueryRow(ctx, q, args...).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	var first letterTo
	if replay, err := s.StoreUnconfirmed(ctx, unconfirmed(sub, "k1"), first.write); err != nil || replay || first.open != "" {
		t.Fatalf("store: replay=%v err=%v open=%q", replay, err, first.open)
	}
	if n := count(`SELECT count(*) FROM referrals`); n != 0 {
		t.Fatalf("%d referrals before confirming", n)
	}
	var again letterTo
	if replay, err := s.StoreUnconfirmed(ctx, unconfirmed(sub, "k1"), again.write); err != nil || !replay || again.secret != "" {
		t.Errorf("replay: replay=%v err=%v, wrote a letter: %v", replay, err, again.secret != "")
	}
	other := sub
	other.Concerns = "something else"
	u := unconfirmed(other, "k1")
	u.Fingerprint = "another"
	if _, err := s.StoreUnconfirmed(ctx, u, again.write); !errors.Is(err, referral.ErrConflict) {
		t.Errorf("the key with another request: %v, want ErrConflict", err)
	}

	r, created, err := s.ConfirmReferral(ctx, first.secret)
	if err != nil || !created || r.Status != referral.StatusSubmitted || r.Email != sub.Email || r.Concerns != sub.Concerns {
		t.Fatalf("confirm: %+v created=%v err=%v", r, created, err)
	}
	if again, created, err := s.ConfirmReferral(ctx, first.secret); err != nil || created || again.ID != r.ID {
		t.Errorf("confirm again: %s created=%v err=%v, want the same referral", again.ID, created, err)
	}
	if _, _, err := s.ConfirmReferral(ctx, "no-such-secret"); !errors.Is(err, referral.ErrNotFound) {
		t.Errorf("unknown link: %v, want ErrNotFound", err)
	}
	// What was typed lives in the referral alone now; the email that asked
	// belongs to it, so erasure reaches its address.
	if n := count(`SELECT count(*) FROM unconfirmed_referrals WHERE submission IS NOT NULL`); n != 0 {
		t.Errorf("%d unconfirmed referrals still hold what was typed", n)
	}
	if n := count(`SELECT count(*) FROM outbox WHERE referral_id = $1 AND kind = 'confirm.trainee'`, r.ID); n != 1 {
		t.Errorf("%d confirmation emails tied to the referral, want 1", n)
	}

	// The address has an open referral now: the letter is a sign-in link
	// to it, and nothing is kept to confirm.
	var dup letterTo
	if replay, err := s.StoreUnconfirmed(ctx, unconfirmed(sub, ""), dup.write); err != nil || replay || dup.open != r.ID {
		t.Fatalf("duplicate: replay=%v err=%v open=%q, want a letter about %s", replay, err, dup.open, r.ID)
	}
	if p, err := s.UseSignInLink(ctx, dup.secret); err != nil || p != (referral.Principal{Role: referral.RoleTrainee, Subject: r.ID}) {
		t.Errorf("the duplicate's sign-in link: %+v %v", p, err)
	}
	if n := count(`SELECT count(*) FROM unconfirmed_referrals WHERE hash IS NOT NULL AND referral_id IS NULL`); n != 0 {
		t.Errorf("%d links to confirm kept for an address with an open referral", n)
	}

	// A second submission of a new address, confirmed after a first: the
	// address has an open referral by then.
	late := submission(anyTrainee, "late@nhs.example")
	var a, b letterTo
	for _, l := range []*letterTo{&a, &b} {
		if _, err := s.StoreUnconfirmed(ctx, unconfirmed(late, ""), l.write); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := s.ConfirmReferral(ctx, a.secret); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.ConfirmReferral(ctx, b.secret); !errors.Is(err, referral.ErrDuplicate) {
		t.Errorf("second confirmed while the first is open: %v, want ErrDuplicate", err)
	}

	// Nobody confirms: once the link has expired, the purge deletes what
	// was typed and empties the email that asked.
	var never letterTo
	if _, err := s.StoreUnconfirmed(ctx, unconfirmed(submission(anyTrainee, "never@nhs.example"), ""), never.write); err != nil {
		t.Fatal(err)
	}
	if _, err := s.raw.Exec(ctx, `UPDATE unconfirmed_referrals SET expires_at = now() - interval '1 minute' WHERE hash = sha256($1::bytea)`, []byte(never.secret)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PurgeCredentials(ctx); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.ConfirmReferral(ctx, never.secret); !errors.Is(err, referral.ErrNotFound) {
		t.Errorf("an expired link: %v, want ErrNotFound", err)
	}
	if n := count(`SELECT count(*) FROM outbox WHERE recipient = 'sam@nhs.example' AND body LIKE '%' || $1 || '%'`, never.secret); n != 0 {
		t.Errorf("the email asking to confirm an expired submission still has its address and link")
	}
	if n := count(`SELECT count(*) FROM outbox WHERE recipient = '' AND body = '' AND referral_id IS NULL`); n != 1 {
		t.Errorf("%d emptied emails, want the one that asked to confirm", n)
	}
}

// Once sent, a confirmation email's stored body loses its link's secret,
// as a sign-in email's does.
func TestSentConfirmationLosesItsSecret(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	var l letterTo
	if _, err := s.StoreUnconfirmed(ctx, unconfirmed(submission(anyTrainee, "sam@nhs.example"), ""), l.write); err != nil {
		t.Fatal(err)
	}
	var id int64
	if err := s.raw.QueryRow(ctx, `SELECT id FROM outbox WHERE kind = 'confirm.trainee'`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkSent(ctx, id, false); err != nil {
		t.Fatal(err)
	}
	d, err := s.Delivery(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(d.Body, l.secret) || !strings.Contains(d.Body, "/confirm/(sent)") {
		t.Errorf("sent body %q keeps the secret", d.Body)
	}
}

// Past its cap an address is sent nothing more, and the submission is
// answered as any other: the form cannot flood a person's inbox.
func TestSubmissionEmailsPerAddressAreCapped(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	for i := range 5 {
		u := unconfirmed(submission(anyTrainee, "Flooded@nhs.example"), "")
		u.PerHour = 3
		u.Fingerprint = fmt.Sprint("fp", i)
		var l letterTo
		if replay, err := s.StoreUnconfirmed(ctx, u, l.write); err != nil || replay {
			t.Fatalf("submission %d: replay=%v err=%v", i, replay, err)
		}
		if wrote := l.secret != ""; wrote != (i < 3) {
			t.Errorf("submission %d wrote an email: %v, want %v", i, wrote, i < 3)
		}
	}
	// Another address is not held back by this one's cap.
	u := unconfirmed(submission(anyTrainee, "other@nhs.example"), "")
	u.PerHour = 3
	var l letterTo
	if _, err := s.StoreUnconfirmed(ctx, u, l.write); err != nil || l.secret == "" {
		t.Errorf("another address: %v, wrote %v", err, l.secret != "")
	}
}
