package wiring_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	sdkpb "go.temporal.io/api/sdk/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/converter"

	"github.com/wmtna/referrals/internal/codec"
	"github.com/wmtna/referrals/internal/stacktest"
	"github.com/wmtna/referrals/workflows"
)

// TestOperatorViewOfAMatchedReferral reads a matched referral as an
// operator does in the Temporal UI, from a real server: the list filtered
// to referrals shows referrals and no mail; the workflow and each of its
// timers say what they are by ID; and no review reminder or offer expiry is
// left pending, since both were cancelled once they no longer applied.
func TestOperatorViewOfAMatchedReferral(t *testing.T) {
	s := stacktest.Start(t, fast)
	chair := committeeMember(t, s)
	th := addTherapist(t, s, 1, 1)
	ref := submit(t, s, "priya@nhs.example")
	s.WaitStatus(ref.id, "awaiting_review", 10*time.Second)
	approve(t, s, chair, ref.id)
	offerID, _ := offerOf(s.WaitStatus(ref.id, "offered", 10*time.Second))
	if r := s.Do("POST", "/v1/offers/"+offerID+"/accept", th.token, nil); r.Status != 200 {
		t.Fatalf("accept: %d %s", r.Status, r.Raw)
	}
	s.WaitStatus(ref.id, "matched", 10*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dc := converter.GetDefaultDataConverter()
	if s.PayloadKeys != nil {
		dc = codec.DataConverter(s.PayloadKeys) // what the UI decodes through the codec endpoint
	}
	wfID := workflows.WorkflowID(ref.id)

	// The saved view the README gives operators.
	list := func(query string) []string {
		t.Helper()
		var ids []string
		for {
			r, err := s.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: query})
			if err != nil {
				t.Fatalf("list %s: %v", query, err)
			}
			ids = ids[:0]
			for _, e := range r.Executions {
				ids = append(ids, e.GetExecution().GetWorkflowId())
			}
			if len(ids) > 0 || ctx.Err() != nil {
				return ids
			}
			time.Sleep(100 * time.Millisecond) // visibility lags a moment
		}
	}
	if mail := list(`WorkflowType = "Mail"`); len(mail) == 0 {
		t.Error("no mail workflows: the filter below proves nothing")
	}
	if got := list(`WorkflowType = "Referral"`); len(got) != 1 || got[0] != wfID {
		t.Errorf(`WorkflowType = "Referral" lists %v, want %s alone`, got, wfID)
	}

	d, err := s.Client.DescribeWorkflowExecution(ctx, wfID, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := decode(t, dc, d.GetExecutionConfig().GetUserMetadata().GetSummary()); got != "Referral "+ref.id {
		t.Errorf("the workflow's summary is %q, want %q", got, "Referral "+ref.id)
	}
	v, err := s.Client.QueryWorkflow(ctx, wfID, "", "__temporal_workflow_metadata")
	if err != nil {
		t.Fatal(err)
	}
	var md sdkpb.WorkflowMetadata
	if err := v.Get(&md); err != nil {
		t.Fatal(err)
	}
	if want := "Referral " + ref.id + " is matched. Matched with therapist " + th.id + " (offer " + offerID + ")."; md.GetCurrentDetails() != want {
		t.Errorf("current details %q, want %q", md.GetCurrentDetails(), want)
	}

	started, ended := map[int64]string{}, map[int64]enumspb.EventType{}
	it := s.Client.GetWorkflowHistory(ctx, wfID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		switch e.GetEventType() {
		case enumspb.EVENT_TYPE_TIMER_STARTED:
			started[e.GetEventId()] = decode(t, dc, e.GetUserMetadata().GetSummary())
		case enumspb.EVENT_TYPE_TIMER_FIRED:
			ended[e.GetTimerFiredEventAttributes().GetStartedEventId()] = e.GetEventType()
		case enumspb.EVENT_TYPE_TIMER_CANCELED:
			ended[e.GetTimerCanceledEventAttributes().GetStartedEventId()] = e.GetEventType()
		}
	}
	wantSummaries := []string{"Review reminder 1 for referral " + ref.id, "Offer " + offerID + " to therapist " + th.id + " lapses unless answered"}
	if len(started) != len(wantSummaries) {
		t.Errorf("timers %v, want %v", started, wantSummaries)
	}
	for id, summary := range started {
		if ended[id] != enumspb.EVENT_TYPE_TIMER_CANCELED {
			t.Errorf("timer %q (event %d) is %v, want cancelled", summary, id, ended[id])
		}
		if !slices.Contains(wantSummaries, summary) {
			t.Errorf("a timer's summary is %q, want one of %q", summary, wantSummaries)
		}
		if strings.Contains(summary, "Priya") || strings.Contains(summary, "@") {
			t.Errorf("a timer's summary names a person: %q", summary)
		}
	}
	// The replay test keeps the cancelled timers' history replaying.
	recordWorkflow(t, s, wfID, "matched-timers-cancelled")
}

// decode reads a summary as the UI shows it, through the codec.
func decode(t *testing.T, dc converter.DataConverter, p *commonpb.Payload) string {
	t.Helper()
	if p == nil {
		return ""
	}
	var out string
	if err := dc.FromPayload(p, &out); err != nil {
		t.Fatalf("decode a summary: %v", err)
	}
	return out
}
