package workflows_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/wmtna/referrals/activities"
	"github.com/wmtna/referrals/worker"
	"github.com/wmtna/referrals/workflows"
)

// erasureHarness runs the erasure workflows against mocked activities and
// records every erasure they ask for.
type erasureHarness struct {
	t      *testing.T
	env    *testsuite.TestWorkflowEnvironment
	mu     sync.Mutex
	erased []workflows.EraseInput
	lists  []workflows.RetentionInput
}

func newErasureHarness(t *testing.T) *erasureHarness {
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	env.SetStartTime(start)
	worker.Register(env, &activities.Activities{})
	return &erasureHarness{t: t, env: env}
}

// expired makes ExpiredReferrals answer the given batches in turn, then
// nothing.
func (h *erasureHarness) expired(batches ...[]string) {
	h.env.OnActivity(workflows.ActivityExpiredReferrals, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in workflows.RetentionInput) ([]string, error) {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.lists = append(h.lists, in)
			if n := len(h.lists); n <= len(batches) {
				return batches[n-1], nil
			}
			return nil, nil
		})
}

// erase makes EraseReferral report erased for every ID, unless already
// says it had been.
func (h *erasureHarness) erase(already ...string) {
	h.env.OnActivity(workflows.ActivityEraseReferral, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in workflows.EraseInput) (bool, error) {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.erased = append(h.erased, in)
			return !slices.Contains(already, in.ReferralID), nil
		})
}

func (h *erasureHarness) erasedIDs() []string {
	var ids []string
	for _, e := range h.erased {
		ids = append(ids, e.ReferralID)
	}
	slices.Sort(ids)
	return ids
}

func (h *erasureHarness) retention(in workflows.RetentionInput) workflows.RetentionResult {
	h.env.ExecuteWorkflow(workflows.RetentionWorkflowName, in)
	if !h.env.IsWorkflowCompleted() {
		h.t.Fatal("retention workflow did not complete")
	}
	var res workflows.RetentionResult
	if err := h.env.GetWorkflowError(); err == nil {
		_ = h.env.GetWorkflowResult(&res)
	}
	return res
}

func TestRetentionErasesInBatchesUntilNoneIsLeft(t *testing.T) {
	h := newErasureHarness(t)
	h.expired([]string{"r1", "r2"}, []string{"r3", "r4"}, []string{"r5"})
	h.erase()
	res := h.retention(workflows.RetentionInput{Retention: 48 * time.Hour, Batch: 2})
	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if res.Erased != 5 {
		t.Errorf("erased %d, want 5", res.Erased)
	}
	if got := h.erasedIDs(); !slices.Equal(got, []string{"r1", "r2", "r3", "r4", "r5"}) {
		t.Errorf("erased %v", got)
	}
	for _, e := range h.erased {
		if e.Reason != workflows.ErasureReasonRetention || e.RequestedBy != workflows.RetentionRequester {
			t.Errorf("erasure %+v, want reason retention by %s", e, workflows.RetentionRequester)
		}
	}
	// The short third batch says nothing more is due: no fourth look.
	if len(h.lists) != 3 {
		t.Errorf("listed %d times, want 3", len(h.lists))
	}
	for _, in := range h.lists {
		if in.Retention != 48*time.Hour || in.Batch != 2 {
			t.Errorf("listed with %+v, want the run's retention and batch", in)
		}
	}
}

func TestRetentionWithNothingDueErasesNothing(t *testing.T) {
	h := newErasureHarness(t)
	h.expired()
	h.erase()
	res := h.retention(workflows.RetentionInput{Retention: time.Hour})
	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if res.Erased != 0 || len(h.erased) != 0 {
		t.Errorf("erased %d (%v), want none", res.Erased, h.erased)
	}
	if len(h.lists) != 1 || h.lists[0].Batch != workflows.DefaultRetentionBatch {
		t.Errorf("listed %+v, want one look with the default batch", h.lists)
	}
}

func TestRetentionStopsWhenABatchWasAlreadyErased(t *testing.T) {
	h := newErasureHarness(t)
	// A full batch whose referrals someone else erased meanwhile: looping
	// would list them again, so the run ends.
	h.expired([]string{"r1", "r2"}, []string{"r1", "r2"}, []string{"r1", "r2"})
	h.erase("r1", "r2")
	res := h.retention(workflows.RetentionInput{Retention: time.Hour, Batch: 2})
	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if res.Erased != 0 || len(h.lists) != 1 {
		t.Errorf("erased %d after %d looks, want 0 after 1", res.Erased, len(h.lists))
	}
}

func TestRetentionContinuesAsNewWhenLong(t *testing.T) {
	h := newErasureHarness(t)
	n := 0
	h.env.OnActivity(workflows.ActivityExpiredReferrals, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in workflows.RetentionInput) ([]string, error) {
			h.mu.Lock()
			defer h.mu.Unlock()
			ids := make([]string, in.Batch)
			for i := range ids {
				n++
				ids[i] = fmt.Sprintf("r%d", n)
			}
			return ids, nil
		})
	h.erase()
	h.retention(workflows.RetentionInput{Retention: time.Hour, Batch: 3, Erased: 7})
	var can *workflow.ContinueAsNewError
	if err := h.env.GetWorkflowError(); !errors.As(err, &can) {
		t.Fatalf("workflow ended with %v, want continue-as-new", err)
	}
	var next workflows.RetentionInput
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &next); err != nil {
		t.Fatal(err)
	}
	if can.WorkflowType.Name != workflows.RetentionWorkflowName || next.Retention != time.Hour || next.Batch != 3 || next.Erased != 7+len(h.erased) {
		t.Errorf("continued as %s with %+v after %d erasures, want the same retention carrying the count", can.WorkflowType.Name, next, len(h.erased))
	}
	if len(h.erased) == 0 || len(h.erased)%3 != 0 {
		t.Errorf("erased %d before continuing, want whole batches", len(h.erased))
	}
}

func TestRetentionContinuesAsNewWhenSuggested(t *testing.T) {
	h := newErasureHarness(t)
	h.expired([]string{"r1"})
	h.erase()
	h.env.SetContinueAsNewSuggested(true)
	h.retention(workflows.RetentionInput{Retention: time.Hour, Batch: 1})
	var can *workflow.ContinueAsNewError
	if err := h.env.GetWorkflowError(); !errors.As(err, &can) {
		t.Fatalf("workflow ended with %v, want continue-as-new", err)
	}
	if len(h.erased) != 0 {
		t.Errorf("erased %v before continuing as new", h.erased)
	}
}

func TestRetentionRefusesNegativeRetention(t *testing.T) {
	h := newErasureHarness(t)
	h.expired()
	h.erase()
	h.retention(workflows.RetentionInput{Retention: -time.Hour})
	assertRefused(t, h.env.GetWorkflowError(), workflows.ErrTypeInvalidRequest)
	if len(h.lists) != 0 {
		t.Errorf("listed %d times with a negative retention", len(h.lists))
	}
}

func TestErasureWorkflowErasesOnRequest(t *testing.T) {
	for _, already := range []bool{false, true} {
		t.Run(fmt.Sprintf("already=%v", already), func(t *testing.T) {
			h := newErasureHarness(t)
			if already {
				h.erase("r1")
			} else {
				h.erase()
			}
			// The reason is always "request", whatever the caller sent.
			h.env.ExecuteWorkflow(workflows.ErasureWorkflowName, workflows.EraseInput{ReferralID: "r1", RequestedBy: "operator:admin", Reason: "retention"})
			if err := h.env.GetWorkflowError(); err != nil {
				t.Fatal(err)
			}
			var erased bool
			if err := h.env.GetWorkflowResult(&erased); err != nil {
				t.Fatal(err)
			}
			if erased == already {
				t.Errorf("erased=%v, want %v", erased, !already)
			}
			want := []workflows.EraseInput{{ReferralID: "r1", RequestedBy: "operator:admin", Reason: workflows.ErasureReasonRequest}}
			if !slices.Equal(h.erased, want) {
				t.Errorf("erasures %+v, want %+v", h.erased, want)
			}
		})
	}
}

func TestErasureWorkflowRefusalIsNotRetried(t *testing.T) {
	h := newErasureHarness(t)
	calls := 0
	h.env.OnActivity(workflows.ActivityEraseReferral, mock.Anything, mock.Anything).Return(
		func(context.Context, workflows.EraseInput) (bool, error) {
			calls++
			return false, temporal.NewNonRetryableApplicationError("the referral is awaiting_review, not finished", workflows.ErrTypeConflict, nil)
		})
	h.env.ExecuteWorkflow(workflows.ErasureWorkflowName, workflows.EraseInput{ReferralID: "r1", RequestedBy: "operator:admin"})
	assertRefused(t, h.env.GetWorkflowError(), workflows.ErrTypeConflict)
	if calls != 1 {
		t.Errorf("erase tried %d times, want once", calls)
	}
}

func TestErasureWorkflowNeedsAReferralAndRequester(t *testing.T) {
	h := newErasureHarness(t)
	h.erase()
	h.env.ExecuteWorkflow(workflows.ErasureWorkflowName, workflows.EraseInput{ReferralID: "r1"})
	assertRefused(t, h.env.GetWorkflowError(), workflows.ErrTypeInvalidRequest)
	if len(h.erased) != 0 {
		t.Errorf("erased %v without a requester", h.erased)
	}
}
