package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/types/known/durationpb"
)

// NamespaceRetention is how long Temporal keeps the history of a closed
// workflow in a namespace that `wmtna register` creates. Histories carry
// IDs, statuses and encrypted payloads only; a month leaves operators time
// to look into a referral that ended badly.
const NamespaceRetention = 30 * 24 * time.Hour

// namespaceSettle is how long EnsureNamespace waits, at most, for a
// namespace it has just created to be served: a new namespace reaches the
// server's caches a few seconds after it is registered.
const namespaceSettle = 30 * time.Second

// EnsureNamespace creates the namespace when the server does not have it,
// as on a self-hosted server's first start, and returns once the server
// answers for it. An existing namespace is left as it is: on Temporal
// Cloud, or wherever operators manage namespaces, they own its settings.
func EnsureNamespace(ctx context.Context, c client.Client, namespace string) (created bool, err error) {
	svc := c.WorkflowService()
	var notFound *serviceerror.NamespaceNotFound
	switch _, err = svc.DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: namespace}); {
	case err == nil:
		return false, nil
	case !errors.As(err, &notFound):
		return false, fmt.Errorf("describe namespace %s: %w", namespace, err)
	}
	_, err = svc.RegisterNamespace(ctx, &workflowservice.RegisterNamespaceRequest{
		Namespace:                        namespace,
		Description:                      "WMTNA referrals",
		WorkflowExecutionRetentionPeriod: durationpb.New(NamespaceRetention),
	})
	var exists *serviceerror.NamespaceAlreadyExists
	if err != nil && !errors.As(err, &exists) { // another register won the race
		return false, fmt.Errorf("create namespace %s: %w", namespace, err)
	}
	// Wait until the namespace is usable, so what follows (search
	// attributes, the schedule) does not fail on a cache that has not
	// caught up yet.
	deadline := time.Now().Add(namespaceSettle)
	for {
		_, err = c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
		if err == nil {
			return true, nil
		}
		if time.Now().After(deadline) {
			return true, fmt.Errorf("namespace %s was created but is not served after %s: %w", namespace, namespaceSettle, err)
		}
		select {
		case <-ctx.Done():
			return true, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}
