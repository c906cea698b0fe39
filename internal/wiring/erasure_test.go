package wiring_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/temporalproto"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/wmtna/referrals/internal/postgres"
	"github.com/wmtna/referrals/internal/referral"
	"github.com/wmtna/referrals/internal/stacktest"
	"github.com/wmtna/referrals/worker"
	"github.com/wmtna/referrals/workflows"
)

// withdrawnReferral submits a referral through the API and withdraws it
// with the trainee's token, with a reason, so it has a note and messages.
func withdrawnReferral(t *testing.T, s *stacktest.Stack, email string) submitted {
	t.Helper()
	ref := submit(t, s, email)
	s.WaitStatus(ref.id, "awaiting_review", 10*time.Second)
	r := s.Do("POST", "/v1/referrals/"+ref.id+"/withdraw", ref.token, map[string]any{"reason": "my supervision got better"})
	if r.Status != 200 || r.Str("status") != "withdrawn" {
		t.Fatalf("withdraw: %d %s", r.Status, r.Raw)
	}
	s.WaitStatus(ref.id, "withdrawn", 10*time.Second)
	return ref
}

// checkErased checks that a referral's personal details are gone from
// Postgres, its timeline and training details stay, its trainee's token no
// longer works, and the erasure is on record.
func checkErased(t *testing.T, s *stacktest.Stack, ref submitted, events int, reason, requestedBy string) {
	t.Helper()
	ctx := context.Background()
	r, err := s.DB.Referral(ctx, ref.id)
	if err != nil {
		t.Fatal(err)
	}
	if r.Name != "" || r.Email != "" || r.Concerns != "" || r.Preferences.Note != "" || len(r.Preferences.Areas) > 0 {
		t.Errorf("personal details survive erasure: name=%q email=%q concerns=%q note=%q areas=%v", r.Name, r.Email, r.Concerns, r.Preferences.Note, r.Preferences.Areas)
	}
	if r.Status != referral.StatusWithdrawn || r.Programme != "clinical" || r.Employer != "RXT" {
		t.Errorf("statistics lost: %+v", r)
	}
	evs, err := s.DB.Events(ctx, ref.id)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != events || evs[len(evs)-1].To != referral.StatusWithdrawn {
		t.Errorf("events after erasure: %+v, want the %d recorded before", evs, events)
	}
	for _, e := range evs {
		if e.Note != "" {
			t.Errorf("event %d still shows its note %q", e.Seq, e.Note)
		}
	}
	msgs, err := s.DB.Outbox(ctx, ref.id)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		if m.Recipient != "" || m.Body != "" {
			t.Errorf("message %s still has recipient %q or body", m.Key, m.Recipient)
		}
	}
	rec, err := s.DB.Erasure(ctx, ref.id)
	if err != nil || rec == nil || rec.Reason != reason || rec.RequestedBy != requestedBy {
		t.Errorf("erasure record %+v %v, want reason %s by %s", rec, err, reason, requestedBy)
	}
	if resp := s.Do("GET", "/v1/referrals/"+ref.id, ref.token, nil); resp.Status != 401 {
		t.Errorf("trainee token after erasure: %d %s, want 401", resp.Status, resp.Raw)
	}
	// The operator still sees the anonymised referral and its timeline.
	resp := s.Do("GET", "/v1/referrals/"+ref.id, admin, nil)
	if resp.Status != 200 || resp.Str("status") != "withdrawn" || strings.Contains(resp.Raw, "Priya") || strings.Contains(resp.Raw, "supervision") {
		t.Errorf("operator's view after erasure: %d %s", resp.Status, resp.Raw)
	}
}

// workflowText is a workflow's whole history as JSON, to scan for personal
// details.
func workflowText(t *testing.T, s *stacktest.Stack, workflowID string) string {
	t.Helper()
	hist := &historypb.History{}
	it := s.Client.GetWorkflowHistory(context.Background(), workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		hist.Events = append(hist.Events, e)
	}
	b, err := temporalproto.CustomJSONMarshalOptions{}.Marshal(hist)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func checkNoPersonalDetails(t *testing.T, what, text string) {
	t.Helper()
	for _, p := range []string{"Priya", "@nhs.example", "imposter", "supervision"} {
		if strings.Contains(text, p) {
			t.Errorf("%s contains %q", what, p)
		}
	}
}

func TestRetentionWorkflowErasesEndedReferrals(t *testing.T) {
	s := stacktest.Start(t, fast)
	ctx := context.Background()
	ended := withdrawnReferral(t, s, "ended.trainee@nhs.example")
	open := submit(t, s, "open.trainee@nhs.example")
	s.WaitStatus(open.id, "awaiting_review", 10*time.Second)
	events, err := s.DB.Events(ctx, ended.id)
	if err != nil {
		t.Fatal(err)
	}

	retention := func(id string, in workflows.RetentionInput) workflows.RetentionResult {
		t.Helper()
		run, err := s.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: workflows.TaskQueue},
			workflows.RetentionWorkflowName, in)
		if err != nil {
			t.Fatal(err)
		}
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		var res workflows.RetentionResult
		if err := run.Get(wctx, &res); err != nil {
			t.Fatalf("retention %s: %v", id, err)
		}
		return res
	}

	// A retention period that has not passed erases nothing.
	if res := retention("retention-long", workflows.RetentionInput{Retention: time.Hour}); res.Erased != 0 {
		t.Errorf("a one-hour retention erased %d", res.Erased)
	}
	if r, err := s.DB.Referral(ctx, ended.id); err != nil || r.Name == "" {
		t.Fatalf("erased before its retention period passed: %+v %v", r, err)
	}

	if res := retention("retention-now", workflows.RetentionInput{Retention: 0}); res.Erased != 1 {
		t.Errorf("erased %d, want the one ended referral", res.Erased)
	}
	checkErased(t, s, ended, len(events), workflows.ErasureReasonRetention, workflows.RetentionRequester)

	// The open referral is left alone, and its trainee can still follow it.
	if r, err := s.DB.Referral(ctx, open.id); err != nil || r.Name == "" || r.Email == "" || r.Concerns != concerns {
		t.Errorf("open referral after retention: %+v %v", r, err)
	}
	if rec, err := s.DB.Erasure(ctx, open.id); err != nil || rec != nil {
		t.Errorf("open referral has an erasure record: %+v %v", rec, err)
	}
	if r := s.Do("GET", "/v1/referrals/"+open.id, open.token, nil); r.Status != 200 {
		t.Errorf("open referral's trainee: %d %s", r.Status, r.Raw)
	}

	// A second pass finds nothing more to do.
	if res := retention("retention-again", workflows.RetentionInput{Retention: 0}); res.Erased != 0 {
		t.Errorf("second pass erased %d", res.Erased)
	}
	checkNoPersonalDetails(t, "the retention workflow's history", workflowText(t, s, "retention-now"))
	checkNoPersonalDetails(t, "the service's logs", s.Logs.String())
}

func TestErasureWorkflowOnRequest(t *testing.T) {
	s := stacktest.Start(t, fast)
	ctx := context.Background()
	ref := submit(t, s, "asks.erasure@nhs.example")
	s.WaitStatus(ref.id, "awaiting_review", 10*time.Second)

	erase := func() (bool, error) {
		t.Helper()
		run, err := s.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
			ID:                       workflows.ErasureWorkflowID(ref.id),
			TaskQueue:                workflows.TaskQueue,
			WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		}, workflows.ErasureWorkflowName, workflows.EraseInput{ReferralID: ref.id, RequestedBy: "operator:admin"})
		if err != nil {
			t.Fatal(err)
		}
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		var erased bool
		err = run.Get(wctx, &erased)
		return erased, err
	}

	// Still open: refused, and nothing is erased or recorded.
	var appErr *temporal.ApplicationError
	if erased, err := erase(); !errors.As(err, &appErr) || appErr.Type() != workflows.ErrTypeConflict || erased {
		t.Fatalf("erasing an open referral: erased=%v %v, want a Conflict refusal", erased, err)
	}
	if r, err := s.DB.Referral(ctx, ref.id); err != nil || r.Name == "" {
		t.Fatalf("an open referral was erased: %+v %v", r, err)
	}
	if rec, err := s.DB.Erasure(ctx, ref.id); err != nil || rec != nil {
		t.Fatalf("refused erasure recorded: %+v %v", rec, err)
	}

	r := s.Do("POST", "/v1/referrals/"+ref.id+"/withdraw", ref.token, map[string]any{"reason": "my supervision got better"})
	if r.Status != 200 {
		t.Fatalf("withdraw: %d %s", r.Status, r.Raw)
	}
	s.WaitStatus(ref.id, "withdrawn", 10*time.Second)
	events, err := s.DB.Events(ctx, ref.id)
	if err != nil {
		t.Fatal(err)
	}

	if erased, err := erase(); err != nil || !erased {
		t.Fatalf("erase: erased=%v %v", erased, err)
	}
	checkErased(t, s, ref, len(events), workflows.ErasureReasonRequest, "operator:admin")
	// Asking again is harmless: nothing new is erased or recorded.
	if erased, err := erase(); err != nil || erased {
		t.Errorf("second erasure: erased=%v %v, want false", erased, err)
	}
	if n := countErasures(t, s); n != 1 {
		t.Errorf("%d erasures recorded, want 1", n)
	}
	// Retention later finds nothing left to erase.
	if ids, err := s.DB.ExpiredReferrals(ctx, 0, 10); err != nil || len(ids) != 0 {
		t.Errorf("expired after erasure: %v %v", ids, err)
	}
	checkNoPersonalDetails(t, "the erasure workflow's history", workflowText(t, s, workflows.ErasureWorkflowID(ref.id)))
	checkNoPersonalDetails(t, "the service's logs", s.Logs.String())
}

func countErasures(t *testing.T, s *stacktest.Stack) int {
	t.Helper()
	n := 0
	refs, err := s.DB.ListReferrals(context.Background(), postgres.ListFilter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range refs {
		if rec, err := s.DB.Erasure(context.Background(), r.ID); err != nil {
			t.Fatal(err)
		} else if rec != nil {
			n++
		}
	}
	return n
}

func TestRetentionScheduleIsEnsured(t *testing.T) {
	s := stacktest.Start(t, fast)
	ctx := context.Background()
	ended := withdrawnReferral(t, s, "scheduled.erasure@nhs.example")
	events, err := s.DB.Events(ctx, ended.id)
	if err != nil {
		t.Fatal(err)
	}
	handle := s.Client.ScheduleClient().GetHandle(ctx, workflows.RetentionScheduleID)
	describe := func() *client.ScheduleDescription {
		t.Helper()
		d, err := handle.Describe(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	// trigger has the schedule take its action now, as it will every day,
	// and returns the outcome of the retention run it started.
	trigger := func() workflows.RetentionResult {
		t.Helper()
		before := len(describe().Info.RecentActions)
		if err := handle.Trigger(ctx, client.ScheduleTriggerOptions{Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_ALLOW_ALL}); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(20 * time.Second)
		var actions []client.ScheduleActionResult
		for actions = describe().Info.RecentActions; len(actions) <= before; actions = describe().Info.RecentActions {
			if time.Now().After(deadline) {
				t.Fatal("the schedule took no action when triggered")
			}
			time.Sleep(50 * time.Millisecond)
		}
		started := actions[len(actions)-1].StartWorkflowResult
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		var res workflows.RetentionResult
		if err := s.Client.GetWorkflow(wctx, started.WorkflowID, started.FirstExecutionRunID).Get(wctx, &res); err != nil {
			t.Fatalf("scheduled retention run %s: %v", started.WorkflowID, err)
		}
		return res
	}

	if err := worker.EnsureRetentionSchedule(ctx, s.Client, 48*time.Hour); err != nil {
		t.Fatal(err)
	}
	d := describe()
	if a, ok := d.Schedule.Action.(*client.ScheduleWorkflowAction); !ok || a.Workflow != workflows.RetentionWorkflowName || a.TaskQueue != workflows.TaskQueue || len(a.Args) != 1 {
		t.Errorf("schedule action %+v, want the retention workflow on %s", d.Schedule.Action, workflows.TaskQueue)
	}
	if d.Schedule.Spec == nil || len(d.Schedule.Spec.Intervals) != 1 || d.Schedule.Spec.Intervals[0].Every != 24*time.Hour {
		t.Errorf("schedule spec %+v, want daily", d.Schedule.Spec)
	}
	if d.Schedule.Policy == nil || d.Schedule.Policy.Overlap != enumspb.SCHEDULE_OVERLAP_POLICY_SKIP {
		t.Errorf("schedule policy %+v, want overlaps skipped", d.Schedule.Policy)
	}
	// The referral ended moments ago: a 48h retention keeps it.
	if res := trigger(); res.Erased != 0 {
		t.Errorf("48h retention erased %d", res.Erased)
	}
	if r, err := s.DB.Referral(ctx, ended.id); err != nil || r.Name == "" {
		t.Fatalf("erased before its retention period passed: %+v %v", r, err)
	}

	// Ensuring it again (another worker starting, a new retention) updates
	// the one schedule rather than failing or adding another.
	if err := worker.EnsureRetentionSchedule(ctx, s.Client, 48*time.Hour); err != nil {
		t.Fatalf("ensure again: %v", err)
	}
	if err := worker.EnsureRetentionSchedule(ctx, s.Client, time.Nanosecond); err != nil {
		t.Fatalf("ensure with a new retention: %v", err)
	}
	if res := trigger(); res.Erased != 1 {
		t.Errorf("after the retention was shortened, a run erased %d, want 1", res.Erased)
	}
	checkErased(t, s, ended, len(events), workflows.ErasureReasonRetention, workflows.RetentionRequester)
	if err := worker.EnsureRetentionSchedule(ctx, s.Client, 0); err == nil {
		t.Error("a zero retention was accepted")
	}
}
