package workflows_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

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
// policy ends, what is left is recorded as failed and the workflow fails,
// for operators to see.
func TestMailWorkflowGivesUp(t *testing.T) {
	env := mailEnv()
	env.OnActivity(workflows.ActivityDeliverMessages, mock.Anything, []int64{7}).
		Return(temporal.NewNonRetryableApplicationError("smtp server gone", "Test", nil)).Once()
	env.OnActivity(workflows.ActivityGiveUpMessages, mock.Anything, []int64{7}).Return(nil).Once()
	env.ExecuteWorkflow(workflows.MailWorkflowName, workflows.MailInput{OutboxIDs: []int64{7}})
	if env.GetWorkflowError() == nil {
		t.Fatal("the workflow succeeded without delivering")
	}
	env.AssertExpectations(t)
}

func TestMailWorkflowIDNamesTheBatch(t *testing.T) {
	a, b := workflows.MailWorkflowID([]int64{1, 2, 5}), workflows.MailWorkflowID([]int64{1, 3, 5})
	if a == b || a != workflows.MailWorkflowID([]int64{1, 2, 5}) || !strings.HasPrefix(a, "mail-1-") {
		t.Errorf("IDs %q and %q", a, b)
	}
}
