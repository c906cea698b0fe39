package wiring_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"

	"github.com/wmtna/referrals/internal/referral"
	"github.com/wmtna/referrals/internal/wiring"

	"github.com/wmtna/referrals/internal/pgtest"
	"github.com/wmtna/referrals/internal/stacktest"
	"github.com/wmtna/referrals/workflows"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const admin = stacktest.AdminToken

var fast = workflows.Timings{ReviewReminder: time.Hour, OfferTTL: time.Hour, WaitlistRecheck: time.Hour}

const concerns = "Struggling with imposter feelings after a difficult placement supervision"

// submission is a referral that is eligible on the stack's clock: its
// training start is derived from that day (stacktest.TrainingStart).
func submission(s *stacktest.Stack, email string) map[string]any {
	return map[string]any{
		"name": "Priya Example", "email": email, "programme": "clinical", "employer": "RXT",
		"training_start": s.TrainingMonth(), "concerns": concerns,
		"preferences": map[string]any{"meeting": "either", "areas": []string{"birmingham"}}, "consent": true,
	}
}

func committeeMember(t *testing.T, s *stacktest.Stack) string {
	r := s.Do("POST", "/v1/committee-members", admin, map[string]any{"name": "Chair Person", "email": "chair@example.org", "role": "chair"})
	if r.Status != 201 || r.Str("token") == "" {
		t.Fatalf("create committee member: %d %s", r.Status, r.Raw)
	}
	return r.Str("token")
}

type therapist struct{ id, token string }

func addTherapist(t *testing.T, s *stacktest.Stack, n, capacity int) therapist {
	r := s.Do("POST", "/v1/therapists", admin, map[string]any{
		"name": fmt.Sprintf("Dr Therapist %d", n), "email": fmt.Sprintf("t%d@example.org", n), "hcpc_number": fmt.Sprintf("PYL%05d", n),
		"capacity": capacity, "online": true, "in_person": true, "areas": []string{"birmingham"},
	})
	if r.Status != 201 {
		t.Fatalf("create therapist: %d %s", r.Status, r.Raw)
	}
	return therapist{r.Str("id"), r.Str("token")}
}

// approve has the committee member approve the referral, and fails the
// test unless the API accepts.
func approve(t *testing.T, s *stacktest.Stack, chair, id string) {
	t.Helper()
	if r := s.Do("POST", "/v1/referrals/"+id+"/review", chair, map[string]any{"decision": "approve"}); r.Status != 200 {
		t.Fatalf("approve: %d %s", r.Status, r.Raw)
	}
}

type submitted struct {
	id, token string
	start     referral.Date // the training start it was submitted with
}

func submit(t *testing.T, s *stacktest.Stack, email string) submitted {
	t.Helper()
	ref, err := trySubmit(s, submission(s, email))
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

// trySubmit refers a trainee with body, confirming from the emailed link,
// and reports, rather than fails on, anything but a referral with an id and
// a token: it may run in any goroutine.
func trySubmit(s *stacktest.Stack, body map[string]any) (submitted, error) {
	start, err := referral.ParseMonth(body["training_start"].(string))
	if err != nil {
		return submitted{}, err
	}
	r, err := s.Refer(body)
	if err != nil {
		return submitted{}, err
	}
	return submitted{r.Str("id"), r.Str("token"), start}, nil
}

func offerOf(r stacktest.Response) (offerID, therapistID string) {
	o, _ := r.Body["offer"].(map[string]any)
	id, _ := o["id"].(string)
	th, _ := o["therapist_id"].(string)
	return id, th
}

func TestReferralLifecycleThroughTheAPI(t *testing.T) {
	s := stacktest.Start(t, fast)
	chair := committeeMember(t, s)
	th := addTherapist(t, s, 1, 1)

	began := time.Now()
	ref := submit(t, s, "priya@nhs.example")
	s.WaitStatus(ref.id, "awaiting_review", 10*time.Second)
	t.Logf("submission to awaiting_review: %s", time.Since(began))
	// A second referral from the same address answers as a new one does,
	// and its owner is told by email instead: checkHistory scans every log,
	// PostgreSQL's included, for the address.
	if r := s.Do("POST", "/v1/referrals", "", submission(s, "priya@nhs.example")); r.Status != 202 || r.Str("status") != "confirmation_sent" {
		t.Fatalf("duplicate: %d %s, want 202 confirmation_sent", r.Status, r.Raw)
	}
	if _, err := s.LastEmail(context.Background(), "priya@nhs.example", "You already have an open referral"); err != nil {
		t.Fatal(err)
	}
	if got := s.Recorded(ref.id); got != referral.StatusAwaitingReview {
		t.Errorf("the stack saw %q recorded last, want awaiting_review", got)
	}

	// The trainee sees their own referral, and no one else's. The cut-off
	// is the rule's for the training start the trainee gave, and lies ahead
	// of the day of submission.
	cutoff := referral.Cutoff(ref.start, nil)
	if today := referral.DateOf(s.Now()); !today.Before(cutoff) {
		t.Fatalf("the test's training start %s is past its cut-off %s on %s", ref.start, cutoff, today)
	}
	own := s.Do("GET", "/v1/referrals/"+ref.id, ref.token, nil)
	if own.Status != 200 || own.Str("concerns") != concerns || own.Str("cutoff") != cutoff.String() {
		t.Fatalf("trainee's view: %d %s, want cut-off %s", own.Status, own.Raw, cutoff)
	}
	other := submit(t, s, "someone.else@nhs.example")
	if r := s.Do("GET", "/v1/referrals/"+other.id, ref.token, nil); r.Status != 404 {
		t.Errorf("trainee reading another referral: %d, want 404", r.Status)
	}
	if r := s.Do("POST", "/v1/referrals/"+ref.id+"/review", ref.token, map[string]any{"decision": "approve"}); r.Status != 403 {
		t.Errorf("trainee approving: %d, want 403", r.Status)
	}
	list := s.Do("GET", "/v1/referrals?status=awaiting_review", chair, nil)
	if list.Status != 200 || !strings.Contains(list.Raw, ref.id) {
		t.Fatalf("committee list: %d %s", list.Status, list.Raw)
	}

	began = time.Now()
	approve(t, s, chair, ref.id)
	offered := s.WaitStatus(ref.id, "offered", 10*time.Second)
	t.Logf("approval to offer: %s", time.Since(began))
	again := s.Do("POST", "/v1/referrals/"+ref.id+"/review", chair, map[string]any{"decision": "approve"})
	if again.Status != 409 || again.ErrorField("current_status") != "offered" {
		t.Errorf("second approval: %d %s, want 409 naming the current status", again.Status, again.Raw)
	}

	offerID, therapistID := offerOf(offered)
	if therapistID != th.id {
		t.Fatalf("offered to %q, want %q", therapistID, th.id)
	}
	offers := s.Do("GET", "/v1/offers", th.token, nil)
	if offers.Status != 200 || !strings.Contains(offers.Raw, offerID) || strings.Contains(offers.Raw, "Priya") {
		t.Fatalf("therapist's offers: %d %s", offers.Status, offers.Raw)
	}
	before := s.Do("GET", "/v1/referrals/"+ref.id, th.token, nil)
	if before.Status != 200 || before.Str("concerns") != "" || before.Str("name") != "" {
		t.Errorf("therapist sees personal details before accepting: %s", before.Raw)
	}
	if r := s.Do("POST", "/v1/offers/"+offerID+"/accept", th.token, nil); r.Status != 200 || r.Str("status") != "matched" {
		t.Fatalf("accept: %d %s", r.Status, r.Raw)
	}
	after := s.Do("GET", "/v1/referrals/"+ref.id, th.token, nil)
	if after.Str("concerns") != concerns {
		t.Errorf("therapist does not see the concerns after accepting: %s", after.Raw)
	}
	if r := s.Do("POST", "/v1/referrals/"+ref.id+"/end", th.token, map[string]any{"reason": "completed 12 sessions"}); r.Status != 200 || r.Str("status") != "ended" {
		t.Fatalf("end: %d %s", r.Status, r.Raw)
	}
	s.WaitStatus(ref.id, "ended", 10*time.Second)
	// The load benchmark's simulated people go by what the stack's
	// interceptor saw recorded: it must follow the referral's status.
	if got := s.Recorded(ref.id); got != referral.StatusEnded {
		t.Errorf("the stack saw %q recorded last, want ended", got)
	}
	if r := s.Do("POST", "/v1/referrals/"+ref.id+"/withdraw", ref.token, nil); r.Status != 409 || r.ErrorField("current_status") != "ended" {
		t.Errorf("withdraw after the end: %d %s, want 409 ended", r.Status, r.Raw)
	}

	// The timeline is complete and in order.
	final := s.Do("GET", "/v1/referrals/"+ref.id, admin, nil)
	var path []string
	for _, e := range final.Body["events"].([]any) {
		path = append(path, e.(map[string]any)["to"].(string))
	}
	if got, want := strings.Join(path, ","), "submitted,awaiting_review,matching,offered,matched,ended"; got != want {
		t.Errorf("events %s, want %s", got, want)
	}

	// Messages: one per lifecycle event and recipient, none naming concerns.
	msgs, err := s.DB.Outbox(context.Background(), ref.id)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, m := range msgs {
		kinds[m.Kind]++
		if strings.Contains(m.Body, "imposter") || strings.Contains(m.Subject, "imposter") {
			t.Errorf("message %s names the concerns", m.Key)
		}
	}
	for kind, n := range map[string]int{"committee.review": 1, "trainee.awaiting_review": 1, "therapist.offered": 1, "therapist.matched": 1, "trainee.matched": 1, "trainee.ended": 1} {
		if kinds[kind] != n {
			t.Errorf("%d %s messages, want %d (all: %v)", kinds[kind], kind, n, kinds)
		}
	}

	checkHistory(t, s, ref.id, "matched-then-ended")

	// Every read and change of the referral is in the audit log, refused
	// attempts included, with who did it.
	trail, err := s.DB.AuditTrail(context.Background(), ref.id)
	if err != nil {
		t.Fatal(err)
	}
	var audit []string
	for _, e := range trail {
		audit = append(audit, fmt.Sprintf("%s %s %d", strings.SplitN(e.Actor, ":", 2)[0], e.Action, e.Status))
	}
	for _, want := range []string{"anonymous confirm 201", "trainee read 200", "trainee review 403", "committee review 200",
		"committee review 409", "therapist read 200", "therapist accept 200", "therapist end 200", "trainee withdraw 409", "operator read 200"} {
		if !slices.Contains(audit, want) {
			t.Errorf("audit trail lacks %q: %v", want, audit)
		}
	}

	// Operators filter referrals by status in Temporal's visibility.
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := s.Client.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: s.Temporal.GetDefaultNamespace(), Query: `ReferralStatus = "ended"`,
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.GetExecutions()) == 1 && resp.GetExecutions()[0].GetExecution().GetWorkflowId() == workflows.WorkflowID(ref.id) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ReferralStatus = \"ended\" lists %d workflows", len(resp.GetExecutions()))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestLifecyclePastJuly2028 runs the service as of 1 September 2028: past
// 1 July 2028, the cut-off of the October 2025 training start the tests
// once all used. The trainee's dates come from the service's clock, the
// submission is stamped by it, and eligibility is judged on that day, so
// a referral still goes through eligibility, review and approval; and an
// October 2025 start is refused as past its cut-off.
func TestLifecyclePastJuly2028(t *testing.T) {
	day := referral.Date{Year: 2028, Month: time.September, Day: 1}
	s := stacktest.Start(t, fast, stacktest.WithClock(stacktest.ShiftedClock(day)))
	if today := referral.DateOf(s.Now()); today != day {
		t.Fatalf("the stack's clock reads %s, want %s", today, day)
	}
	chair := committeeMember(t, s)
	th := addTherapist(t, s, 1, 1)

	ref := submit(t, s, "late.starter@nhs.example")
	cutoff := referral.Cutoff(ref.start, nil)
	if bomb := (referral.Date{Year: 2028, Month: time.July, Day: 1}); !bomb.Before(day) || !day.Before(cutoff) {
		t.Fatalf("training start %s: cut-off %s, want one after %s, itself after %s", ref.start, cutoff, day, bomb)
	}
	r := s.WaitStatus(ref.id, "awaiting_review", 10*time.Second)
	if r.Str("cutoff") != cutoff.String() {
		t.Errorf("cut-off %q, want %s: %s", r.Str("cutoff"), cutoff, r.Raw)
	}
	stored, err := s.DB.Referral(context.Background(), ref.id)
	if err != nil {
		t.Fatal(err)
	}
	if got := referral.DateOf(stored.SubmittedAt); got != day {
		t.Errorf("submitted on %s (%s), want %s by the service's clock", got, stored.SubmittedAt, day)
	}
	approved := s.Do("POST", "/v1/referrals/"+ref.id+"/review", chair, map[string]any{"decision": "approve"})
	if approved.Status != 200 || approved.Str("status") != "offered" || approved.Str("therapist_id") != th.id {
		t.Fatalf("approve: %d %s, want an offer", approved.Status, approved.Raw)
	}
	s.WaitStatus(ref.id, "offered", 10*time.Second)

	// The old fixed start is past its cut-off on this day.
	old := submission(s, "october.2025@nhs.example")
	old["training_start"] = "2025-10"
	late, err := trySubmit(s, old)
	if err != nil {
		t.Fatal(err)
	}
	refused := s.WaitStatus(late.id, "ineligible", 10*time.Second)
	if e, _ := refused.Body["eligibility"].(map[string]any); e["reason"] != referral.ReasonPastCutoff || refused.Str("cutoff") != "2028-07-01" {
		t.Errorf("an October 2025 start on %s: %s, want %s with cut-off 2028-07-01", day, refused.Raw, referral.ReasonPastCutoff)
	}
}

func TestWaitlistIsFirstComeFirstServed(t *testing.T) {
	s := stacktest.Start(t, fast)
	chair := committeeMember(t, s)
	first := addTherapist(t, s, 1, 1)
	var refs []submitted
	for i := range 3 {
		ref := submit(t, s, fmt.Sprintf("trainee%d@nhs.example", i))
		s.WaitStatus(ref.id, "awaiting_review", 10*time.Second)
		approve(t, s, chair, ref.id)
		refs = append(refs, ref)
	}
	a, b, c := refs[0], refs[1], refs[2]
	offerA, _ := offerOf(s.WaitStatus(a.id, "offered", 10*time.Second))
	s.WaitStatus(b.id, "waitlisted", 10*time.Second)
	s.WaitStatus(c.id, "waitlisted", 10*time.Second)

	// A's therapist declines: the place goes to B, who waited longest among
	// those the therapist may take; A goes back to waiting, ahead of C.
	if r := s.Do("POST", "/v1/offers/"+offerA+"/decline", first.token, map[string]any{"reason_code": "therapist-capacity", "reason": "full this term"}); r.Status != 200 {
		t.Fatalf("decline: %d %s", r.Status, r.Raw)
	}
	if _, th := offerOf(s.WaitStatus(b.id, "offered", 10*time.Second)); th != first.id {
		t.Errorf("B offered to %s, want the first therapist", th)
	}
	s.WaitStatus(a.id, "waitlisted", 10*time.Second)

	// A new therapist's place goes to A, not to C who came later.
	second := addTherapist(t, s, 2, 1)
	if _, th := offerOf(s.WaitStatus(a.id, "offered", 10*time.Second)); th != second.id {
		t.Errorf("A offered to %s, want the second therapist", th)
	}
	if r := s.Do("GET", "/v1/referrals/"+c.id, admin, nil); r.Str("status") != "waitlisted" {
		t.Errorf("C is %s, want waitlisted", r.Str("status"))
	}

	// C withdraws from the waitlist.
	if r := s.Do("POST", "/v1/referrals/"+c.id+"/withdraw", c.token, nil); r.Status != 200 || r.Str("status") != "withdrawn" {
		t.Fatalf("withdraw: %d %s", r.Status, r.Raw)
	}
	checkHistory(t, s, c.id, "withdrawn-from-waitlist")

	// A accepts the place that came from the waitlist.
	offerA2, _ := offerOf(s.Do("GET", "/v1/referrals/"+a.id, admin, nil))
	if r := s.Do("POST", "/v1/offers/"+offerA2+"/accept", second.token, nil); r.Status != 200 || r.Str("status") != "matched" {
		t.Fatalf("accept from the waitlist: %d %s", r.Status, r.Raw)
	}
	checkHistory(t, s, a.id, "declined-waitlisted-matched")
}

func TestUnansweredOfferExpiresToTheNextTherapist(t *testing.T) {
	timings := fast
	// A real timer: the expiry is what is tested, on a real server that
	// cannot skip time. The test waits for it (waitlisted) and races
	// nothing: the offer is read from the approval's answer, not caught
	// while it is open. The workflow tests cover the TTL itself.
	timings.OfferTTL = 2 * time.Second
	s := stacktest.Start(t, timings)
	chair := committeeMember(t, s)
	slow := addTherapist(t, s, 1, 1)
	ref := submit(t, s, "trainee@nhs.example")
	s.WaitStatus(ref.id, "awaiting_review", 10*time.Second)
	approved := s.Do("POST", "/v1/referrals/"+ref.id+"/review", chair, map[string]any{"decision": "approve"})
	expiredOffer := approved.Str("offer_id")
	if approved.Status != 200 || approved.Str("status") != "offered" || expiredOffer == "" || approved.Str("therapist_id") != slow.id {
		t.Fatalf("approve: %d %s, want an offer to the only therapist", approved.Status, approved.Raw)
	}
	s.WaitStatus(ref.id, "waitlisted", 10*time.Second)
	if o, err := s.DB.Offer(context.Background(), expiredOffer); err != nil || o.State != referral.OfferExpired {
		t.Errorf("offer %s after its TTL: %+v %v, want expired", expiredOffer, o, err)
	}
	if r := s.Do("GET", "/v1/offers", slow.token, nil); strings.Contains(r.Raw, ref.id) {
		t.Errorf("expired offer still open: %s", r.Raw)
	}
	// Accepting the expired offer is refused as for an offer never made,
	// without saying where the referral now is, and changes nothing.
	if r := s.Do("POST", "/v1/offers/"+expiredOffer+"/accept", slow.token, nil); r.Status != 404 || r.ErrorField("current_status") != "" {
		t.Errorf("accept after expiry: %d %s, want 404", r.Status, r.Raw)
	}
	// The therapist who let it expire is not offered it again; a new one is.
	next := addTherapist(t, s, 2, 1)
	if _, th := offerOf(s.WaitStatus(ref.id, "offered", 10*time.Second)); th != next.id {
		t.Errorf("offered to %s, want the new therapist", th)
	}
	checkHistory(t, s, ref.id, "offer-expired-then-offered")
	var used int
	for _, th := range s.Do("GET", "/v1/therapists", admin, nil).Body["therapists"].([]any) {
		used += int(th.(map[string]any)["places_used"].(float64))
	}
	if used != 1 {
		t.Errorf("%d places in use, want 1", used)
	}
}

func TestWorkerRestartLosesNothing(t *testing.T) {
	s := stacktest.Start(t, fast)
	chair := committeeMember(t, s)
	th := addTherapist(t, s, 1, 1)

	// The worker delivers the link to confirm; then it stops, and the
	// referral is confirmed with nobody to take it further.
	body := submission(s, "trainee@nhs.example")
	if r := s.Do("POST", "/v1/referrals", "", body); r.Status != 202 {
		t.Fatalf("submit: %d %s", r.Status, r.Raw)
	}
	code := s.MustConfirmCode("trainee@nhs.example")
	s.StopWorker()
	c := s.Do("POST", "/v1/confirmations", "", map[string]any{"code": code})
	if c.Status != 201 {
		t.Fatalf("confirm: %d %s", c.Status, c.Raw)
	}
	ref := submitted{id: c.Str("id"), token: c.Str("token")}
	time.Sleep(300 * time.Millisecond)
	if r := s.Do("GET", "/v1/referrals/"+ref.id, admin, nil); r.Str("status") != "submitted" {
		t.Fatalf("with no worker the referral is %s, want submitted", r.Str("status"))
	}
	s.StartWorker()
	s.WaitStatus(ref.id, "awaiting_review", 10*time.Second)

	// A decision sent while no worker runs is applied when one comes back.
	s.StopWorker()
	type answer struct {
		r   stacktest.Response
		err error
	}
	done := make(chan answer, 1)
	go func() {
		r, err := s.Call("POST", "/v1/referrals/"+ref.id+"/review", chair, map[string]any{"decision": "approve"}, "Idempotency-Key", "across-restart")
		done <- answer{r, err}
	}()
	// Temporal holds the decision, and no worker has taken it.
	s.WaitUpdateAdmitted(workflows.WorkflowID(ref.id), workflows.UpdateReview+":across-restart")
	select {
	case a := <-done:
		t.Fatalf("approval answered with no worker running: %d %s %v", a.r.Status, a.r.Raw, a.err)
	default:
	}
	s.StartWorker()
	select {
	case a := <-done:
		if a.err != nil || a.r.Status != 200 || a.r.Str("status") != "offered" {
			t.Fatalf("approve across a restart: %v %d %s", a.err, a.r.Status, a.r.Raw)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no answer to the approval 30s after the worker came back")
	}
	offerID, _ := offerOf(s.WaitStatus(ref.id, "offered", 10*time.Second))
	s.StopWorker()
	s.StartWorker()
	if r := s.Do("POST", "/v1/offers/"+offerID+"/accept", th.token, nil); r.Status != 200 {
		t.Fatalf("accept: %d %s", r.Status, r.Raw)
	}
	final := s.WaitStatus(ref.id, "matched", 10*time.Second)
	if n := len(final.Body["events"].([]any)); n != 5 {
		t.Errorf("%d events, want 5: %s", n, final.Raw)
	}
	// Every message of the path, each to its person once: nothing lost to
	// a restart, nothing written twice.
	checkOutbox(t, s, ref.id, map[string]int{"confirm.trainee": 1, "committee.review": 1, "trainee.awaiting_review": 1,
		"therapist.offered": 1, "therapist.matched": 1, "trainee.matched": 1})
}

// checkOutbox asserts a referral's messages are exactly want (kind →
// count, every kind not named 0), and none went twice to one recipient.
func checkOutbox(t *testing.T, s *stacktest.Stack, referralID string, want map[string]int) {
	t.Helper()
	msgs, err := s.DB.Outbox(context.Background(), referralID)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) == 0 {
		t.Fatalf("referral %s has no messages at all", referralID)
	}
	kinds, sent := map[string]int{}, map[string]int{}
	for _, m := range msgs {
		kinds[m.Kind]++
		if sent[m.Kind+" to "+m.Recipient]++; sent[m.Kind+" to "+m.Recipient] == 2 {
			t.Errorf("message %s to the same person twice", m.Kind)
		}
	}
	if !maps.Equal(kinds, want) {
		t.Errorf("messages %v, want %v", kinds, want)
	}
}

func TestConcurrentOffersNeverExceedCapacity(t *testing.T) {
	s := stacktest.Start(t, fast)
	chair := committeeMember(t, s)
	therapists := []therapist{addTherapist(t, s, 1, 2), addTherapist(t, s, 2, 2)}
	const n = 10
	refs := make([]submitted, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			ref, err := trySubmit(s, submission(s, fmt.Sprintf("t%d@nhs.example", i)))
			if err != nil {
				t.Errorf("referral %d: %v", i, err)
				return
			}
			refs[i] = ref
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	for _, ref := range refs {
		s.WaitStatus(ref.id, "awaiting_review", 20*time.Second)
	}

	// While the committee approves all ten at once, an operator lowers the
	// first therapist's capacity to 1 and raises it to 2, over and over,
	// from before the first approval until after the last is answered.
	// Every change is answered: a raise is applied; a lowering is applied,
	// or refused with 409 when both places are already taken.
	var applied, refused atomic.Int32
	patch := func(capacity int) error {
		r, err := s.Call("PATCH", "/v1/therapists/"+therapists[0].id, admin, map[string]any{"capacity": capacity})
		switch {
		case err != nil:
			return fmt.Errorf("capacity %d: %w", capacity, err)
		case r.Status == 200 && r.Body["capacity"] == float64(capacity):
			applied.Add(1)
			return nil
		case r.Status == 409 && capacity == 1 && r.ErrorField("code") == "capacity_in_use" && r.ErrorField("field") == "capacity":
			refused.Add(1)
			return nil
		}
		return fmt.Errorf("capacity %d: %d %s", capacity, r.Status, r.Raw)
	}
	// The approvals begin against a lowered capacity (nothing is offered
	// yet, so the lowering must be applied).
	if r := s.Do("PATCH", "/v1/therapists/"+therapists[0].id, admin, map[string]any{"capacity": 1}); r.Status != 200 || r.Body["capacity"] != float64(1) {
		t.Fatalf("lower capacity before the approvals: %d %s", r.Status, r.Raw)
	}
	approving, approved, patched := make(chan struct{}), make(chan struct{}), make(chan struct{})
	var during atomic.Int32 // changes sent and answered while approvals were in flight
	go func() {
		defer close(patched)
		<-approving
		for {
			for _, capacity := range []int{2, 1} {
				if err := patch(capacity); err != nil {
					t.Errorf("while approving: %v", err)
					return
				}
				select {
				case <-approved:
					// The last change raises the capacity back to 2.
					if capacity == 2 {
						return
					}
				default:
					during.Add(1)
				}
			}
		}
	}()
	close(approving)
	for _, ref := range refs {
		wg.Go(func() {
			r, err := s.Call("POST", "/v1/referrals/"+ref.id+"/review", chair, map[string]any{"decision": "approve"})
			if err != nil || r.Status != 200 || (r.Str("status") != "offered" && r.Str("status") != "waitlisted") {
				t.Errorf("approve %s: %v %d %s", ref.id, err, r.Status, r.Raw)
			}
		})
	}
	wg.Wait()
	close(approved)
	<-patched
	if t.Failed() {
		t.FailNow()
	}
	t.Logf("%d capacity changes answered while the approvals were in flight; %d applied, %d lowerings refused in all",
		during.Load(), applied.Load(), refused.Load())
	if during.Load() == 0 {
		t.Error("no capacity change was answered while the approvals were in flight: the race did not happen")
	}

	// With the capacity back at 2 and 2, the four places go to four
	// referrals and the other six wait; never more places used than there
	// are.
	var offered []stacktest.Response
	waitlisted := 0
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		checkCapacity(t, s)
		offered, waitlisted = nil, 0
		for _, ref := range refs {
			switch r := s.Do("GET", "/v1/referrals/"+ref.id, admin, nil); r.Str("status") {
			case "offered":
				offered = append(offered, r)
			case "waitlisted":
				waitlisted++
			}
		}
		if len(offered) == 4 && waitlisted == n-4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("offered %d, waitlisted %d; want 4 and %d", len(offered), waitlisted, n-4)
		}
	}
	tokens := map[string]string{}
	for _, th := range therapists {
		tokens[th.id] = th.token
	}
	for _, r := range offered {
		offerID, th := offerOf(r)
		if a := s.Do("POST", "/v1/offers/"+offerID+"/accept", tokens[th], nil); a.Status != 200 || a.Str("status") != "matched" {
			t.Errorf("accept %s: %d %s", offerID, a.Status, a.Raw)
		}
	}
	for _, th := range checkCapacity(t, s) {
		if th["places_used"] != float64(2) || th["capacity"] != float64(2) {
			t.Errorf("therapist %s has %v places used of %v, want 2 of 2", th["id"], th["places_used"], th["capacity"])
		}
	}
	for _, ref := range refs {
		if st := s.Do("GET", "/v1/referrals/"+ref.id, admin, nil).Str("status"); st != "matched" && st != "waitlisted" {
			t.Errorf("referral %s is %s after the acceptances, want matched or waitlisted", ref.id, st)
		}
	}
}

// checkCapacity fails the test if any therapist has more places in use than
// their capacity, and returns the register.
func checkCapacity(t *testing.T, s *stacktest.Stack) []map[string]any {
	t.Helper()
	r := s.Do("GET", "/v1/therapists", admin, nil)
	list, _ := r.Body["therapists"].([]any)
	if r.Status != 200 || len(list) == 0 {
		t.Fatalf("therapists: %d %s", r.Status, r.Raw)
	}
	var out []map[string]any
	for _, th := range list {
		m := th.(map[string]any)
		if m["places_used"].(float64) > m["capacity"].(float64) {
			t.Errorf("therapist %s has %v places used of %v", m["id"], m["places_used"], m["capacity"])
		}
		out = append(out, m)
	}
	return out
}

func TestSubmissionStoredButNotStartedIsResumed(t *testing.T) {
	s := stacktest.Start(t, fast)
	// As if Temporal was unreachable when the API stored the referral.
	ref, _, err := s.DB.CreateReferral(context.Background(), referral.Submission{
		Name: "Lost Start", Email: "lost@nhs.example", Programme: "health", Employer: "RRK",
		TrainingStart: stacktest.TrainingStart(s.Now()), Concerns: "x",
	}, s.Now(), "", "fp")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go wiring.NewAPI(s.DB, s.Client, s.Config, slog.New(slog.NewTextHandler(io.Discard, nil))).App.ResumeSubmissions(ctx, 200*time.Millisecond)
	s.WaitStatus(ref.ID, "awaiting_review", 10*time.Second)
}
