package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// The mail workflow delivers one outbox message, so that each email's
// attempts, retries and outcome are visible to operators in the Temporal UI.
const (
	MailWorkflowName       = "Mail"
	ActivityDeliverMessage = "DeliverMessage"
	ActivityGiveUpMessage  = "GiveUpMessage"
	// ErrTypeUndeliverable is a message the SMTP server refused for good
	// (5xx), or one to nobody (erased): retrying cannot help.
	ErrTypeUndeliverable = "Undeliverable"
)

// MailWorkflowID is the workflow ID for outbox message id: starting it
// twice starts it once.
func MailWorkflowID(outboxID int64) string { return fmt.Sprintf("mail-%d", outboxID) }

// MailInput names the outbox message: the workflow carries no address,
// subject or text, which stay in PostgreSQL.
type MailInput struct {
	OutboxID int64 `json:"outbox_id"`
}

// MailTimings are the delivery workflow's patience.
type MailTimings struct {
	// Attempt bounds one SMTP conversation; a worker that dies mid-attempt
	// is noticed, and the attempt retried, after this long.
	Attempt time.Duration
	// GiveUp is how long delivery is retried before the message is marked
	// failed.
	GiveUp time.Duration
}

// DefaultMailTimings: a message is retried for three days, backing off to
// once every half hour. An SMTP conversation takes a second or two, so an
// attempt still running after 15 seconds is taken for dead and retried. Two
// attempts at once cannot both send: only one can mark the message sending,
// and neither sends the final dot without that mark.
var DefaultMailTimings = MailTimings{Attempt: 15 * time.Second, GiveUp: 72 * time.Hour}

// MailWorkflow delivers one message, retrying until it is delivered or
// GiveUp has passed, and then records that it failed.
func MailWorkflow(ctx workflow.Context, in MailInput) error {
	t := DefaultMailTimings
	deliver := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout:    t.Attempt,
		ScheduleToCloseTimeout: t.GiveUp,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        5 * time.Second,
			BackoffCoefficient:     2,
			MaximumInterval:        30 * time.Minute,
			NonRetryableErrorTypes: []string{ErrTypeUndeliverable},
		},
	})
	err := workflow.ExecuteActivity(deliver, ActivityDeliverMessage, in.OutboxID).Get(ctx, nil)
	if err == nil {
		return nil
	}
	workflow.GetLogger(ctx).Warn("giving up on a message", "outbox_id", in.OutboxID)
	record := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute},
	})
	if gerr := workflow.ExecuteActivity(record, ActivityGiveUpMessage, in.OutboxID).Get(ctx, nil); gerr != nil {
		return gerr
	}
	return err
}
