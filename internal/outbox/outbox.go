// Package outbox starts the delivery of messages written to the outbox: one
// Mail workflow per batch of messages written since the last dispatch. Messages are committed in PostgreSQL first,
// with the event that caused them; dispatching is a separate, repeatable
// step (workflow IDs make it idempotent), so a crash between the two delays
// an email but never loses or doubles it.
package outbox

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/wmtna/referrals/internal/postgres"
	"github.com/wmtna/referrals/workflows"
)

// Postman dispatches undispatched messages.
type Postman struct {
	DB       *postgres.DB
	Temporal client.Client
	Logger   *slog.Logger

	nudges chan struct{}
}

// New returns a postman.
func New(db *postgres.DB, c client.Client, logger *slog.Logger) *Postman {
	return &Postman{DB: db, Temporal: c, Logger: logger, nudges: make(chan struct{}, 1)}
}

// Dispatch starts a Mail workflow for the messages not yet on their way,
// up to 100 at a time.
func (p *Postman) Dispatch(ctx context.Context) error {
	for {
		ids, err := p.DB.Undispatched(ctx, 100)
		if err != nil {
			return err
		}
		if len(ids) == 0 {
			return nil
		}
		// Started first, marked after: a crash between the two starts the
		// batch again at the next sweep, harmlessly.
		_, err = p.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
			ID:                       workflows.MailWorkflowID(ids),
			TaskQueue:                workflows.TaskQueue,
			WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
			WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
			StaticSummary:            fmt.Sprintf("Deliver %d outbox messages, from %d", len(ids), ids[0]),
		}, workflows.MailWorkflowName, workflows.MailInput{OutboxIDs: ids})
		if err != nil {
			return fmt.Errorf("start delivery of %d messages from %d: %w", len(ids), ids[0], err)
		}
		if err := p.DB.MarkDispatched(ctx, ids); err != nil {
			return err
		}
	}
}

// Nudge asks Run to dispatch soon. It never blocks.
func (p *Postman) Nudge() {
	select {
	case p.nudges <- struct{}{}:
	default:
	}
}

// Run dispatches whenever nudged, and every interval as a backstop (for
// messages whose writer died before nudging), until ctx ends.
func (p *Postman) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := p.Dispatch(ctx); err != nil && ctx.Err() == nil {
			p.Logger.ErrorContext(ctx, "dispatch outbox", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-p.nudges:
			// Gather what else is written in the next moment into the same
			// batch: an email a quarter of a second later costs nobody
			// anything, and one workflow for many messages is much cheaper
			// than one each.
			select {
			case <-ctx.Done():
				return
			case <-time.After(gather):
			}
		case <-t.C:
		}
	}
}

// gather is how long Run waits after a nudge before dispatching.
const gather = 250 * time.Millisecond
