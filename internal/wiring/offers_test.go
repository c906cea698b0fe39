package wiring_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wmtna/referrals/internal/stacktest"
)

// listedOffer polls the therapist's open offers as fast as the API answers
// until one for the referral is listed, and returns its ID: a therapist
// who answers the moment an offer appears.
func listedOffer(t *testing.T, s *stacktest.Stack, token, referralID string) string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		r := s.Do("GET", "/v1/offers", token, nil)
		if r.Status != 200 {
			t.Fatalf("list offers: %d %s", r.Status, r.Raw)
		}
		for _, o := range r.Body["offers"].([]any) {
			if o := o.(map[string]any); o["referral_id"] == referralID {
				return o["id"].(string)
			}
		}
	}
	t.Fatalf("no offer of %s listed after 15s", referralID)
	return ""
}

// An offer made from the waitlist, when a place is freed, can be answered
// as soon as the therapist can see it: what is listed is what the
// referral's workflow has offered. Each round frees the therapist's only
// place for a waiting referral and answers its offer the moment it is
// listed; the last round declines instead of accepting.
func TestOfferFromTheWaitlistCanBeAnsweredAsSoonAsListed(t *testing.T) {
	s := stacktest.Start(t, fast)
	chair := committeeMember(t, s)
	th := addTherapist(t, s, 1, 1)
	approveNew := func(email, want string) submitted {
		t.Helper()
		ref := submit(t, s, email)
		s.WaitStatus(ref.id, "awaiting_review", 10*time.Second)
		if r := s.Do("POST", "/v1/referrals/"+ref.id+"/review", chair, map[string]any{"decision": "approve"}); r.Status != 200 || r.Str("status") != want {
			t.Fatalf("approve %s: %d %s, want %s", email, r.Status, r.Raw, want)
		}
		return ref
	}
	client := approveNew("first@nhs.example", "offered")
	if r := s.Do("POST", "/v1/offers/"+listedOffer(t, s, th.token, client.id)+"/accept", th.token, nil); r.Status != 200 {
		t.Fatalf("accept the first offer: %d %s", r.Status, r.Raw)
	}
	const rounds = 3
	for i := range rounds {
		waiting := approveNew("waiting"+string(rune('a'+i))+"@nhs.example", "waitlisted")
		// Ending the client's therapy frees the place, which goes to the
		// waiting referral. The therapist is already looking while it is
		// freed, as a busy dashboard would be.
		ended := make(chan error, 1)
		go func() {
			r, err := s.Call("POST", "/v1/referrals/"+client.id+"/end", th.token, nil)
			if err == nil && r.Status != 200 {
				err = fmt.Errorf("%d %s", r.Status, r.Raw)
			}
			ended <- err
		}()
		offer := listedOffer(t, s, th.token, waiting.id)
		var r stacktest.Response
		if i < rounds-1 {
			r = s.Do("POST", "/v1/offers/"+offer+"/accept", th.token, nil)
		} else {
			r = s.Do("POST", "/v1/offers/"+offer+"/decline", th.token, map[string]any{"reason_code": "therapist-capacity"})
		}
		if err := <-ended; err != nil {
			t.Fatalf("round %d: end therapy: %v", i, err)
		}
		if i < rounds-1 {
			if r.Status != 200 || r.Str("status") != "matched" {
				t.Fatalf("round %d: accept as soon as listed: %d %s, want 200 matched", i, r.Status, r.Raw)
			}
			client = waiting
			continue
		}
		if r.Status != 200 {
			t.Fatalf("round %d: decline as soon as listed: %d %s, want 200", i, r.Status, r.Raw)
		}
		s.WaitStatus(waiting.id, "waitlisted", 10*time.Second)
	}
}

// An offer a therapist no longer holds (they declined it, it went to
// someone else, the trainee withdrew) answers as one that never existed,
// so answering it again and again tells them nothing of where the referral
// has got to. Their own refused decline keeps no note.
func TestAnOfferNoLongerHeldAnswersAsIfItNeverExisted(t *testing.T) {
	s := stacktest.Start(t, fast)
	chair := committeeMember(t, s)
	first := addTherapist(t, s, 1, 1)
	second := addTherapist(t, s, 2, 1)
	ref := submit(t, s, "moving@nhs.example")
	s.WaitStatus(ref.id, "awaiting_review", 10*time.Second)
	approve(t, s, chair, ref.id)
	old, to := offerOf(s.WaitStatus(ref.id, "offered", 10*time.Second))
	if to != first.id {
		t.Fatalf("offered to %s, want the first therapist", to)
	}
	declineOld := map[string]any{"reason_code": "therapist-capacity"}
	declined := s.Do("POST", "/v1/offers/"+old+"/decline", first.token, declineOld, "Idempotency-Key", "decline-old")
	if declined.Status != 200 {
		t.Fatalf("decline: %d %s", declined.Status, declined.Raw)
	}
	current, to := offerOf(s.WaitStatus(ref.id, "offered", 10*time.Second))
	if to != second.id {
		t.Fatalf("offered next to %s, want the second therapist", to)
	}
	never := "00000000-0000-4000-8000-000000000000"
	answers := func(stage, token, offer string) {
		t.Helper()
		for _, a := range []struct {
			path string
			body map[string]any
		}{
			{"/accept", nil},
			{"/decline", map[string]any{"reason_code": "therapist-capacity", "reason": "STALE-OFFER-NOTE"}},
		} {
			want := s.Do("POST", "/v1/offers/"+never+a.path, token, a.body)
			got := s.Do("POST", "/v1/offers/"+offer+a.path, token, a.body)
			if got.Status != 404 || got.Raw != want.Raw {
				t.Errorf("%s: %s of an offer no longer held: %d %s, want %d %s as for one never made", stage, a.path, got.Status, got.Raw, want.Status, want.Raw)
			}
		}
	}
	answers("offered to another therapist", first.token, old)
	// The decline retried with its key answers as it did the first time,
	// as the key promises; that is all it tells.
	if r := s.Do("POST", "/v1/offers/"+old+"/decline", first.token, declineOld, "Idempotency-Key", "decline-old"); r.Status != 200 || r.Raw != declined.Raw {
		t.Errorf("decline retried with its key: %d %s, want the first answer %s", r.Status, r.Raw, declined.Raw)
	}
	if r := s.Do("POST", "/v1/offers/"+old+"/decline", first.token, declineOld, "Idempotency-Key", "another-key"); r.Status != 404 {
		t.Errorf("decline again with a new key: %d %s, want 404", r.Status, r.Raw)
	}
	if r := s.Do("POST", "/v1/offers/"+current+"/accept", second.token, nil); r.Status != 200 {
		t.Fatalf("accept: %d %s", r.Status, r.Raw)
	}
	answers("matched with another therapist", first.token, old)
	if r := s.Do("POST", "/v1/referrals/"+ref.id+"/withdraw", ref.token, nil); r.Status != 200 {
		t.Fatalf("withdraw: %d %s", r.Status, r.Raw)
	}
	s.WaitStatus(ref.id, "withdrawn", 10*time.Second)
	answers("withdrawn, to the therapist who declined", first.token, old)
	answers("withdrawn, to the therapist who had accepted", second.token, current)

	ctx := context.Background()
	conn, err := pgx.Connect(ctx, s.Config.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var notes int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM referral_notes WHERE body = 'STALE-OFFER-NOTE'`).Scan(&notes); err != nil {
		t.Fatal(err)
	}
	if notes != 0 {
		t.Errorf("declines of offers no longer held stored %d notes", notes)
	}
}
