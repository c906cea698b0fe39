package wiring_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wmtna/referrals/internal/stacktest"
	"github.com/wmtna/referrals/workflows"
)

// A note is stored only with the decision that carries it: a decision the
// referral's workflow refuses (the wrong status, an ended referral, an
// erased one) leaves no free text behind, and a decision it accepts keeps
// its note in the timeline.
func TestRefusedDecisionsStoreNoNote(t *testing.T) {
	s := stacktest.Start(t, workflows.Timings{ReviewReminder: time.Hour, OfferTTL: time.Hour, WaitlistRecheck: time.Hour})
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, s.Config.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	stored := func(body string) int {
		t.Helper()
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM referral_notes WHERE body = $1`, body).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	admin := stacktest.AdminToken
	chair := s.Do("POST", "/v1/committee-members", admin, map[string]any{"name": "Chair", "email": "chair@example.org", "role": "chair"}).Str("token")
	therapist := s.Do("POST", "/v1/therapists", admin, map[string]any{"name": "Dr One", "email": "one@example.org", "hcpc_number": "PYL1", "capacity": 1}).Str("token")

	// The positive control: an accepted decline keeps its reason.
	c := submit(t, s, "c@nhs.example")
	s.WaitStatus(c.id, "awaiting_review", 10*time.Second)
	if r := s.Do("POST", "/v1/referrals/"+c.id+"/review", chair, map[string]any{"decision": "decline", "reason": "ACCEPTED-DECLINE-NOTE"}); r.Status != 200 {
		t.Fatalf("decline C: %d %s", r.Status, r.Raw)
	}
	if n := stored("ACCEPTED-DECLINE-NOTE"); n != 1 {
		t.Fatalf("an accepted decline stored its note %d times, want once", n)
	}

	a := submit(t, s, "a@nhs.example")
	s.WaitStatus(a.id, "awaiting_review", 10*time.Second)
	approve(t, s, chair, a.id)
	refused := func(what, path, token string, body map[string]any) {
		t.Helper()
		if r := s.Do("POST", path, token, body); r.Status != 409 {
			t.Fatalf("%s: %d %s, want 409", what, r.Status, r.Raw)
		}
	}
	refused("decline of an offered referral", "/v1/referrals/"+a.id+"/review", chair, map[string]any{"decision": "decline", "reason": "REFUSED-REVIEW-NOTE"})
	offer := s.Do("GET", "/v1/offers", therapist, nil).Body["offers"].([]any)[0].(map[string]any)["id"].(string)
	if r := s.Do("POST", "/v1/offers/"+offer+"/accept", therapist, nil); r.Status != 200 {
		t.Fatalf("accept: %d %s", r.Status, r.Raw)
	}
	refused("decline of an accepted offer", "/v1/offers/"+offer+"/decline", therapist, map[string]any{"reason_code": "therapist-capacity", "reason": "REFUSED-OFFER-NOTE"})

	b := withdrawnReferral(t, s, "b@nhs.example")
	refused("withdrawing twice", "/v1/referrals/"+b.id+"/withdraw", b.token, map[string]any{"reason": "REFUSED-WITHDRAW-NOTE"})
	// Checked before the erasure, which blanks every note of B anyway.
	if n := stored("REFUSED-WITHDRAW-NOTE"); n != 0 {
		t.Errorf("withdrawing twice left its note stored (%d rows)", n)
	}
	if r := s.Do("POST", "/v1/referrals/"+b.id+"/erase", admin, nil); r.Status != 200 {
		t.Fatalf("erase: %d %s", r.Status, r.Raw)
	}
	refused("decline after erasure", "/v1/referrals/"+b.id+"/review", chair, map[string]any{"decision": "decline", "reason": "ERASED-DECLINE-NOTE"})

	for _, body := range []string{"REFUSED-REVIEW-NOTE", "REFUSED-OFFER-NOTE", "ERASED-DECLINE-NOTE"} {
		if n := stored(body); n != 0 {
			t.Errorf("a refused decision left its note %q stored (%d rows)", body, n)
		}
	}
}
