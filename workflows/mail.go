package workflows

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// The mail workflow delivers a batch of outbox messages, each with its own
// activity and retries, so that each email's attempts and outcome are
// visible to operators in the Temporal UI. One workflow per batch rather
// than per message: starting workflows is most of the cost of email.
const (
	MailWorkflowName       = "Mail"
	ActivityDeliverMessage = "DeliverMessage"
	ActivityGiveUpMessage  = "GiveUpMessage"
	// ErrTypeUndeliverable is a message the SMTP server refused for good
	// (5xx): retrying cannot help.
	ErrTypeUndeliverable = "Undeliverable"
)

// MailWorkflowID names the workflow of a batch by its messages: starting
// the same batch twice starts it once, and a batch that differs by one
// message is another workflow (delivering a message twice is harmless:
// DeliverMessage sends each once).
func MailWorkflowID(outboxIDs []int64) string {
	h := sha256.New()
	for _, id := range outboxIDs {
		_ = binary.Write(h, binary.BigEndian, id)
	}
	return fmt.Sprintf("mail-%d-%x", outboxIDs[0], h.Sum(nil)[:6])
}

// MailInput names the outbox messages: the workflow carries no address,
// subject or text, which stay in PostgreSQL.
type MailInput struct {
	OutboxIDs []int64 `json:"outbox_ids"`
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

// MailWorkflow delivers each message, retrying until it is delivered or
// GiveUp has passed, and records those it gave up on. The messages go at
// once, each on its own: one refused or slow message holds up no other.
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
	sends := make([]workflow.Future, len(in.OutboxIDs))
	for i, id := range in.OutboxIDs {
		sends[i] = workflow.ExecuteActivity(deliver, ActivityDeliverMessage, id)
	}
	record := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute},
	})
	var failed []error
	for i, f := range sends {
		err := f.Get(ctx, nil)
		if err == nil {
			continue
		}
		id := in.OutboxIDs[i]
		workflow.GetLogger(ctx).Warn("giving up on a message", "outbox_id", id)
		if gerr := workflow.ExecuteActivity(record, ActivityGiveUpMessage, id).Get(ctx, nil); gerr != nil {
			return gerr
		}
		failed = append(failed, fmt.Errorf("message %d: %w", id, err))
	}
	// A batch with an undeliverable message fails, for operators to see.
	return errors.Join(failed...)
}
