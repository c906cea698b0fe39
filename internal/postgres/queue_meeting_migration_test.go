package postgres_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/wmtna/referrals/internal/postgres"
	"github.com/wmtna/referrals/internal/referral"
)

// TestMigration00013 checks the queue's copy of how each referral can meet,
// which the allocator's walk down the queue is indexed by: copied for the
// referrals already queued, taken when a referral joins the queue however
// it is inserted, and kept in step when the referral's preferences change
// (erasure clears its areas). A copy out of step would hide a waiting
// referral from a therapist who could take it.
func TestMigration00013(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url, raw, exec := olderDatabase(t, 11)
	refer := func(meeting string, areas []string) string {
		t.Helper()
		id := postgres.NewID()
		exec(`INSERT INTO referrals (id, name, email, email_key, programme, employer, training_start, concerns, request_fingerprint, pref_meeting, pref_areas)
			VALUES ($1, 'T', $2, $2, 'clinical', 'RXT', DATE '2025-10-01', 'c', 'fp', $3, $4)`, id, id+"@example.org", meeting, areas)
		exec(`INSERT INTO queue (referral_id, state) VALUES ($1, 'waiting')`, id)
		return id
	}
	stoke := refer("in_person", []string{"stoke-on-trent"})
	online := refer("online", []string{})
	if err := postgres.Migrate(ctx, url); err != nil {
		t.Fatal(err)
	}
	db, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	r, _, err := db.CreateReferral(ctx, submission(trainee{prefs: referral.Preferences{Meeting: referral.MeetEither, Areas: []string{"coventry"}}}, "new@example.org"), time.Now(), "", "fp")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Enqueue(ctx, r.ID); err != nil {
		t.Fatal(err)
	}
	afterwards := refer("in_person", []string{"dudley", "walsall"}) // a raw insert, as the load benchmarks do

	copyOf := func(id string) (string, []string) {
		t.Helper()
		var meeting string
		var areas []string
		if err := raw.QueryRow(ctx, `SELECT meeting, areas FROM queue WHERE referral_id = $1`, id).Scan(&meeting, &areas); err != nil {
			t.Fatal(err)
		}
		return meeting, areas
	}
	for _, c := range []struct {
		name, id, meeting string
		areas             []string
	}{
		{"queued before, in person", stoke, "in_person", []string{"stoke-on-trent"}},
		{"queued before, online", online, "online", nil},
		{"enqueued after", r.ID, "either", []string{"coventry"}},
		{"inserted after", afterwards, "in_person", []string{"dudley", "walsall"}},
	} {
		if meeting, areas := copyOf(c.id); meeting != c.meeting || !slices.Equal(orNil(areas), c.areas) {
			t.Errorf("%s: queue has %s %v, want %s %v", c.name, meeting, areas, c.meeting, c.areas)
		}
	}

	exec(`UPDATE referrals SET pref_meeting = 'online', pref_areas = '{}' WHERE id = $1`, stoke)
	if meeting, areas := copyOf(stoke); meeting != "online" || len(areas) != 0 {
		t.Errorf("after the referral's preferences changed, queue has %s %v, want online []", meeting, areas)
	}
}
