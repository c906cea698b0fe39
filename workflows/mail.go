package workflows

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// The mail workflow delivers a batch of outbox messages with one activity,
// retried until every message has gone or been refused for good. One
// workflow and one activity per batch rather than per message: starting them
// is most of the cost of an email. Each message's state is in PostgreSQL
// (wmtna_emails), and each is logged with its outbox_id.
const (
	MailWorkflowName        = "Mail"
	ActivityDeliverMessages = "DeliverMessages"
	ActivityGiveUpMessages  = "GiveUpMessages"
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

// MailWorkflow delivers the batch, retrying what could not go yet until
// GiveUp has passed, and then records what is left as failed.
func MailWorkflow(ctx workflow.Context, in MailInput) error {
	t := DefaultMailTimings
	deliver := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		// Each message gets its own second on top of an attempt's time.
		StartToCloseTimeout:    t.Attempt + time.Duration(len(in.OutboxIDs))*time.Second,
		ScheduleToCloseTimeout: t.GiveUp,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    5 * time.Second,
			BackoffCoefficient: 2,
			MaximumInterval:    30 * time.Minute,
		},
	})
	err := deliverMessages(deliver, in.OutboxIDs)
	if err == nil {
		return nil
	}
	workflow.GetLogger(ctx).Warn("giving up on messages", "outbox_ids", in.OutboxIDs)
	record := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute},
	})
	if gerr := giveUpMessages(record, in.OutboxIDs); gerr != nil {
		return gerr
	}
	return err
}
