// Package outbox starts the delivery of messages written to the outbox: one
// Mail workflow per message. Messages are committed in PostgreSQL first,
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

// Dispatch starts a Mail workflow for every message not yet on its way.
func (p *Postman) Dispatch(ctx context.Context) error {
	for {
		ids, err := p.DB.Undispatched(ctx, 100)
		if err != nil {
			return err
		}
		if len(ids) == 0 {
			return nil
		}
		for _, id := range ids {
			_, err := p.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
				ID:                       workflows.MailWorkflowID(id),
				TaskQueue:                workflows.TaskQueue,
				WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
				WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
			}, workflows.MailWorkflowName, workflows.MailInput{OutboxID: id})
			if err != nil {
				return fmt.Errorf("start delivery of message %d: %w", id, err)
			}
			if err := p.DB.MarkDispatched(ctx, id); err != nil {
				return err
			}
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
		case <-t.C:
		}
	}
}
