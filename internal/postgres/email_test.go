package postgres_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wmtna/referrals/internal/pgtest"
	"github.com/wmtna/referrals/internal/postgres"
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
	member, err := s.CreateCommitteeMember(ctx, referral.Principal{Role: referral.RoleOperator}, referral.CommitteeMember{Name: "Ada", Email: "ada@therapist.example", Role: "chair"})
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
	if _, err := s.CreateCommitteeMember(ctx, referral.Principal{Role: referral.RoleOperator}, referral.CommitteeMember{Name: "Ada", Email: "Ada.Lovelace@NHS.net", Role: "chair"}); err != nil {
		t.Fatal(err)
	}
	th := s.therapist("Bob", 1)
	email := "Bob.Smith@Trust.NHS.uk"
	if _, err := s.UpdateTherapist(ctx, committeeMember, th.ID, referral.TherapistPatch{Email: &email}); err != nil {
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

// TestMigration00010 stores rows as the code before migration 00010 did
// (keys by strings.ToLower, a look-alike's key equal to a real address's,
// the conflict of an erased trainee) and checks what it makes of them.
func TestMigration00010(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.NewDatabaseLocale(t, "C.utf8")
	if err := postgres.MigrateTo(ctx, url, 9); err != nil {
		t.Fatal(err)
	}
	raw, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := raw.Exec(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	hash := func(key string) string {
		h := sha256.Sum256([]byte(key))
		return hex.EncodeToString(h[:])
	}
	member, th := postgres.NewID(), postgres.NewID()
	owner, lookAlike, erased := postgres.NewID(), postgres.NewID(), postgres.NewID()
	exec(`INSERT INTO committee_members (id, name, email, role) VALUES ($1, 'Ada', 'Ada.Lovelace@NHS.net', 'chair')`, member)
	exec(`INSERT INTO therapists (id, name, email, hcpc_number, capacity) VALUES ($1, 'Bob', 'Bob@Trust.example', 'PYL1', 1)`, th)
	refer := func(id, email, key, status string) {
		t.Helper()
		exec(`INSERT INTO referrals (id, name, email, email_key, programme, employer, training_start, concerns, request_fingerprint, status)
			VALUES ($1, 'T', $2, $3, 'clinical', 'RXT', DATE '2025-10-01', 'c', 'fp', $4)`, id, email, key, status)
	}
	refer(owner, "Kim@kent.example", "kim@kent.example", "withdrawn")
	refer(lookAlike, "\u212Aim@kent.example", "kim@kent.example", "submitted") // strings.ToLower made the Kelvin sign "k"
	refer(erased, "", "erased:"+erased, "withdrawn")
	exec(`UPDATE referrals SET erased_at = now() WHERE id = $1`, erased)
	exec(`INSERT INTO conflicts_of_interest (therapist_id, email_hash) VALUES ($1, $2), ($1, $3)`, th, hash("kim@kent.example"), hash("gone@example.org"))

	if err := postgres.Migrate(ctx, url); err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{"committee_members", "therapists", "referrals WHERE erased_at IS NULL"} {
		rows, err := raw.Query(ctx, `SELECT email, email_key FROM `+table)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var email, key string
			if err := rows.Scan(&email, &key); err != nil {
				t.Fatal(err)
			}
			if key != referral.EmailKey(email) {
				t.Errorf("%s: %+q keyed %+q, want %+q", table, email, key, referral.EmailKey(email))
			}
		}
		rows.Close()
	}
	var hashes []string
	rows, err := raw.Query(ctx, `SELECT email_hash FROM conflicts_of_interest ORDER BY email_hash`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var h string
		if err := rows.Scan(&h); err != nil {
			t.Fatal(err)
		}
		hashes = append(hashes, h)
	}
	rows.Close()
	want := []string{hash("kim@kent.example"), hash("\u212Aim@kent.example")}
	slices.Sort(want)
	if !slices.Equal(hashes, want) {
		t.Errorf("conflicts of interest hold %v; want the real address's kept, the look-alike's copied and the erased trainee's gone: %v", hashes, want)
	}

	db, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for email, want := range map[string]string{
		"kim@kent.example":        owner,
		"\u212Aim@kent.example":   lookAlike,
		"ada.lovelace@nhs.net":    member,
		"bob@trust.example":       th,
		"ada.lovelace@nhs.net.uk": "",
	} {
		got, err := db.SignInCandidates(ctx, email)
		if err != nil {
			t.Fatal(err)
		}
		if (want == "" && len(got) != 0) || (want != "" && (len(got) != 1 || got[0].Subject != want)) {
			t.Errorf("after migrating, %+q signs in %v, want %q", email, got, want)
		}
	}
}
