// Package worker registers the referral workflow and its activities on a
// Temporal worker, and the search attributes they need on the namespace.
package worker

import (
	"context"
	"fmt"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/wmtna/referrals/activities"
	"github.com/wmtna/referrals/workflows"
)

// New returns a worker for the referral task queue with the workflow and
// every activity registered. Activity names are the method names, which
// are the workflows.Activity* constants (registration_test.go holds the
// methods to workflows.ActivityContract).
func New(c client.Client, acts *activities.Activities, opts sdkworker.Options) sdkworker.Worker {
	w := sdkworker.New(c, workflows.TaskQueue, opts)
	Register(w, acts)
	return w
}

// Register puts the workflow and activities on any registry (a worker, or
// a replayer that needs the workflow only, with acts nil).
func Register(r interface {
	RegisterWorkflowWithOptions(any, workflow.RegisterOptions)
	RegisterActivity(any)
}, acts *activities.Activities) {
	r.RegisterWorkflowWithOptions(workflows.ReferralWorkflow, workflow.RegisterOptions{Name: workflows.WorkflowName})
	r.RegisterWorkflowWithOptions(workflows.RetentionWorkflow, workflow.RegisterOptions{Name: workflows.RetentionWorkflowName})
	r.RegisterWorkflowWithOptions(workflows.ErasureWorkflow, workflow.RegisterOptions{Name: workflows.ErasureWorkflowName})
	r.RegisterWorkflowWithOptions(workflows.MailWorkflow, workflow.RegisterOptions{Name: workflows.MailWorkflowName})
	r.RegisterWorkflowWithOptions(workflows.TherapistReturnWorkflow, workflow.RegisterOptions{Name: workflows.TherapistReturnWorkflowName})
	r.RegisterWorkflowWithOptions(workflows.FollowUpWorkflow, workflow.RegisterOptions{Name: workflows.FollowUpWorkflowName})
	if acts != nil {
		r.RegisterActivity(acts)
	}
}

// SearchAttributes are the custom search attributes referral workflows set.
func SearchAttributes() map[string]enumspb.IndexedValueType {
	return map[string]enumspb.IndexedValueType{
		workflows.StatusKey.GetName():    enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		workflows.TherapistKey.GetName(): enumspb.INDEXED_VALUE_TYPE_KEYWORD,
	}
}

// EnsureSearchAttributes registers any missing search attribute on the
// namespace. Workflows fail to set an unregistered attribute, so the worker
// does this before it polls.
func EnsureSearchAttributes(ctx context.Context, c client.Client, namespace string) error {
	ops := c.OperatorService()
	have, err := ops.ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return fmt.Errorf("list search attributes of %s: %w", namespace, err)
	}
	missing := map[string]enumspb.IndexedValueType{}
	for name, typ := range SearchAttributes() {
		if _, ok := have.GetCustomAttributes()[name]; !ok {
			missing[name] = typ
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if _, err := ops.AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{Namespace: namespace, SearchAttributes: missing}); err != nil {
		return fmt.Errorf("add search attributes to %s: %w", namespace, err)
	}
	return nil
}
