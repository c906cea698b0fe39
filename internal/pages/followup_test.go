package pages_test

import (
	"context"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wmtna/referrals/internal/devmail"
	"github.com/wmtna/referrals/internal/referral"
	"github.com/wmtna/referrals/internal/stacktest"
	"github.com/wmtna/referrals/workflows"
)

// nthEmail waits for the nth email to address whose subject has subject
// in it, and returns the path of the link in it under prefix.
func nthEmail(t *testing.T, s *stacktest.Stack, address, subject, prefix string, n int) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var body string
	if _, err := s.Mailbox.Wait(ctx, func(msgs []devmail.Message) bool {
		seen := 0
		for _, m := range msgs {
			if m.IsTo(address) && strings.Contains(m.Subject, subject) {
				if seen++; seen == n {
					body = m.Body
					return true
				}
			}
		}
		return false
	}); err != nil {
		t.Fatalf("email %d to %s about %q: %v", n, address, subject, err)
	}
	link := regexp.MustCompile(regexp.QuoteMeta(prefix) + `[A-Za-z0-9_-]+`).FindString(body)
	if link == "" {
		t.Fatalf("no %s link in:\n%s", prefix, body)
	}
	return link
}

// TestFollowUpsAfterTherapy: when therapy ends, the former client is
// invited to give feedback, reminded once (the first link then stops
// working), and asked twice whether they stayed, with intervals of
// seconds. Each link works once; the answers are stored anonymously; the
// committee reads the comments as a list; and the former client can stop
// the emails.
func TestFollowUpsAfterTherapy(t *testing.T) {
	timings := workflows.Timings{ReviewReminder: time.Hour, OfferTTL: time.Hour, WaitlistRecheck: time.Hour,
		FeedbackReminder: 3 * time.Second, StayedFirst: 6 * time.Second, StayedSecond: 9 * time.Second, FollowUpLinkTTL: time.Hour}
	s := stacktest.Start(t, timings)
	admin := stacktest.AdminToken
	chair := s.Do("POST", "/v1/committee-members", admin, map[string]any{"name": "Chair", "email": "chair@example.org", "role": "chair"})
	th := s.Do("POST", "/v1/therapists", admin, map[string]any{"name": "Dr One", "email": "one@example.org", "hcpc_number": "PYL1", "capacity": 1})
	const address = "former@nhs.example"
	r := s.MustRefer(map[string]any{"name": "Fran Former", "email": address, "programme": "forensic", "employer": "RXT",
		"training_start": s.TrainingMonth(), "concerns": "c", "consent": true})
	id := r.Str("id")
	s.WaitStatus(id, "awaiting_review", 10*time.Second)
	approved := s.Do("POST", "/v1/referrals/"+id+"/review", chair.Str("token"), map[string]any{"decision": "approve"})
	if a := s.Do("POST", "/v1/offers/"+approved.Str("offer_id")+"/accept", th.Str("token"), nil); a.Status != 200 {
		t.Fatalf("accept: %d %s", a.Status, a.Raw)
	}
	if e := s.Do("POST", "/v1/referrals/"+id+"/end", th.Str("token"), map[string]any{}); e.Status != 200 {
		t.Fatalf("end: %d %s", e.Status, e.Raw)
	}
	b := newBrowser(t, s.API.URL)

	first := nthEmail(t, s, address, "How was your therapy?", "/feedback/", 1)
	b.get(first).want(t, 200, "How was your therapy?", "Every question is optional", "I would rather not hear from you again")
	b.post(first, url.Values{"wellbeing": {"9"}}).want(t, 422, "There is a problem", "Choose one of the answers, or none")

	// The reminder's link replaces the first.
	again := nthEmail(t, s, address, "A reminder: two minutes of feedback", "/feedback/", 1)
	if again == first {
		t.Fatal("the reminder has the first link")
	}
	b.get(first).want(t, 410, "This link has expired or has already been used")
	const comment = "Having someone outside my trust to talk to made me stay."
	b.post(again, url.Values{"wellbeing": {"4"}, "stay": {"5"}, "comment": {comment}}).want(t, 200, "Thank you for your feedback")
	b.post(again, url.Values{"wellbeing": {"1"}}).want(t, 410, "This link has expired or has already been used")

	six := nthEmail(t, s, address, "are you still working in NHS psychology?", "/stayed/", 1)
	b.get(six).want(t, 200, "Are you still working or training in an NHS or NHS-contracted psychology role?", "Yes, I still am")
	b.post(six, url.Values{"answer": {"perhaps"}}).want(t, 422, "Choose one of the three answers")
	b.post(six, url.Values{"answer": {referral.StayedYes}}).want(t, 200, "Thank you for your answer")

	twelve := nthEmail(t, s, address, "are you still working in NHS psychology?", "/stayed/", 2)
	stop := "/follow-ups/stop/" + strings.TrimPrefix(twelve, "/stayed/")
	b.get(stop).want(t, 200, "Stop emails about your past therapy?")
	b.post(stop, url.Values{}).want(t, 200, "We will not email you about your past therapy again")
	b.get(twelve).want(t, 410)

	raw, err := pgxpool.New(context.Background(), s.Config.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var fb, stayed, invitations int
	if err := raw.QueryRow(context.Background(), `
		SELECT (SELECT count(*) FROM feedback WHERE programme = 'forensic' AND wellbeing = 4 AND work IS NULL AND stay = 5 AND comment = $1),
		       (SELECT count(*) FROM stayed_answers WHERE months = 6 AND answer = 'yes'),
		       (SELECT count(*) FROM follow_up_invitations)`, comment).Scan(&fb, &stayed, &invitations); err != nil {
		t.Fatal(err)
	}
	if fb != 1 || stayed != 1 || invitations != 0 {
		t.Errorf("feedback %d, answers %d, invitations left %d; want 1, 1, 0", fb, stayed, invitations)
	}
	if logs := s.Logs.String(); strings.Contains(logs, comment) {
		t.Error("the logs carry the comment")
	}
	committee := signedInAs(t, s, referral.Principal{Role: referral.RoleCommittee, Subject: chair.Str("id")})
	committee.get("/committee").want(t, 200, `href="/committee/feedback"`)
	// The year is the one therapy ended in, by the real clock: the
	// service's may be moved (WMTNA_TEST_CLOCK).
	year := strconv.Itoa(time.Now().In(referral.London).Year())
	committee.get("/committee/feedback?year="+year).want(t, 200, "What former clients said, "+year, comment,
		`<strong id="given">hidden</strong>`)
	committee.get("/committee/feedback?year=soon").want(t, 422)
}
