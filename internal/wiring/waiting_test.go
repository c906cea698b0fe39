package wiring_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/wmtna/referrals/internal/stacktest"
)

// waitForMessage polls the outbox until a message of the kind has been
// written about the referral, n of them in all.
func waitForMessage(t *testing.T, s *stacktest.Stack, referralID, kind string, n int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		msgs, err := s.DB.Outbox(context.Background(), referralID)
		if err != nil {
			t.Fatal(err)
		}
		got := 0
		for _, m := range msgs {
			if m.Kind == kind {
				got++
			}
		}
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d %s messages after 15s, want %d", got, kind, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A waiting trainee is checked in on: "yes" keeps them waiting, silence
// closes the referral, and they are warned before their cut-off.
func TestWaitingTraineeIsCheckedInOnAndWarned(t *testing.T) {
	timings := fast
	// Real timers, on a server that cannot skip time: the test waits for
	// each check-in (its message) and for the closure, so the interval is
	// short. The grace is the one window it races: the "yes" must land
	// within it, so it is several seconds, and the closure waits it out.
	// An answer before any check-in is TestBadCheckInAnswers', where no
	// timer can open one; the workflow tests cover the timings.
	timings.CheckInInterval, timings.CheckInGrace = time.Second, 5*time.Second
	timings.LapseWarning = 100_000 * time.Hour // the cut-off is always within it: warn at once
	s := stacktest.Start(t, timings)
	chair := committeeMember(t, s)
	ref := submit(t, s, "waiting@nhs.example")
	s.WaitStatus(ref.id, "awaiting_review", 10*time.Second)
	if r := s.Do("POST", "/v1/referrals/"+ref.id+"/review", chair, map[string]any{"decision": "approve"}); r.Str("status") != "waitlisted" {
		t.Fatalf("approve with no therapist: %d %s", r.Status, r.Raw)
	}
	waitForMessage(t, s, ref.id, "trainee.lapse_warning", 1)
	waitForMessage(t, s, ref.id, "trainee.check_in", 1)
	if r := s.Do("POST", "/v1/referrals/"+ref.id+"/check-in", ref.token, map[string]any{"still_waiting": true}); r.Status != 200 || r.Str("status") != "waitlisted" {
		t.Fatalf("answer yes: %d %s", r.Status, r.Raw)
	}
	waitForMessage(t, s, ref.id, "trainee.check_in", 2)
	final := s.WaitStatus(ref.id, "closed_no_response", 15*time.Second)
	var reasons []string
	for _, e := range final.Body["events"].([]any) {
		ev := e.(map[string]any)
		reason, _ := ev["reason"].(string)
		reasons = append(reasons, ev["to"].(string)+":"+reason)
	}
	if got, want := strings.Join(reasons[3:], ","), "waitlisted:no-free-place,waitlisted:still-waiting,closed_no_response:no-response"; got != want {
		t.Errorf("events %s, want %s", got, want)
	}
	waitForMessage(t, s, ref.id, "trainee.closed_no_response", 1)
	checkHistory(t, s, ref.id, "waitlisted-checked-in-then-closed", "waiting@nhs.example")
	msgs, err := s.DB.Outbox(context.Background(), ref.id)
	if err != nil {
		t.Fatal(err)
	}
	trainee := 0
	for _, m := range msgs {
		if strings.HasPrefix(m.Kind, "trainee.") {
			trainee++
			if !strings.Contains(m.Body, "Samaritans on 116 123") && !strings.Contains(m.Body, "116 123") {
				t.Errorf("trainee message %s lacks the crisis wording", m.Kind)
			}
		}
	}
	// At least those waited for above: the warning, two check-ins, the
	// closure.
	if trainee < 4 {
		t.Errorf("%d trainee messages, want at least 4", trainee)
	}
	// The trainee can come back: a new referral with the same email is
	// accepted now the old one is closed.
	submit(t, s, "waiting@nhs.example")
}

func TestAtRiskReferralIsFlaggedForSameDayAttention(t *testing.T) {
	s := stacktest.Start(t, fast)
	chair := committeeMember(t, s)
	body := submission(s, "risk@nhs.example")
	body["at_risk"] = true
	r := s.Do("POST", "/v1/referrals", "", body)
	if r.Status != 202 || r.Body["urgent"] != true || !strings.Contains(r.Str("crisis_support"), "999") {
		t.Fatalf("at-risk submission: %d %s", r.Status, r.Raw)
	}
	id := s.MustConfirm("risk@nhs.example").Str("id")
	s.WaitStatus(id, "awaiting_review", 10*time.Second)
	waitForMessage(t, s, id, "committee.urgent", 1)
	list := s.Do("GET", "/v1/referrals?status=awaiting_review", chair, nil)
	flagged := false
	for _, v := range list.Body["referrals"].([]any) {
		m := v.(map[string]any)
		flagged = flagged || (m["id"] == id && m["urgent"] == true)
	}
	if !flagged {
		t.Errorf("the committee's list does not flag the referral: %s", list.Raw)
	}
	msgs, err := s.DB.Outbox(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	urgent := 0
	for _, m := range msgs {
		if m.Kind == "committee.urgent" {
			urgent++
			if strings.Contains(m.Body, "risk") || strings.Contains(m.Body, "harm") {
				t.Errorf("the urgent message says why: %q", m.Body)
			}
		}
	}
	if urgent == 0 {
		t.Errorf("no committee.urgent message among %d", len(msgs))
	}
	// Without the flag, nothing is urgent.
	plain := s.Do("POST", "/v1/referrals", "", submission(s, "calm@nhs.example"))
	if plain.Body["urgent"] != nil || plain.Str("crisis_support") == "" {
		t.Errorf("plain submission: %s", plain.Raw)
	}
}

// A therapist who declares a conflict of interest is never offered that
// trainee again, and the trainee is not told why.
func TestConflictOfInterestExcludesTheTherapistForGood(t *testing.T) {
	s := stacktest.Start(t, fast)
	chair := committeeMember(t, s)
	th := addTherapist(t, s, 1, 1)
	approveNew := func(email string) submitted {
		ref := submit(t, s, email)
		s.WaitStatus(ref.id, "awaiting_review", 10*time.Second)
		approve(t, s, chair, ref.id)
		return ref
	}
	first := approveNew("known@nhs.example")
	offerID, _ := offerOf(s.WaitStatus(first.id, "offered", 10*time.Second))
	if r := s.Do("POST", "/v1/offers/"+offerID+"/decline", th.token, map[string]any{"reason_code": "therapist-conflict", "reason": "I supervised them"}); r.Status != 200 {
		t.Fatalf("decline: %d %s", r.Status, r.Raw)
	}
	own := s.Do("GET", "/v1/referrals/"+first.id, first.token, nil)
	if strings.Contains(own.Raw, "conflict") || strings.Contains(own.Raw, "supervised") {
		t.Errorf("the trainee's view says why the therapist declined: %s", own.Raw)
	}
	if committee := s.Do("GET", "/v1/referrals/"+first.id, chair, nil); !strings.Contains(committee.Raw, "therapist-conflict") {
		t.Errorf("the committee's view lacks the coded reason: %s", committee.Raw)
	}
	if r := s.Do("POST", "/v1/referrals/"+first.id+"/withdraw", first.token, nil); r.Status != 200 {
		t.Fatalf("withdraw: %d %s", r.Status, r.Raw)
	}
	// The same trainee refers again: still not offered to that therapist,
	// whose place goes to someone else.
	again := approveNew("Known@NHS.example")
	s.WaitStatus(again.id, "waitlisted", 10*time.Second)
	other := approveNew("other@nhs.example")
	if _, to := offerOf(s.WaitStatus(other.id, "offered", 10*time.Second)); to != th.id {
		t.Errorf("the other trainee was offered %s", to)
	}
}

// Bad check-in answers are refused: malformed ones before they reach the
// workflow, and one to a waiting referral that has not been asked yet by
// the workflow.
func TestBadCheckInAnswers(t *testing.T) {
	timings := fast
	// Check-ins are on, the first an hour away: none is open during the
	// test, however slow the machine.
	timings.CheckInInterval, timings.CheckInGrace = time.Hour, time.Hour
	s := stacktest.Start(t, timings)
	chair := committeeMember(t, s)
	ref := submit(t, s, "answers@nhs.example")
	for _, body := range []any{map[string]any{}, map[string]any{"still_waiting": "yes"}} {
		if r := s.Do("POST", "/v1/referrals/"+ref.id+"/check-in", ref.token, body); r.Status != 422 || r.ErrorField("field") != "still_waiting" {
			t.Errorf("check-in %v: %d %s, want 422 naming still_waiting", body, r.Status, r.Raw)
		}
	}
	s.WaitStatus(ref.id, "awaiting_review", 10*time.Second)
	if r := s.Do("POST", "/v1/referrals/"+ref.id+"/review", chair, map[string]any{"decision": "approve"}); r.Str("status") != "waitlisted" {
		t.Fatalf("approve with no therapist: %d %s", r.Status, r.Raw)
	}
	if r := s.Do("POST", "/v1/referrals/"+ref.id+"/check-in", ref.token, map[string]any{"still_waiting": true}); r.Status != 409 || r.ErrorField("current_status") != "waitlisted" {
		t.Errorf("answer before any check-in: %d %s, want 409 waitlisted", r.Status, r.Raw)
	}
}
