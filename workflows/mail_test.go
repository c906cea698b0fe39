package workflows_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/testsuite"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/wmtna/referrals/activities"
	"github.com/wmtna/referrals/worker"
	"github.com/wmtna/referrals/workflows"
)

func mailEnv() *testsuite.TestWorkflowEnvironment {
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	worker.Register(env, &activities.Activities{})
	return env
}

func TestMailWorkflowDelivers(t *testing.T) {
	env := mailEnv()
	env.OnActivity(workflows.ActivityDeliverMessages, mock.Anything, []int64{7, 8}).Return(nil).Once()
	env.ExecuteWorkflow(workflows.MailWorkflowName, workflows.MailInput{OutboxIDs: []int64{7, 8}})
	if !env.IsWorkflowCompleted() || env.GetWorkflowError() != nil {
		t.Fatalf("completed=%v err=%v", env.IsWorkflowCompleted(), env.GetWorkflowError())
	}
	env.AssertExpectations(t)
}

// TestMailWorkflowRetriesThenDelivers: a server that is down for a while
// delays the messages; they are delivered on a later attempt.
func TestMailWorkflowRetriesThenDelivers(t *testing.T) {
	env := mailEnv()
	env.OnActivity(workflows.ActivityDeliverMessages, mock.Anything, []int64{7}).Return(errors.New("connection refused")).Times(3)
	env.OnActivity(workflows.ActivityDeliverMessages, mock.Anything, []int64{7}).Return(nil).Once()
	env.ExecuteWorkflow(workflows.MailWorkflowName, workflows.MailInput{OutboxIDs: []int64{7}})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	env.AssertExpectations(t)
}

// TestMailWorkflowGivesUp: when delivery keeps failing until the retry
// policy ends, three days on, what is left is recorded as failed and the
// workflow fails, for operators to see. The test environment skips the
// time: every attempt of the three days is made.
func TestMailWorkflowGivesUp(t *testing.T) {
	env := mailEnv()
	// The test environment gives an activity whose policy sets no maximum
	// (as DeliverMessages' does: it is bounded by time) ten attempts, so
	// that a failing test cannot spin for ever; lift that to what three
	// days need, so that the 72 hours end the retries, as on a server.
	env.SetWorkerOptions(sdkworker.Options{Interceptors: []interceptor.WorkerInterceptor{&uncappedRetries{}}})
	began := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	env.SetStartTime(began)
	var attempts []time.Time
	env.OnActivity(workflows.ActivityDeliverMessages, mock.Anything, []int64{7}).Return(
		func(context.Context, []int64) error {
			attempts = append(attempts, env.Now())
			return errors.New("connection refused") // retryable, as every failure of DeliverMessages is
		})
	var gaveUp time.Time
	env.OnActivity(workflows.ActivityGiveUpMessages, mock.Anything, []int64{7}).Return(
		func(context.Context, []int64) error { gaveUp = env.Now(); return nil }).Once()
	env.ExecuteWorkflow(workflows.MailWorkflowName, workflows.MailInput{OutboxIDs: []int64{7}})
	if !env.IsWorkflowCompleted() || env.GetWorkflowError() == nil {
		t.Fatalf("completed=%v err=%v, want a failed workflow", env.IsWorkflowCompleted(), env.GetWorkflowError())
	}
	env.AssertExpectations(t)
	const threeDays = 72 * time.Hour
	if len(attempts) < 2 {
		t.Fatalf("%d attempts, want retries until the give-up", len(attempts))
	}
	// Retried until the give-up time, backing off to at most 30 minutes
	// between attempts: the last is within that of the end.
	last := attempts[len(attempts)-1]
	if d := last.Sub(began); d > threeDays || d < threeDays-30*time.Minute {
		t.Errorf("last attempt %s after the first, want within 30m before %s", d, threeDays)
	}
	for i := 1; i < len(attempts); i++ {
		if gap := attempts[i].Sub(attempts[i-1]); gap > 30*time.Minute {
			t.Errorf("attempt %d came %s after the one before, want at most 30m", i+1, gap)
		}
	}
	if gaveUp.Before(last) || gaveUp.Sub(began) > threeDays+time.Minute {
		t.Errorf("gave up %s after the first attempt (the last at %s), want at the end of %s", gaveUp.Sub(began), last.Sub(began), threeDays)
	}
	t.Logf("%d attempts over %s", len(attempts), last.Sub(began))
}

// uncappedRetries gives every activity whose retry policy has no maximum
// number of attempts one so high that only the policy's time limits end it.
type uncappedRetries struct {
	interceptor.WorkerInterceptorBase
}

func (*uncappedRetries) InterceptWorkflow(_ workflow.Context, next interceptor.WorkflowInboundInterceptor) interceptor.WorkflowInboundInterceptor {
	i := &uncappedInbound{}
	i.Next = next
	return i
}

type uncappedInbound struct {
	interceptor.WorkflowInboundInterceptorBase
}

func (i *uncappedInbound) Init(outbound interceptor.WorkflowOutboundInterceptor) error {
	o := &uncappedOutbound{}
	o.Next = outbound
	return i.Next.Init(o)
}

type uncappedOutbound struct {
	interceptor.WorkflowOutboundInterceptorBase
}

func (o *uncappedOutbound) ExecuteActivity(ctx workflow.Context, activityType string, args ...any) workflow.Future {
	if p := workflow.GetActivityOptions(ctx).RetryPolicy; p != nil && p.MaximumAttempts == 0 {
		lifted := *p
		lifted.MaximumAttempts = 1_000
		ctx = workflow.WithRetryPolicy(ctx, lifted)
	}
	return o.Next.ExecuteActivity(ctx, activityType, args...)
}

func TestMailWorkflowIDNamesTheBatch(t *testing.T) {
	a, b := workflows.MailWorkflowID([]int64{1, 2, 5}), workflows.MailWorkflowID([]int64{1, 3, 5})
	if a == b || a != workflows.MailWorkflowID([]int64{1, 2, 5}) || !strings.HasPrefix(a, "mail-1-") {
		t.Errorf("IDs %q and %q", a, b)
	}
}
