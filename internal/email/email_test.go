package email_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/wmtna/referrals/internal/devmail"
	"github.com/wmtna/referrals/internal/email"
)

func box(t *testing.T) *devmail.Box {
	t.Helper()
	b, err := devmail.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func sender(t *testing.T, b *devmail.Box) *email.Sender {
	t.Helper()
	s, err := email.New(b.URL(), "WMTNA <no-reply@wmtna.example>", "https://referrals.wmtna.example")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func waitFor(t *testing.T, b *devmail.Box, n int) []devmail.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	msgs, err := b.Wait(ctx, func(m []devmail.Message) bool { return len(m) >= n })
	if err != nil {
		t.Fatalf("got %d messages, want %d: %v", len(msgs), n, err)
	}
	return msgs
}

func ok(context.Context) error { return nil }

func TestSendDeliversOneMessage(t *testing.T) {
	b := box(t)
	body := "Dear Sam,\n\nYour referral: https://referrals.wmtna.example/my-referral\n\nA line long enough to be wrapped by quoted-printable encoding, with an ampersand & and an £ sign."
	calls := 0
	err := sender(t, b).Send(context.Background(), email.Message{ID: 42, To: "sam@nhs.example", Subject: "We have received your referral", Body: body},
		func(context.Context) error { calls++; return nil })
	if err != nil {
		t.Fatal(err)
	}
	if calls != 1 {
		t.Errorf("pointOfNoReturn called %d times, want 1", calls)
	}
	m := waitFor(t, b, 1)[0]
	if m.From != "no-reply@wmtna.example" || len(m.To) != 1 || m.To[0] != "sam@nhs.example" {
		t.Errorf("envelope from %q to %v", m.From, m.To)
	}
	if m.Subject != "We have received your referral" || strings.TrimSpace(m.Body) != body {
		t.Errorf("got subject %q body %q", m.Subject, m.Body)
	}
	if m.MessageID != "<outbox-42@referrals.wmtna.example>" {
		t.Errorf("Message-ID %q: want one made from the outbox row", m.MessageID)
	}
}

// TestSendTextAndHTML: a message with an HTML part goes as
// multipart/alternative, the text first and the HTML, preferred, last; one
// without goes as plain text, as before.
func TestSendTextAndHTML(t *testing.T) {
	b := box(t)
	s := sender(t, b)
	text := "Dear Sam,\n\nYour referral: https://referrals.wmtna.example/my-referral"
	html := "<!DOCTYPE html>\n<html lang=\"en-GB\">\n<body>\n<p>Dear Sam,</p>\n<p><a href=\"https://referrals.wmtna.example/my-referral\">Your referral</a></p>\n</body>\n</html>\n"
	for i, m := range []email.Message{
		{ID: 1, To: "sam@nhs.example", Subject: "both", Body: text, HTML: html},
		{ID: 2, To: "sam@nhs.example", Subject: "text", Body: text},
	} {
		if err := s.Send(context.Background(), m, ok); err != nil {
			t.Fatal(err)
		}
		got := waitFor(t, b, i+1)[i]
		want := map[bool]string{true: "multipart/alternative", false: "text/plain"}[m.HTML != ""]
		if got.ContentType != want || strings.TrimSpace(got.Body) != text || got.HTML != m.HTML {
			t.Errorf("%s: sent as %s (want %s), text %q, HTML %q", m.Subject, got.ContentType, want, got.Body, got.HTML)
		}
	}
}

// TestNoDotNoMessage: when recording the point of no return fails, the
// server never gets the final dot and keeps nothing.
func TestNoDotNoMessage(t *testing.T) {
	b := box(t)
	s := sender(t, b)
	down := errors.New("database down")
	err := s.Send(context.Background(), email.Message{ID: 1, To: "a@nhs.example", Subject: "first", Body: "x"},
		func(context.Context) error { return down })
	if !errors.Is(err, down) {
		t.Fatalf("Send = %v, want the pointOfNoReturn error", err)
	}
	if err := s.Send(context.Background(), email.Message{ID: 2, To: "a@nhs.example", Subject: "second", Body: "y"}, ok); err != nil {
		t.Fatal(err)
	}
	msgs := waitFor(t, b, 1)
	if len(msgs) != 1 || msgs[0].Subject != "second" {
		t.Errorf("the server kept %d messages (%v), want only the second", len(msgs), msgs)
	}
}

func TestRefusals(t *testing.T) {
	for _, tc := range []struct {
		code      int
		permanent bool
	}{{451, false}, {550, true}} {
		b := box(t)
		b.OnData = func(devmail.Message) error { return &smtp.SMTPError{Code: tc.code, Message: "no"} }
		err := sender(t, b).Send(context.Background(), email.Message{ID: 1, To: "a@nhs.example", Subject: "s", Body: "b"}, ok)
		var no *email.Refused
		if !errors.As(err, &no) || no.Code != tc.code || no.Permanent != tc.permanent {
			t.Errorf("reply %d: Send = %v, want a Refused with permanent=%v", tc.code, err, tc.permanent)
		}
	}
}

func TestNewChecksTheURL(t *testing.T) {
	for _, tc := range []struct {
		url, from string
		ok        bool
	}{
		{"smtp://mail.example.org:587", "WMTNA <no-reply@example.org>", true},
		{"smtps://user:secret@mail.example.org", "no-reply@example.org", true},
		{"smtp://127.0.0.1:2525", "no-reply@example.org", true},
		{"http://mail.example.org", "no-reply@example.org", false},
		{"mail.example.org:25", "no-reply@example.org", false},
		{"smtp://", "no-reply@example.org", false},
		{"smtp://mail.example.org/path", "no-reply@example.org", false},
		{"smtp://mail.example.org", "not an address", false},
	} {
		_, err := email.New(tc.url, tc.from, "http://127.0.0.1:8080")
		if (err == nil) != tc.ok {
			t.Errorf("New(%q, %q) = %v, want ok=%v", tc.url, tc.from, err, tc.ok)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("the error shows the password: %v", err)
		}
	}
}
