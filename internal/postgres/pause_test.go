package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/wmtna/referrals/internal/referral"
)

// A paused referral keeps its position but is passed over: a freed place
// goes to the next in line. Back from its pause it takes the next free
// place before anyone who joined after it, and its paused time is kept.
func TestPausedReferralKeepsItsPositionAndIsPassedOver(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	r1, r2, r3 := s.referral(anyTrainee), s.referral(anyTrainee), s.referral(anyTrainee)
	for _, id := range []string{r1, r2, r3} {
		s.enqueue(id)
	}
	if _, err := s.raw.Exec(ctx, `UPDATE referrals SET status = 'waitlisted' WHERE id = ANY ($1)`, []string{r1, r2, r3}); err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(-3 * time.Hour).Truncate(time.Second)
	until := at.Add(14 * 24 * time.Hour)
	for range 2 { // again, as a retried activity would
		if o, err := s.Pause(ctx, r1, at, until); err != nil || o != nil {
			t.Fatalf("Pause r1 = %+v, %v; want paused", o, err)
		}
	}
	list, err := s.Waitlist(ctx, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 3 || list[0].ReferralID != r1 || list[0].PausedUntil == nil || !list[0].PausedUntil.Equal(until) || list[1].PausedUntil != nil {
		t.Fatalf("waitlist %+v, want r1 first, paused until %s, then r2 and r3", list, until)
	}
	s.therapist("Z", 0) // who could take either, with no room
	if st, ok, err := s.Standing(ctx, r2); err != nil || !ok || st.Ahead != 1 {
		t.Errorf("r2's standing %+v %v %v, want r1 (paused, keeping its place) ahead", st, ok, err)
	}

	// A therapist with one place: it goes to r2, not to r1, who is paused.
	a := s.therapist("A", 1)
	if s.liveWith(r1) != "" || s.liveWith(r2) != a.ID {
		t.Fatalf("after A registered: r1=%q r2=%q, want r2 with A", s.liveWith(r1), s.liveWith(r2))
	}
	// A second place, while r1 is paused, goes to r3.
	if _, err := s.setCapacity(a.ID, 2); err != nil {
		t.Fatal(err)
	}
	if s.liveWith(r3) != a.ID || s.liveWith(r1) != "" {
		t.Fatalf("after A's second place: r1=%q r3=%q, want r3 with A", s.liveWith(r1), s.liveWith(r3))
	}
	// Back from the pause, with no free place: r1 waits, at the head.
	back := at.Add(2 * time.Hour)
	for range 2 {
		if o, err := s.Resume(ctx, r1, back); err != nil || o != nil {
			t.Fatalf("Resume r1 = %+v, %v; want waiting", o, err)
		}
	}
	r4 := s.referral(anyTrainee)
	s.enqueue(r4)
	// A third place goes to r1, who was in line before r4.
	if _, err := s.setCapacity(a.ID, 3); err != nil {
		t.Fatal(err)
	}
	if s.liveWith(r1) != a.ID || s.liveWith(r4) != "" {
		t.Fatalf("after A's third place: r1=%q r4=%q, want r1 with A", s.liveWith(r1), s.liveWith(r4))
	}
	var pausedFor time.Duration
	if err := s.raw.QueryRow(ctx, `SELECT (extract(epoch FROM paused_for) * 1e9)::bigint FROM queue WHERE referral_id = $1`, r1).Scan(&pausedFor); err != nil {
		t.Fatal(err)
	}
	if pausedFor != 2*time.Hour {
		t.Errorf("paused for %s, want 2h", pausedFor)
	}
}

// Back from a pause, a referral takes a free place it can take at once;
// and a referral offered a place before its pause keeps the offer.
func TestResumeTakesAFreePlaceAndAnOfferStands(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	r1 := s.referral(anyTrainee)
	s.enqueue(r1)
	now := time.Now()
	if _, err := s.Pause(ctx, r1, now, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	a := s.therapist("A", 1) // registered while r1 is paused: its place stays free
	wantPlaces(t, s, a, 0)
	o, err := s.Resume(ctx, r1, now.Add(time.Minute))
	if err != nil || o == nil || o.TherapistID != a.ID {
		t.Fatalf("Resume = %+v, %v; want an offer with A", o, err)
	}

	r2 := s.referral(anyTrainee)
	s.enqueue(r2)
	if _, err := s.setCapacity(a.ID, 2); err != nil { // offered to r2 behind its workflow's back
		t.Fatal(err)
	}
	o, err = s.Pause(ctx, r2, now, now.Add(time.Hour))
	if err != nil || o == nil || o.TherapistID != a.ID {
		t.Fatalf("Pause of an offered referral = %+v, %v; want its offer", o, err)
	}
	if n := s.count(`SELECT count(*)::int FROM queue WHERE referral_id = $1 AND state = 'offered'`, r2); n != 1 {
		t.Errorf("r2 is no longer offered after a refused pause")
	}
	// A referral that has left cannot pause.
	if err := s.Leave(ctx, r2); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Pause(ctx, r2, now, now.Add(time.Hour)); !errors.Is(err, referral.ErrConflict) {
		t.Errorf("Pause after leaving: %v, want a conflict", err)
	}
}
