package postgres_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wmtna/referrals/internal/pgtest"
	"github.com/wmtna/referrals/internal/postgres/postgrestest"
	"github.com/wmtna/referrals/internal/referral"
)

// newUTF8Store is newStore on a database with a UTF-8 locale, whose lower()
// folds Unicode case as production servers do (the postgres image defaults
// to en_US.utf8); the test cluster's C locale would hide look-alikes.
func newUTF8Store(t *testing.T) *store {
	t.Helper()
	t.Parallel()
	ctx := context.Background()
	db, url := postgrestest.Open(t, pgtest.NewDatabaseLocale(t, "C.utf8"))
	raw, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(raw.Close)
	var folded string
	if err := raw.QueryRow(ctx, `SELECT lower('THERAPİST')`).Scan(&folded); err != nil || folded != "therapist" {
		t.Fatalf("the database does not fold Unicode case (lower = %q, %v): the test would prove nothing", folded, err)
	}
	return &store{DB: db, raw: raw, t: t}
}

// TestLookAlikeAddressesReachNoOneElse: an address that a UTF-8 collation
// (or Unicode case folding) would fold into someone's address finds nobody
// to sign in; one that differs only in ASCII case finds its owner.
func TestLookAlikeAddressesReachNoOneElse(t *testing.T) {
	s := newUTF8Store(t)
	ctx := context.Background()
	member, err := s.CreateCommitteeMember(ctx, referral.CommitteeMember{Name: "Ada", Email: "ada@therapist.example", Role: "chair"})
	if err != nil {
		t.Fatal(err)
	}
	th := s.therapist("Bob", 1, func(th *referral.Therapist) { th.Email = "bob@therapist.example" })
	r, _, err := s.CreateReferral(ctx, submission(anyTrainee, "kim@kent.example"), time.Now(), "k1", "fp1")
	if err != nil {
		t.Fatal(err)
	}
	committee := referral.Principal{Role: referral.RoleCommittee, Subject: member.ID}
	therapist := referral.Principal{Role: referral.RoleTherapist, Subject: th.ID}
	trainee := referral.Principal{Role: referral.RoleTrainee, Subject: r.ID}

	for _, tc := range []struct {
		email string
		want  []referral.Principal
	}{
		{"ada@therapist.example", []referral.Principal{committee}},
		{"ADA@Therapist.EXAMPLE", []referral.Principal{committee}},
		{" bob@therapist.example ", []referral.Principal{therapist}},
		{"Kim@Kent.example", []referral.Principal{trainee}},
		// Dotted capital I: lower() folds it into "i" under UTF-8.
		{"ada@therapİst.example", nil},
		{"bob@therapİst.example", nil},
		// The Kelvin sign: Go's strings.ToLower and lower() make it "k".
		{"\u212Aim@kent.example", nil},
		{"kim@\u212Aent.example", nil},
		// Fullwidth and Cyrillic look-alikes fold to nothing else.
		{"ａda@therapist.example", nil},
		{"аda@therapist.example", nil},
	} {
		got, err := s.SignInCandidates(ctx, tc.email)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("SignInCandidates(%+q) = %v, want %v", tc.email, got, tc.want)
		}
	}

	// A look-alike of an open referral's address is not its duplicate
	// either: it would tell the caller that someone else has one.
	if _, _, err := s.CreateReferral(ctx, submission(anyTrainee, "\u212Aim@kent.example"), time.Now(), "k2", "fp2"); err != nil {
		t.Errorf("a look-alike of an open referral's address: %v, want a referral of its own", err)
	}
}

// TestEmailKeyIsStoredAsComputed: the keys in every table are EmailKey's,
// also when the address is changed later.
func TestEmailKeyIsStoredAsComputed(t *testing.T) {
	s := newUTF8Store(t)
	ctx := context.Background()
	if _, err := s.CreateCommitteeMember(ctx, referral.CommitteeMember{Name: "Ada", Email: "Ada.Lovelace@NHS.net", Role: "chair"}); err != nil {
		t.Fatal(err)
	}
	th := s.therapist("Bob", 1)
	email := "Bob.Smith@Trust.NHS.uk"
	if _, err := s.UpdateTherapist(ctx, th.ID, referral.TherapistPatch{Email: &email}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.CreateReferral(ctx, submission(anyTrainee, "Cy.Jones@NHS.net"), time.Now(), "k1", "fp1"); err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{"committee_members", "therapists", "referrals"} {
		rows, err := s.raw.Query(ctx, `SELECT email, email_key FROM `+table)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for ; rows.Next(); n++ {
			var email, key string
			if err := rows.Scan(&email, &key); err != nil {
				t.Fatal(err)
			}
			if key != referral.EmailKey(email) {
				t.Errorf("%s: %q has key %q, want %q", table, email, key, referral.EmailKey(email))
			}
		}
		rows.Close()
		if n == 0 {
			t.Errorf("%s has no rows", table)
		}
	}
}

// TestMigrationKeyIsEmailKey: migration 00010 recomputes stored keys with
// translate(); it must agree with EmailKey on every stored address, under a
// collation that folds Unicode case.
func TestMigrationKeyIsEmailKey(t *testing.T) {
	s := newUTF8Store(t)
	for _, addr := range []string{"ada@nhs.net", "Ada.Lovelace@NHS.NET", "O'Brien+Tag_1@Trust-9.nhs.uk", "ada@therapİst.example", "\u212Aim@kent.example", "ÅSA@x.example"} {
		var key string
		if err := s.raw.QueryRow(context.Background(), `SELECT translate($1, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')`, addr).Scan(&key); err != nil {
			t.Fatal(err)
		}
		if key != referral.EmailKey(addr) {
			t.Errorf("the migration keys %q as %q, EmailKey as %q", addr, key, referral.EmailKey(addr))
		}
	}
}
