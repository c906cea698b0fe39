package postgres_test

import (
	"context"
	"testing"

	"github.com/wmtna/referrals/internal/referral"
)

// The register's history keeps who changed what, field by field, and
// cannot be rewritten: not even by someone with the database.
func TestRegisterHistoryIsAppendOnly(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	th := s.therapist("Dr H", 1)
	capacity, name := 3, "Dr H"
	if _, err := s.UpdateTherapist(ctx, committeeMember, th.ID, referral.TherapistPatch{Capacity: &capacity, Name: &name}); err != nil {
		t.Fatal(err)
	}
	// A change that changes nothing is not recorded.
	if _, err := s.UpdateTherapist(ctx, committeeMember, th.ID, referral.TherapistPatch{Capacity: &capacity}); err != nil {
		t.Fatal(err)
	}
	until := referral.Date{Year: 2030, Month: 3, Day: 3}
	if _, err := s.PauseTherapist(ctx, referral.Principal{Role: referral.RoleTherapist, Subject: th.ID}, th.ID, &until); err != nil {
		t.Fatal(err)
	}
	h, err := s.RegisterHistory(ctx, "therapist", th.ID, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 3 {
		t.Fatalf("%d changes recorded, want 3 (added, changed, away): %+v", len(h), h)
	}
	away, changed, added := h[0], h[1], h[2]
	if added.Action != "added" || added.Actor != committeeMember || added.Changes["hcpc_number"].To != th.HCPCNumber {
		t.Errorf("added = %+v", added)
	}
	if changed.Action != "changed" || len(changed.Changes) != 1 || changed.Changes["capacity"].From != float64(1) || changed.Changes["capacity"].To != float64(3) {
		t.Errorf("changed = %+v, want only capacity 1 to 3 (the name was sent unchanged)", changed)
	}
	if away.Action != "away" || away.Actor.Role != referral.RoleTherapist || away.Changes["away_until"].To != "2030-03-03" || away.Changes["away"].To != true {
		t.Errorf("away = %+v", away)
	}
	// Paging back from the newest.
	if older, err := s.RegisterHistory(ctx, "therapist", th.ID, away.ID, 10); err != nil || len(older) != 2 || older[0].ID != changed.ID {
		t.Errorf("page before %d: %+v, %v", away.ID, older, err)
	}
	for _, q := range []string{`UPDATE register_changes SET actor_id = 'someone else'`, `DELETE FROM register_changes`} {
		if _, err := s.raw.Exec(ctx, q); err == nil {
			t.Errorf("%s: allowed", q)
		}
	}
}
