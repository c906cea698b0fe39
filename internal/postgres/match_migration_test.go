package postgres_test

import (
	"context"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wmtna/referrals/internal/pgtest"
	"github.com/wmtna/referrals/internal/postgres"
	"github.com/wmtna/referrals/internal/referral"
)

// TestMigration00011 stores referrals and therapists as they were before
// the match respected how people can meet (free-text locations, "happy
// online" as a tie-breaker), and checks what the migration makes of them:
// a location naming an area becomes that area; one naming none is kept
// for the committee in the note; nobody already waiting is held back by a
// wish that was never a condition (they meet "either" way); a therapist's
// "remote" and locations become how and where they work.
func TestMigration00011(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url, _, exec := olderDatabase(t, 10)
	refer := func(remote bool, location string) string {
		t.Helper()
		id := postgres.NewID()
		exec(`INSERT INTO referrals (id, name, email, email_key, programme, employer, training_start, concerns, request_fingerprint, pref_remote, pref_location)
			VALUES ($1, 'T', $2, $2, 'clinical', 'RXT', DATE '2025-10-01', 'c', 'fp', $3, $4)`, id, id+"@example.org", remote, location)
		return id
	}
	stoke := refer(false, "Stoke-on-Trent")
	coventryOnline := refer(true, "coventry")
	village := refer(false, "Little Snoring")
	none := refer(true, "")
	therapist := func(remote bool, locations []string) string {
		t.Helper()
		id := postgres.NewID()
		exec(`INSERT INTO therapists (id, name, email, email_key, hcpc_number, capacity, remote, locations)
			VALUES ($1, 'Dr T', $2, $2, 'PYL' || (random() * 1e6)::int, 1, $3, coalesce($4, '{}'::text[]))`, id, id+"@example.org", remote, locations)
		return id
	}
	both := therapist(true, []string{"Birmingham", "Stoke-on-Trent", "Nowhere"})
	inPerson := therapist(false, []string{"COVENTRY"})
	onlineOnly := therapist(true, nil)
	unsaid := therapist(false, nil)

	if err := postgres.Migrate(ctx, url); err != nil {
		t.Fatal(err)
	}
	db, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, c := range []struct {
		id      string
		meeting referral.Meeting
		areas   []string
		note    string
	}{
		{stoke, referral.MeetEither, []string{"stoke-on-trent"}, ""},
		{coventryOnline, referral.MeetEither, []string{"coventry"}, ""},
		{village, referral.MeetEither, nil, "Location given before areas were listed: Little Snoring"},
		{none, referral.MeetEither, nil, ""},
	} {
		r, err := db.Referral(ctx, c.id)
		if err != nil {
			t.Fatal(err)
		}
		p := r.Preferences
		if p.Meeting != c.meeting || !slices.Equal(p.Areas, c.areas) && len(p.Areas)+len(c.areas) > 0 || p.Note != c.note {
			t.Errorf("referral %s migrated to %+v, want %s %v %q", c.id, p, c.meeting, c.areas, c.note)
		}
	}
	for _, c := range []struct {
		id               string
		online, inPerson bool
		areas            []string
	}{
		{both, true, true, []string{"birmingham", "stoke-on-trent"}},
		{inPerson, false, true, []string{"coventry"}},
		{onlineOnly, true, false, nil},
		{unsaid, true, false, nil}, // they must work somehow: online, as a new entry defaults
	} {
		th, err := db.Therapist(ctx, c.id)
		if err != nil {
			t.Fatal(err)
		}
		if th.Online != c.online || th.InPerson != c.inPerson || !slices.Equal(th.Areas, c.areas) && len(th.Areas)+len(c.areas) > 0 {
			t.Errorf("therapist %s migrated to online=%v in_person=%v areas=%v, want %v %v %v", c.id, th.Online, th.InPerson, th.Areas, c.online, c.inPerson, c.areas)
		}
	}
}

// olderDatabase is a new database migrated up to version only, with a pool
// on it and exec, which fails the test on any error: for storing rows as
// an older version did, to check what later migrations make of them.
func olderDatabase(t *testing.T, version int64) (url string, raw *pgxpool.Pool, exec func(q string, args ...any)) {
	t.Helper()
	ctx := context.Background()
	url = pgtest.NewDatabase(t)
	if err := postgres.MigrateTo(ctx, url, version); err != nil {
		t.Fatal(err)
	}
	raw, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(raw.Close)
	exec = func(q string, args ...any) {
		t.Helper()
		if _, err := raw.Exec(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	return url, raw, exec
}
