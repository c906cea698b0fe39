// Package announce tells waiting referrals' workflows that a place has been
// offered to them. Offers made by filling a freed place are committed in
// Postgres first and marked unannounced; announcing is a separate, repeatable
// step, so a crash between the two delays a nudge but never loses an offer.
package announce

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/wmtna/referrals/internal/postgres"
	"github.com/wmtna/referrals/workflows"
)

// Announcer signals the workflows of referrals with unannounced offers.
type Announcer struct {
	DB       *postgres.DB
	Temporal client.Client
	Logger   *slog.Logger
}

// Announce signals every referral with an unannounced offer and marks the
// offer announced. A referral whose workflow no longer runs is skipped: it
// left the queue, and leaving released the offer.
func (a *Announcer) Announce(ctx context.Context) error {
	for {
		offers, err := a.DB.Unannounced(ctx, 100)
		if err != nil {
			return err
		}
		if len(offers) == 0 {
			return nil
		}
		for _, o := range offers {
			err := a.Temporal.SignalWorkflow(ctx, workflows.WorkflowID(o.ReferralID), "", workflows.SignalPlaceFreed, nil)
			var notFound *serviceerror.NotFound
			if err != nil && !errors.As(err, &notFound) {
				return fmt.Errorf("nudge referral %s: %w", o.ReferralID, err)
			}
			if err := a.DB.MarkAnnounced(ctx, o.ID); err != nil {
				return err
			}
			a.Logger.InfoContext(ctx, "place offered from the waitlist", "referral_id", o.ReferralID, "workflow_id", workflows.WorkflowID(o.ReferralID),
				"offer_id", o.ID, "therapist_id", o.TherapistID)
		}
	}
}
