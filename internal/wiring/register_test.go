package wiring_test

import (
	"context"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/wmtna/referrals/internal/referral"
	"github.com/wmtna/referrals/internal/stacktest"
	"github.com/wmtna/referrals/workflows"
)

// meeting is an eligible submission that can meet a therapist as given.
func meeting(s *stacktest.Stack, email string, prefs map[string]any) map[string]any {
	b := submission(s, email)
	b["preferences"] = prefs
	return b
}

// TestEveryOfferIsOneTheTraineeCanTakeUp walks the case through the
// API: a trainee who can meet only in person in Stoke-on-Trent, approved
// when the only therapist sees people in person in Birmingham only, waits
// (flagged: nobody on the register can take them) instead of being offered
// a therapist they cannot reach; once the therapist adds Stoke-on-Trent to
// their own availability, the place is offered at once.
func TestEveryOfferIsOneTheTraineeCanTakeUp(t *testing.T) {
	s := stacktest.Start(t, fast)
	chair := committeeMember(t, s)

	// The committee, not an operator, adds the therapist.
	r := s.Do("POST", "/v1/therapists", chair, map[string]any{
		"name": "Dr Birmingham", "email": "brum@example.org", "hcpc_number": "PYL04242", "capacity": 2,
		"disciplines": []string{"clinical"}, "online": false, "in_person": true, "areas": []string{"birmingham"},
	})
	if r.Status != 201 {
		t.Fatalf("committee adds a therapist: %d %s", r.Status, r.Raw)
	}
	th := therapist{r.Str("id"), r.Str("token")}

	stoke := submitMeeting(t, s, "stoke@nhs.example", map[string]any{"meeting": "in_person", "areas": []string{"stoke-on-trent"}})
	online := submitMeeting(t, s, "online@nhs.example", map[string]any{"meeting": "online"})
	for _, ref := range []submitted{stoke, online} {
		s.WaitStatus(ref.id, "awaiting_review", 10*time.Second)
		approve(t, s, chair, ref.id)
		s.WaitStatus(ref.id, "waitlisted", 10*time.Second)
	}

	// The committee sees that nobody on the register can take either.
	w := s.Do("GET", "/v1/waitlist", chair, nil)
	list, _ := w.Body["waitlist"].([]any)
	if len(list) != 2 {
		t.Fatalf("waitlist: %s", w.Raw)
	}
	for _, e := range list {
		if n := e.(map[string]any)["therapists"]; n != float64(0) {
			t.Errorf("waiting referral shows %v therapists who could take it, want 0: %s", n, w.Raw)
		}
	}
	// So does the trainee, without a promised date.
	mine := s.Do("GET", "/v1/referrals/"+stoke.id, stoke.token, nil)
	st, _ := mine.Body["standing"].(map[string]any)
	if st == nil || st["therapists"] != float64(0) || st["ahead"] != float64(0) {
		t.Errorf("trainee's standing = %v, want 0 therapists and nobody ahead", mine.Body["standing"])
	}

	// A therapist may change only their own availability.
	other := addTherapist(t, s, 7, 0)
	if r := s.Do("PATCH", "/v1/therapists/"+th.id+"/availability", other.token, map[string]any{"capacity": 5}); r.Status != 404 {
		t.Errorf("another therapist changes Dr Birmingham's availability: %d %s, want 404", r.Status, r.Raw)
	}
	// Bad input is refused naming the field, and changes nothing.
	for _, c := range []struct {
		body  map[string]any
		field string
	}{
		{map[string]any{"areas": []string{"atlantis"}}, "areas"},
		{map[string]any{"capacity": 51}, "capacity"},
		{map[string]any{"away_until": "2020-01-01"}, "away_until"},
		{map[string]any{"away_until": "3 March"}, "away_until"},
		{map[string]any{"online": false, "in_person": false}, "online"},
	} {
		if r := s.Do("PATCH", "/v1/therapists/"+th.id+"/availability", th.token, c.body); r.Status != 422 || r.ErrorField("field") != c.field {
			t.Errorf("availability %v: %d %s, want 422 naming %s", c.body, r.Status, r.Raw, c.field)
		}
	}
	if s.Recorded(stoke.id) != referral.StatusWaitlisted {
		t.Fatalf("a refused change moved the waitlist")
	}

	// The therapist starts seeing people in Stoke-on-Trent too: the
	// in-person trainee is offered at once; the online-only one still waits.
	r = s.Do("PATCH", "/v1/therapists/"+th.id+"/availability", th.token, map[string]any{"areas": []string{"birmingham", "stoke-on-trent"}})
	if r.Status != 200 {
		t.Fatalf("therapist adds an area: %d %s", r.Status, r.Raw)
	}
	offered := s.WaitStatus(stoke.id, "offered", 10*time.Second)
	if _, tid := offerOf(offered); tid != th.id {
		t.Errorf("offered to %s, want %s", tid, th.id)
	}
	if got := s.Do("GET", "/v1/referrals/"+online.id, admin, nil).Str("status"); got != "waitlisted" {
		t.Errorf("the online-only trainee is %s, want still waitlisted: the therapist does not work online", got)
	}

	// Every change is in the register's history, with who made it.
	h := s.Do("GET", "/v1/register/history?entity=therapist&id="+th.id, chair, nil)
	changes, _ := h.Body["changes"].([]any)
	if len(changes) != 2 {
		t.Fatalf("history: %s, want the therapist's change and their adding", h.Raw)
	}
	latest := changes[0].(map[string]any)
	if latest["action"] != "changed" || latest["actor"] != "therapist:"+th.id {
		t.Errorf("latest change %v, want changed by the therapist", latest)
	}
	if _, ok := latest["changes"].(map[string]any)["areas"]; !ok {
		t.Errorf("latest change %v does not say the areas changed", latest)
	}
	if first := changes[1].(map[string]any); first["action"] != "added" || first["actor"] == "therapist:"+th.id {
		t.Errorf("first change %v, want added by the committee", first)
	}
}

func submitMeeting(t *testing.T, s *stacktest.Stack, email string, prefs map[string]any) submitted {
	t.Helper()
	ref, err := trySubmit(s, meeting(s, email, prefs))
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

// TestAwayTherapistComesBackOnTheirDay pauses a therapist until a day and
// checks the durable return: a Temporal workflow per therapist and day,
// which brings them back and offers their place to the waitlist. The day
// given through the API is tomorrow at the earliest, so the return itself
// is run here as the timer would run it on the day, from a workflow
// started for today.
func TestAwayTherapistComesBackOnTheirDay(t *testing.T) {
	s := stacktest.Start(t, fast)
	ctx := context.Background()
	chair := committeeMember(t, s)
	th := addTherapist(t, s, 1, 1)

	tomorrow := referral.DateOf(s.Now()).AddDays(1)
	r := s.Do("PATCH", "/v1/therapists/"+th.id+"/availability", th.token, map[string]any{"away_until": tomorrow.String()})
	if r.Status != 200 || r.Str("status") != "away" || r.Str("away_until") != tomorrow.String() || r.Body["free_places"] != float64(0) {
		t.Fatalf("away until tomorrow: %d %s", r.Status, r.Raw)
	}
	// The timer is in Temporal, not in this process.
	desc, err := s.Client.DescribeWorkflowExecution(ctx, workflows.TherapistReturnWorkflowID(th.id, tomorrow), "")
	if err != nil {
		t.Fatalf("no return timer for tomorrow: %v", err)
	}
	if st := desc.WorkflowExecutionInfo.Status.String(); st != "Running" {
		t.Errorf("return timer is %s, want running", st)
	}

	ref := submit(t, s, "waiting@nhs.example")
	s.WaitStatus(ref.id, "awaiting_review", 10*time.Second)
	approve(t, s, chair, ref.id)
	s.WaitStatus(ref.id, "waitlisted", 10*time.Second)

	// A timer for another day finds them not away until it: nothing changes.
	// Temporal's clock is the real one (the service's may be moved by
	// WMTNA_TEST_CLOCK), so "today" for a timer is the real day.
	today := referral.DateOf(time.Now())
	run := func(day referral.Date) workflows.TherapistReturnResult {
		t.Helper()
		wr, err := s.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: workflows.TherapistReturnWorkflowID(th.id, day), TaskQueue: workflows.TaskQueue},
			workflows.TherapistReturnWorkflowName, workflows.TherapistReturnInput{TherapistID: th.id, Until: day})
		if err != nil {
			t.Fatal(err)
		}
		var res workflows.TherapistReturnResult
		if err := wr.Get(ctx, &res); err != nil {
			t.Fatal(err)
		}
		return res
	}
	if res := run(today); res.Back {
		t.Fatalf("a stale timer brought the therapist back")
	}
	if got := s.Do("GET", "/v1/therapists/"+th.id, th.token, nil).Str("status"); got != "away" {
		t.Fatalf("after a stale timer the therapist is %s, want away", got)
	}
	// On the day itself they come back, and the waiting referral is offered.
	// (The pause is moved to today in the store, as only a timer that has
	// waited could find it.)
	if _, err := s.DB.PauseTherapist(ctx, referral.Principal{Role: referral.RoleCommittee, Subject: "test"}, th.id, &today); err != nil {
		t.Fatal(err)
	}
	if res := run(today); !res.Back {
		t.Fatalf("the timer for their day did not bring them back")
	}
	recordWorkflow(t, s, workflows.TherapistReturnWorkflowID(th.id, today), "therapist-back-on-their-day")
	s.WaitStatus(ref.id, "offered", 10*time.Second)
	if got := s.Do("GET", "/v1/therapists/"+th.id, th.token, nil); got.Str("status") != "active" || got.Str("away_until") != "" {
		t.Errorf("after their day: %s, want active", got.Raw)
	}
	h := s.Do("GET", "/v1/register/history?entity=therapist&id="+th.id, chair, nil)
	latest := h.Body["changes"].([]any)[0].(map[string]any)
	if latest["action"] != "back" || latest["actor"] != "system:away-until" {
		t.Errorf("latest change %v, want back, by the automatic return", latest)
	}
}

// TestRetiredTherapistKeepsClientsAndTakesNoOne: retiring takes a therapist
// off the register for new offers while their current client stays.
func TestRetiredTherapistKeepsClientsAndTakesNoOne(t *testing.T) {
	s := stacktest.Start(t, fast)
	chair := committeeMember(t, s)
	th := addTherapist(t, s, 1, 2)
	first := submit(t, s, "first@nhs.example")
	s.WaitStatus(first.id, "awaiting_review", 10*time.Second)
	approve(t, s, chair, first.id)
	o, _ := offerOf(s.WaitStatus(first.id, "offered", 10*time.Second))
	if r := s.Do("POST", "/v1/offers/"+o+"/accept", th.token, nil); r.Status != 200 {
		t.Fatalf("accept: %d %s", r.Status, r.Raw)
	}
	if r := s.Do("POST", "/v1/therapists/"+th.id+"/retire", th.token, map[string]any{}); r.Status != 403 {
		t.Errorf("a therapist retires themselves: %d, want 403 (the committee keeps the register)", r.Status)
	}
	r := s.Do("POST", "/v1/therapists/"+th.id+"/retire", chair, map[string]any{})
	if r.Status != 200 || r.Str("status") != "retired" || r.Body["free_places"] != float64(0) || r.Body["places_used"] != float64(1) {
		t.Fatalf("retire: %d %s", r.Status, r.Raw)
	}
	second := submit(t, s, "second@nhs.example")
	s.WaitStatus(second.id, "awaiting_review", 10*time.Second)
	approve(t, s, chair, second.id)
	s.WaitStatus(second.id, "waitlisted", 10*time.Second)
	if got := s.Do("GET", "/v1/referrals/"+first.id, admin, nil).Str("status"); got != "matched" {
		t.Errorf("the retired therapist's client is %s, want still matched", got)
	}
	// A retired therapist still signs in to see their client through.
	if r := s.Do("POST", "/v1/referrals/"+first.id+"/end", th.token, nil); r.Status != 200 {
		t.Errorf("retired therapist ends therapy: %d %s", r.Status, r.Raw)
	}
}

// An area the committee no longer offers cannot be newly chosen, by a
// trainee or a therapist, but stays with a therapist who had it.
func TestAreaNoLongerOfferedStaysWithThoseWhoChoseIt(t *testing.T) {
	s := stacktest.Start(t, fast)
	chair := committeeMember(t, s)
	th := addTherapist(t, s, 1, 1) // in person in Birmingham
	if r := s.Do("PUT", "/v1/areas/birmingham", chair, map[string]any{"name": "Birmingham", "active": false}); r.Status != 200 || r.Body["active"] != false {
		t.Fatalf("stop offering Birmingham: %d %s", r.Status, r.Raw)
	}
	if r := s.Do("PATCH", "/v1/therapists/"+th.id+"/availability", th.token, map[string]any{"areas": []string{"birmingham", "solihull"}}); r.Status != 200 {
		t.Errorf("a therapist keeps an area they had: %d %s", r.Status, r.Raw)
	}
	// One who never had it cannot add it to their areas.
	r := s.Do("POST", "/v1/therapists", chair, map[string]any{"name": "Dr Solihull", "email": "sol@example.org", "hcpc_number": "PYL78", "capacity": 1,
		"in_person": true, "areas": []string{"solihull"}})
	if r.Status != 201 {
		t.Fatalf("add Dr Solihull: %d %s", r.Status, r.Raw)
	}
	if r := s.Do("PATCH", "/v1/therapists/"+r.Str("id")+"/availability", r.Str("token"), map[string]any{"areas": []string{"solihull", "birmingham"}}); r.Status != 422 || r.ErrorField("field") != "areas" {
		t.Errorf("a therapist newly chooses an area no longer offered: %d %s, want 422 naming areas", r.Status, r.Raw)
	}
	r = s.Do("POST", "/v1/therapists", chair, map[string]any{"name": "Dr New", "email": "new@example.org", "hcpc_number": "PYL77", "capacity": 1,
		"in_person": true, "areas": []string{"birmingham"}})
	if r.Status != 422 || r.ErrorField("field") != "areas" {
		t.Errorf("a new therapist chooses an area no longer offered: %d %s, want 422 naming areas", r.Status, r.Raw)
	}
	body := meeting(s, "late@nhs.example", map[string]any{"meeting": "in_person", "areas": []string{"birmingham"}})
	if r := s.Do("POST", "/v1/referrals", "", body); r.Status != 422 || r.ErrorField("field") != "preferences.areas" {
		t.Errorf("a trainee chooses an area no longer offered: %d %s, want 422 naming preferences.areas", r.Status, r.Raw)
	}
	if r := s.Do("PUT", "/v1/areas/Not_A_Code", chair, map[string]any{"name": "X"}); r.Status != 422 || r.ErrorField("field") != "code" {
		t.Errorf("an area with a bad code: %d %s, want 422 naming code", r.Status, r.Raw)
	}
}
