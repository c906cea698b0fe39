package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/wmtna/referrals/workflows"
)

// retentionEvery is how often the retention schedule runs.
const retentionEvery = 24 * time.Hour

// EnsureRetentionSchedule makes the Temporal Schedule workflows.
// RetentionScheduleID start RetentionWorkflow every day with the given
// retention: it creates the schedule, or updates the spec and action of an
// existing one (leaving it paused if an operator paused it). Calling it again
// is harmless, so every worker can call it when it starts.
func EnsureRetentionSchedule(ctx context.Context, c client.Client, retention time.Duration) error {
	if retention <= 0 {
		return fmt.Errorf("retention schedule: retention must be positive, got %s", retention)
	}
	spec := client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: retentionEvery}}}
	action := &client.ScheduleWorkflowAction{
		ID:        workflows.RetentionScheduleID,
		Workflow:  workflows.RetentionWorkflowName,
		Args:      []any{workflows.RetentionInput{Retention: retention, Batch: workflows.DefaultRetentionBatch}},
		TaskQueue: workflows.TaskQueue,
		// What the Temporal UI lists each run by.
		StaticSummary: "Retention: erase referrals ended more than " + retention.String() + " ago",
	}
	sc := c.ScheduleClient()
	_, err := sc.Create(ctx, client.ScheduleOptions{
		ID:      workflows.RetentionScheduleID,
		Spec:    spec,
		Action:  action,
		Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
		Note:    "erases personal details of referrals that ended more than " + retention.String() + " ago",
	})
	if err == nil {
		return nil
	}
	if !errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
		return fmt.Errorf("create schedule %s: %w", workflows.RetentionScheduleID, err)
	}
	err = sc.GetHandle(ctx, workflows.RetentionScheduleID).Update(ctx, client.ScheduleUpdateOptions{
		DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
			s := in.Description.Schedule
			s.Spec = &spec
			s.Action = action
			if s.Policy == nil {
				s.Policy = &client.SchedulePolicies{}
			}
			s.Policy.Overlap = enumspb.SCHEDULE_OVERLAP_POLICY_SKIP
			return &client.ScheduleUpdate{Schedule: &s}, nil
		},
	})
	if err != nil {
		return fmt.Errorf("update schedule %s: %w", workflows.RetentionScheduleID, err)
	}
	return nil
}
