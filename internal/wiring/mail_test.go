package wiring_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wmtna/referrals/internal/devmail"
	"github.com/wmtna/referrals/internal/referral"
	"github.com/wmtna/referrals/internal/stacktest"
)

// TestLifecycleEmailsArriveOnce drives a referral from submission to
// matched and reads what a real SMTP server received: each message once, to
// the right person, with a link to the pages and a status, and never the
// trainee's concerns.
func TestLifecycleEmailsArriveOnce(t *testing.T) {
	s := stacktest.Start(t, fast)
	chair := committeeMember(t, s)
	th := addTherapist(t, s, 1, 1)
	ref := submit(t, s, "priya@nhs.example")
	s.WaitStatus(ref.id, "awaiting_review", 10*time.Second)
	approve(t, s, chair, ref.id)
	offerID, _ := offerOf(s.WaitStatus(ref.id, "offered", 10*time.Second))
	if r := s.Do("POST", "/v1/offers/"+offerID+"/accept", th.token, nil); r.Status != 200 {
		t.Fatalf("accept: %d %s", r.Status, r.Raw)
	}
	s.WaitStatus(ref.id, "matched", 10*time.Second)

	want := []struct{ to, subject, link string }{
		{"priya@nhs.example", "Confirm your email address to send your referral", s.API.URL + "/confirm/"},
		{"chair@example.org", "A referral is waiting for review", s.API.URL + "/committee/referrals/" + ref.id},
		{"priya@nhs.example", "We have received your referral", s.API.URL + "/my-referral"},
		{"t1@example.org", "A referral is offered to you", s.API.URL + "/therapist"},
		{"t1@example.org", "You have accepted a referral", s.API.URL + "/therapist"},
		{"priya@nhs.example", "A therapist has accepted your referral", s.API.URL + "/my-referral"},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	msgs, err := s.Mailbox.Wait(ctx, func(m []devmail.Message) bool { return len(m) >= len(want) })
	if err != nil {
		t.Fatalf("received %d messages, want %d: %v", len(msgs), len(want), err)
	}
	// Every message of the outbox has been delivered, so there are no more
	// to come: any duplicate would be here by now.
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, err := s.DB.PendingMessages(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d messages still undelivered", n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	msgs = s.Mailbox.Messages()
	if len(msgs) != len(want) {
		t.Errorf("received %d messages, want %d: %v", len(msgs), len(want), subjects(msgs))
	}
	ids := map[string]bool{}
	for _, w := range want {
		i := slices.IndexFunc(msgs, func(m devmail.Message) bool { return m.IsTo(w.to) && m.Subject == w.subject })
		if i < 0 {
			t.Errorf("no %q to %s among %v", w.subject, w.to, subjects(msgs))
			continue
		}
		if !strings.Contains(msgs[i].Body, w.link) {
			t.Errorf("%q has no link to %s:\n%s", w.subject, w.link, msgs[i].Body)
		}
		// The same letter in HTML beside the text, its link named in words.
		if m := msgs[i]; m.ContentType != "multipart/alternative" || !strings.Contains(m.HTML, `<html lang="en-GB">`) ||
			!strings.Contains(m.HTML, `<a href="`+w.link) || strings.Contains(m.HTML, `">`+w.link) {
			t.Errorf("%q is %s, want text and HTML with a named link to %s:\n%s", w.subject, m.ContentType, w.link, m.HTML)
		}
		crisis := 0
		if strings.HasPrefix(w.to, "priya@") {
			crisis = 1
		}
		if a, b := strings.Count(msgs[i].Body, "116 123"), strings.Count(msgs[i].HTML, "116 123"); a != crisis || b != crisis {
			t.Errorf("%q carries the crisis wording %d times in text and %d in HTML, want %d", w.subject, a, b, crisis)
		}
	}
	for _, m := range msgs {
		if strings.Contains(m.Body, concerns) || strings.Contains(m.HTML, concerns) || strings.Contains(m.Subject, concerns) {
			t.Errorf("%q carries the trainee's concerns", m.Subject)
		}
		if ids[m.MessageID] {
			t.Errorf("two messages share Message-ID %s", m.MessageID)
		}
		ids[m.MessageID] = true
	}
}

func subjects(msgs []devmail.Message) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = m.To[0] + ": " + m.Subject
	}
	return out
}

// TestSignInEmailsCarryTheCrisisWordingToTrainees: a trainee's sign-in
// email is a letter to a trainee like any other, so it carries the crisis
// wording, once, in both parts; a committee member's does not.
func TestSignInEmailsCarryTheCrisisWordingToTrainees(t *testing.T) {
	s := stacktest.Start(t, fast)
	committeeMember(t, s) // chair@example.org
	ref := submit(t, s, "priya@nhs.example")
	s.WaitStatus(ref.id, "awaiting_review", 10*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, c := range []struct {
		to     string
		crisis int
	}{{"priya@nhs.example", 1}, {"chair@example.org", 0}} {
		if r := postForm(t, s, "/sign-in", url.Values{"email": {c.to}}); r != http.StatusOK {
			t.Fatalf("ask for a link for %s: %d", c.to, r)
		}
		msgs, err := s.Mailbox.Wait(ctx, func(m []devmail.Message) bool {
			return slices.ContainsFunc(m, func(m devmail.Message) bool { return m.IsTo(c.to) && m.Subject == "Your sign-in link" })
		})
		if err != nil {
			t.Fatalf("no sign-in email to %s: %v", c.to, err)
		}
		m := msgs[slices.IndexFunc(msgs, func(m devmail.Message) bool { return m.IsTo(c.to) && m.Subject == "Your sign-in link" })]
		if a, b := strings.Count(m.Body, referral.CrisisSupport), strings.Count(m.HTML, "116 123"); a != c.crisis || b != c.crisis {
			t.Errorf("the sign-in email to %s carries the crisis wording %d times in text and %d in HTML, want %d:\n%s", c.to, a, b, c.crisis, m.Body)
		}
	}
}
