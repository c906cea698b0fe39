package wiring_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wmtna/referrals/internal/referral"
	"github.com/wmtna/referrals/internal/stacktest"
)

// reasons lists a referral's events as to:reason, oldest first.
func reasons(r stacktest.Response) []string {
	var out []string
	for _, e := range r.Body["events"].([]any) {
		ev := e.(map[string]any)
		reason, _ := ev["reason"].(string)
		out = append(out, ev["to"].(string)+":"+reason)
	}
	return out
}

// TestPausedPlaceIsPassedOverThenResumed: through the API, a waiting
// trainee pauses their place; a place freed meanwhile goes to the next in
// line; they are reminded before the pause ends; resumed, they are first
// for the next place.
func TestPausedPlaceIsPassedOverThenResumed(t *testing.T) {
	// The pause ends at the start of a day; the reminder is due a few
	// seconds after the pause is taken, so it is timed from that day.
	until := referral.DateOf(time.Now()).AddDays(1)
	if time.Until(until.Start()) < time.Minute {
		until = until.AddDays(1)
	}
	timings := fast
	timings.PauseReminder = time.Until(until.Start()) - 8*time.Second
	s := stacktest.Start(t, timings)
	chair := committeeMember(t, s)
	first := submit(t, s, "paused@nhs.example")
	s.WaitStatus(first.id, "awaiting_review", 10*time.Second)
	approve(t, s, chair, first.id)
	s.WaitStatus(first.id, "waitlisted", 10*time.Second)

	pause := "/v1/referrals/" + first.id + "/pause"
	for _, bad := range []struct {
		body   any
		status int
		field  string
	}{
		{map[string]any{}, 422, "until"},
		{map[string]any{"until": "next week"}, 422, "until"},
		{map[string]any{"until": referral.DateOf(time.Now()).String()}, 422, "until"},
		{map[string]any{"until": referral.DateOf(time.Now()).AddDays(12*7 + 1).String()}, 422, "until"},
		{map[string]any{"until": until.String(), "why": "exams"}, 422, "why"},
	} {
		if r := s.Do("POST", pause, first.token, bad.body); r.Status != bad.status || !strings.Contains(r.Raw, `"`+bad.field+`"`) {
			t.Errorf("pause %v: %d %s, want %d naming %s", bad.body, r.Status, r.Raw, bad.status, bad.field)
		}
	}
	if r := s.Do("POST", pause, chair, map[string]any{"until": until.String()}); r.Status != 403 {
		t.Errorf("the committee pauses a trainee's place: %d %s, want 403", r.Status, r.Raw)
	}
	if r := s.Do("POST", "/v1/referrals/"+first.id+"/resume", first.token, nil); r.Status != 409 {
		t.Errorf("resume when not paused: %d %s, want 409", r.Status, r.Raw)
	}
	r := s.Do("POST", pause, first.token, map[string]any{"until": until.String()})
	if r.Status != 200 || r.Str("status") != "waitlisted" || r.Str("paused_until") != until.String() {
		t.Fatalf("pause: %d %s", r.Status, r.Raw)
	}
	if r := s.Do("POST", pause, first.token, map[string]any{"until": until.String()}); r.Status != 409 {
		t.Errorf("pause twice: %d %s, want 409", r.Status, r.Raw)
	}
	second := submit(t, s, "next@nhs.example")
	if r := s.Do("POST", "/v1/referrals/"+second.id+"/pause", first.token, map[string]any{"until": until.String()}); r.Status != 404 {
		t.Errorf("pausing someone else's referral: %d %s, want 404", r.Status, r.Raw)
	}

	// A place is freed while the first is paused: it goes to the second.
	th := s.Do("POST", "/v1/therapists", chair, map[string]any{"name": "Dr Pause", "email": "pause@example.org", "hcpc_number": "PYL515", "capacity": 1})
	if th.Status != 201 {
		t.Fatalf("add therapist: %d %s", th.Status, th.Raw)
	}
	s.WaitStatus(second.id, "awaiting_review", 10*time.Second)
	approve(t, s, chair, second.id)
	s.WaitStatus(second.id, "offered", 10*time.Second)
	w := s.Do("GET", "/v1/waitlist", chair, nil)
	if list, _ := w.Body["waitlist"].([]any); len(list) != 1 || list[0].(map[string]any)["paused_until"] != until.String() {
		t.Errorf("the waiting list does not show the pause: %s", w.Raw)
	}
	if got := s.Do("GET", "/v1/referrals/"+first.id, first.token, nil); got.Str("status") != "waitlisted" ||
		got.Body["standing"].(map[string]any)["paused_until"] != until.String() {
		t.Errorf("paused referral: %s", got.Raw)
	}

	waitForMessage(t, s, first.id, "trainee.pause_ending", 1)
	if r := s.Do("POST", "/v1/referrals/"+first.id+"/resume", first.token, nil); r.Status != 200 || r.Str("status") != "waitlisted" || r.Str("paused_until") != "" {
		t.Fatalf("resume: %d %s", r.Status, r.Raw)
	}
	// The next place is the first's: they never lost their position.
	if r := s.Do("PATCH", "/v1/therapists/"+th.Str("id")+"/availability", chair, map[string]any{"capacity": 2}); r.Status != 200 {
		t.Fatalf("raise capacity: %d %s", r.Status, r.Raw)
	}
	final := s.WaitStatus(first.id, "offered", 10*time.Second)
	want := []string{"waitlisted:no-free-place", "waitlisted:paused", "waitlisted:resumed", "offered:place-reserved"}
	if got := reasons(final); len(got) < 4 || !slices.Equal(got[len(got)-4:], want) {
		t.Errorf("events %v, want them to end %v", got, want)
	}
	checkHistory(t, s, first.id, "waitlisted-paused-then-resumed", "paused@nhs.example")
}
