package postgres_test

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wmtna/referrals/internal/postgres"
	"github.com/wmtna/referrals/internal/postgres/postgrestest"
	"github.com/wmtna/referrals/internal/referral"
)

var operator = referral.Principal{Role: referral.RoleOperator, Subject: "admin"}

func (s *store) member(name, email, role string) referral.CommitteeMember {
	s.t.Helper()
	m, err := s.CreateCommitteeMember(context.Background(), operator, referral.CommitteeMember{Name: name, Email: email, Role: role})
	if err != nil {
		s.t.Fatal(err)
	}
	return m
}

func asMember(m referral.CommitteeMember) referral.Principal {
	return referral.Principal{Role: referral.RoleCommittee, Subject: m.ID}
}

// signInLink makes a sign-in link for p as the sign-in answerer does, and
// returns its secret ("" when none was made) and how many emails went to
// the outbox with it.
func (s *store) signInLink(p referral.Principal, email string) (string, int) {
	s.t.Helper()
	ctx := context.Background()
	before := s.count(`SELECT count(*) FROM outbox WHERE kind = 'sign-in.committee'`)
	var secret string
	err := s.CreateSignInLink(ctx, p, time.Hour, "", func(sec string) (postgres.Message, error) {
		secret = sec
		return postgres.Message{Key: "sign-in/" + sec[:12], Recipient: email, Kind: "sign-in.committee", Subject: "link", Body: "/sign-in/" + sec}, nil
	})
	if err != nil {
		s.t.Fatal(err)
	}
	return secret, s.count(`SELECT count(*) FROM outbox WHERE kind = 'sign-in.committee'`) - before
}

// TestRemovedMemberIsSignedOutForGood: removing a member ends their bearer
// token and browser session at once, spends a sign-in link they hold, finds
// them no more at sign-in, and refuses a token or link made for them
// afterwards (a session started by a sign-in that raced the removal); they
// are kept, as removed, with the removal in the register's history.
func TestRemovedMemberIsSignedOutForGood(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	chair := s.member("Chris Chair", "chair@example.org", "chair")
	sec := s.member("Sam Secretary", "Sam@example.org", "secretary")
	bearer, err := s.IssueToken(ctx, referral.RoleCommittee, sec.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	expires := time.Now().Add(time.Hour)
	session, err := s.IssueToken(ctx, referral.RoleCommittee, sec.ID, &expires)
	if err != nil {
		t.Fatal(err)
	}
	chairToken, err := s.IssueToken(ctx, referral.RoleCommittee, chair.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	link, sent := s.signInLink(asMember(sec), sec.Email)
	if link == "" || sent != 1 {
		t.Fatalf("before removal: link %q, %d emails; want a link and its email", link, sent)
	}
	if who, err := s.SignInCandidates(ctx, "sam@example.org"); err != nil || len(who) != 1 || who[0] != asMember(sec) {
		t.Fatalf("before removal, sign-in finds %+v, %v", who, err)
	}

	removed, err := s.RemoveCommitteeMember(ctx, asMember(chair), sec.ID)
	if err != nil {
		t.Fatal(err)
	}
	if removed.RemovedAt == nil {
		t.Errorf("removed member has no removed_at: %+v", removed)
	}
	for name, tok := range map[string]string{"bearer token": bearer, "session": session} {
		if _, err := s.Authenticate(ctx, tok); !errors.Is(err, referral.ErrNotFound) {
			t.Errorf("removed member's %s: %v, want ErrNotFound", name, err)
		}
	}
	if n := s.count(`SELECT count(*) FROM tokens WHERE role = 'committee' AND subject = $1 AND revoked_at IS NULL`, sec.ID); n != 0 {
		t.Errorf("%d of the removed member's tokens are not revoked", n)
	}
	if _, err := s.UseSignInLink(ctx, link); !errors.Is(err, referral.ErrNotFound) {
		t.Errorf("sign-in link sent before the removal: %v, want ErrNotFound", err)
	}
	if who, err := s.SignInCandidates(ctx, "sam@example.org"); err != nil || len(who) != 0 {
		t.Errorf("after removal, sign-in finds %+v, %v; want nobody", who, err)
	}
	// For good: a token or a link made for them now works no more.
	late, err := s.IssueToken(ctx, referral.RoleCommittee, sec.ID, &expires)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, late); !errors.Is(err, referral.ErrNotFound) {
		t.Errorf("a token made after the removal: %v, want ErrNotFound", err)
	}
	if _, sent := s.signInLink(asMember(sec), sec.Email); sent != 0 {
		t.Errorf("a sign-in link for a removed member was written to the outbox")
	}
	if n := s.count(`SELECT count(*) FROM sign_in_links WHERE subject = $1 AND used_at IS NULL AND expires_at > now()`, sec.ID); n != 0 {
		t.Errorf("%d live sign-in links for the removed member", n)
	}
	if _, err := s.Authenticate(ctx, chairToken); err != nil {
		t.Errorf("the Chair's own token stopped working: %v", err)
	}
	if err := s.CommitteeMemberExists(ctx, sec.ID); !errors.Is(err, referral.ErrNotFound) {
		t.Errorf("CommitteeMemberExists(removed) = %v, want ErrNotFound (no new token for them)", err)
	}

	// Kept for the history, out of the committee.
	current, err := s.CommitteeMembers(ctx)
	if err != nil || len(current) != 1 || current[0].ID != chair.ID {
		t.Errorf("CommitteeMembers = %+v, %v; want the Chair only", current, err)
	}
	roll, err := s.CommitteeRoll(ctx)
	if err != nil || len(roll) != 2 || roll[1].ID != sec.ID || roll[1].RemovedAt == nil {
		t.Errorf("CommitteeRoll = %+v, %v; want both, the secretary removed", roll, err)
	}
	for name, err := range map[string]error{
		"remove again": func() error { _, err := s.RemoveCommitteeMember(ctx, asMember(chair), sec.ID); return err }(),
		"change role":  func() error { _, err := s.ChangeCommitteeRole(ctx, asMember(chair), sec.ID, "chair"); return err }(),
	} {
		if !errors.Is(err, postgres.ErrMemberRemoved) || !errors.Is(err, referral.ErrConflict) {
			t.Errorf("%s of a removed member: %v, want ErrMemberRemoved", name, err)
		}
	}
	h, err := s.RegisterHistory(ctx, "committee_member", sec.ID, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 2 || h[0].Action != "removed" || h[1].Action != "added" {
		t.Fatalf("history = %+v, want removed then added", h)
	}
	if h[0].Actor != asMember(chair) || h[1].Actor != operator {
		t.Errorf("history actors %+v, %+v; want the Chair, then the operator", h[0].Actor, h[1].Actor)
	}
	if want := map[string]referral.FieldChange{"removed": {From: false, To: true}}; !reflect.DeepEqual(h[0].Changes, want) {
		t.Errorf("removal recorded %+v, want %+v", h[0].Changes, want)
	}
	if h[1].Changes["role"].To != "secretary" || h[1].Changes["email"].To != "Sam@example.org" {
		t.Errorf("addition recorded %+v", h[1].Changes)
	}

	// Their address may join again, as a new member, who can sign in.
	again := s.member("Sam Secretary", "sam@example.org", "member")
	if who, err := s.SignInCandidates(ctx, "SAM@example.org"); err != nil || len(who) != 1 || who[0] != asMember(again) {
		t.Errorf("after rejoining, sign-in finds %+v, %v; want the new member", who, err)
	}
}

// TestTheCommitteeKeepsAChair: the only Chair can be neither removed nor
// made anything else, and two Chairs removing each other at once leave one.
func TestTheCommitteeKeepsAChair(t *testing.T) {
	ctx := context.Background()
	remove := func(s *store, by, m referral.CommitteeMember) error {
		_, err := s.RemoveCommitteeMember(ctx, asMember(by), m.ID)
		return err
	}
	demote := func(s *store, by, m referral.CommitteeMember) error {
		_, err := s.ChangeCommitteeRole(ctx, asMember(by), m.ID, "member")
		return err
	}
	for _, tc := range []struct {
		name   string
		chairs int
		change func(s *store, by, m referral.CommitteeMember) error
		want   error
	}{
		{"remove the only chair", 1, remove, postgres.ErrLastChair},
		{"demote the only chair", 1, demote, postgres.ErrLastChair},
		{"remove one of two chairs", 2, remove, nil},
		{"demote one of two chairs", 2, demote, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			var chairs []referral.CommitteeMember
			for i := range tc.chairs {
				chairs = append(chairs, s.member("Chair", string(rune('a'+i))+"@example.org", "chair"))
			}
			s.member("Member", "m@example.org", "member")
			err := tc.change(s, chairs[0], chairs[len(chairs)-1])
			if !errors.Is(err, tc.want) || (tc.want != nil && !errors.Is(err, referral.ErrConflict)) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if n := s.count(`SELECT count(*) FROM committee_members WHERE role = 'chair' AND removed_at IS NULL`); n < 1 {
				t.Errorf("%d chairs left", n)
			}
			if tc.want != nil {
				if n := s.count(`SELECT count(*) FROM register_changes WHERE action <> 'added'`); n != 0 {
					t.Errorf("a refused change was recorded in the history")
				}
				return
			}
			// The one Chair left is the last.
			if err := remove(s, chairs[0], chairs[0]); !errors.Is(err, postgres.ErrLastChair) {
				t.Errorf("then removing the last: %v, want ErrLastChair", err)
			}
		})
	}

	t.Run("two chairs remove each other at once", func(t *testing.T) {
		s := newStore(t)
		a, b := s.member("A", "a@example.org", "chair"), s.member("B", "b@example.org", "chair")
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, pair := range [][2]referral.CommitteeMember{{a, b}, {b, a}} {
			wg.Go(func() { errs[i] = remove(s, pair[0], pair[1]) })
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case !errors.Is(err, postgres.ErrLastChair):
				t.Errorf("unexpected error: %v", err)
			}
		}
		if ok != 1 {
			t.Errorf("%d removals succeeded (%v), want exactly 1", ok, errs)
		}
		if n := s.count(`SELECT count(*) FROM committee_members WHERE role = 'chair' AND removed_at IS NULL`); n != 1 {
			t.Errorf("%d chairs left, want 1", n)
		}
	})
}

// TestCommitteeAddressesAreOneMemberEach: sign-in finds a member by address,
// so two current members cannot share one (in any case); a removed
// member's address is free again.
func TestCommitteeAddressesAreOneMemberEach(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	chair := s.member("Chair", "chair@example.org", "chair")
	first := s.member("Ada", "ada@example.org", "member")
	if _, err := s.CreateCommitteeMember(ctx, operator, referral.CommitteeMember{Name: "Ada", Email: "ADA@example.org", Role: "member"}); !errors.Is(err, referral.ErrDuplicate) {
		t.Errorf("second member at the address: %v, want ErrDuplicate", err)
	}
	if _, err := s.RemoveCommitteeMember(ctx, asMember(chair), first.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateCommitteeMember(ctx, operator, referral.CommitteeMember{Name: "Ada", Email: "ADA@example.org", Role: "member"}); err != nil {
		t.Errorf("the removed member's address: %v", err)
	}
}

// TestRoleChangesAreRecorded: a change of office is in the history, by
// whom; a change to the office a member already holds records nothing.
func TestRoleChangesAreRecorded(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	chair := s.member("Chair", "chair@example.org", "chair")
	m := s.member("Tam", "tam@example.org", "member")
	for _, role := range []string{"treasurer", "treasurer", "chair"} {
		if _, err := s.ChangeCommitteeRole(ctx, asMember(chair), m.ID, role); err != nil {
			t.Fatal(err)
		}
	}
	h, err := s.RegisterHistory(ctx, "committee_member", m.ID, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	var got []referral.FieldChange
	for _, c := range h {
		if c.Action == "changed" {
			if c.Actor != asMember(chair) {
				t.Errorf("change by %+v, want the Chair", c.Actor)
			}
			got = append(got, c.Changes["role"])
		}
	}
	want := []referral.FieldChange{{From: "treasurer", To: "chair"}, {From: "member", To: "treasurer"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("recorded role changes %+v, want %+v", got, want)
	}
	// Now both are Chairs: the first may step down.
	if _, err := s.ChangeCommitteeRole(ctx, asMember(m), chair.ID, "member"); err != nil {
		t.Errorf("demote one of two chairs: %v", err)
	}
}

// TestEmployerChangesAreRecorded: adding an employer, renaming it and
// marking it no longer listed are each in the register's history, by whom;
// saving it unchanged records nothing.
func TestEmployerChangesAreRecorded(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	chair := referral.Principal{Role: referral.RoleCommittee, Subject: postgres.NewID()}
	o := referral.Organisation{Code: "ZZ9", Name: "Zed Trust", Kind: "nhs_trust", Active: true}
	steps := []referral.Organisation{o, o, {Code: "ZZ9", Name: "Zed NHS Trust", Kind: "nhs_trust", Active: true}, {Code: "ZZ9", Name: "Zed NHS Trust", Kind: "nhs_trust"}}
	for _, step := range steps {
		if _, err := s.SaveOrganisation(ctx, chair, step); err != nil {
			t.Fatal(err)
		}
	}
	h, err := s.RegisterHistory(ctx, "organisation", "ZZ9", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		action  string
		changes map[string]referral.FieldChange
	}{
		{"changed", map[string]referral.FieldChange{"active": {From: true, To: false}}},
		{"changed", map[string]referral.FieldChange{"name": {From: "Zed Trust", To: "Zed NHS Trust"}}},
		{"added", map[string]referral.FieldChange{"name": {To: "Zed Trust"}, "kind": {To: "nhs_trust"}, "active": {To: true}}},
	}
	if len(h) != len(want) {
		t.Fatalf("history = %+v, want %d entries", h, len(want))
	}
	for i, w := range want {
		if h[i].Action != w.action || h[i].Actor != chair || !reflect.DeepEqual(h[i].Changes, w.changes) {
			t.Errorf("history[%d] = %s by %+v %+v, want %s by the committee %+v", i, h[i].Action, h[i].Actor, h[i].Changes, w.action, w.changes)
		}
	}
}

// TestMigration00012Down: undoing migration 00012 leaves no removed member
// behind, since before it nothing would tell them from a current one (they
// would be sent sign-in links and the committee's emails again); current
// members stay.
func TestMigration00012Down(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, url := postgrestest.Open(t, "")
	raw, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	s := &store{DB: db, raw: raw, t: t}
	chair := s.member("Chair", "chair@example.org", "chair")
	gone := s.member("Gone", "gone@example.org", "member")
	if _, err := s.RemoveCommitteeMember(ctx, asMember(chair), gone.ID); err != nil {
		t.Fatal(err)
	}
	if err := postgres.MigrateDownTo(ctx, url, 11); err != nil {
		t.Fatal(err)
	}
	var ids []string
	rows, err := raw.Query(ctx, `SELECT id::text FROM committee_members`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if rows.Err() != nil || len(ids) != 1 || ids[0] != chair.ID {
		t.Errorf("after undoing 00012 the committee is %v (%v), want the Chair only", ids, rows.Err())
	}
	if err := postgres.Migrate(ctx, url); err != nil {
		t.Errorf("migrating up again: %v", err)
	}
}
