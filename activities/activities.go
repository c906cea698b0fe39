// Package activities holds the referral workflow's side effects: reading
// and writing Postgres, and writing notifications to the outbox. Every
// activity is idempotent, so Temporal may retry any of them at any point.
package activities

import (
	"context"
	"errors"
	"log/slog"
	"strings"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/wmtna/referrals/internal/postgres"
	"github.com/wmtna/referrals/internal/referral"
	"github.com/wmtna/referrals/workflows"
)

// Announcer tells waiting referrals about places offered to them.
type Announcer interface {
	Announce(ctx context.Context) error
}

// Activities are the referral workflow's activities.
type Activities struct {
	DB        *postgres.DB
	Announcer Announcer
	// Mailer sends email (nil: messages stay in the outbox); Postman is
	// nudged whenever messages are written (nil: the worker's sweep finds
	// them).
	Mailer  Mailer
	Postman Postman
	// PublicURL is where people reach the service; messages link to it.
	PublicURL string
	Logger    *slog.Logger
}

// logger returns a.Logger with the referral_id and workflow_id of the
// referral a line is about, so an operator can go from any line to the
// workflow in the Temporal UI and back. Inside an activity, workflow_id is
// the workflow running it (activity.GetInfo); a referral's workflow ID is
// "referral-<id>", which gives referral_id when referralID is "". Erasure
// activities run in "erase-<id>" workflows and name their referral. No
// personal details go in: IDs only.
func (a *Activities) logger(ctx context.Context, referralID string) *slog.Logger {
	workflowID := ""
	if activity.IsActivity(ctx) {
		workflowID = activity.GetInfo(ctx).WorkflowExecution.ID
		if id, ok := strings.CutPrefix(workflowID, workflows.WorkflowID("")); ok && referralID == "" {
			referralID = id
		}
	} else if referralID != "" {
		workflowID = workflows.WorkflowID(referralID)
	}
	var attrs []any
	if referralID != "" {
		attrs = append(attrs, "referral_id", referralID)
	}
	if workflowID != "" {
		attrs = append(attrs, "workflow_id", workflowID)
	}
	return a.Logger.With(attrs...)
}

// CheckEligibility decides whether the referral meets the network's rules.
func (a *Activities) CheckEligibility(ctx context.Context, referralID string) (referral.Eligibility, error) {
	e, err := a.DB.CheckEligibility(ctx, referralID)
	return e, refusal(err)
}

// RecordTransition records a transition and writes the messages it causes.
func (a *Activities) RecordTransition(ctx context.Context, t referral.Transition) error {
	msgs, err := a.messagesFor(ctx, t)
	if err != nil {
		return refusal(err)
	}
	recorded, ids, err := a.DB.RecordTransition(ctx, t, msgs)
	if err != nil {
		return refusal(err)
	}
	if recorded {
		a.logger(ctx, t.ReferralID).InfoContext(ctx, "referral transition", "seq", t.Seq,
			"from", t.From, "to", t.To, "actor", t.Actor.String(), "reason", t.Reason, "messages", len(ids))
	}
	a.logMessages(ctx, t.ReferralID, msgs, ids)
	a.nudgePostman(ids)
	return nil
}

// RemindCommittee asks the committee again to review a referral.
func (a *Activities) RemindCommittee(ctx context.Context, in workflows.ReminderInput) error {
	msgs, err := a.committeeMessages(ctx, in.ReferralID, "reminder", in.N, a.link("/committee/referrals/"+in.ReferralID))
	if err != nil {
		return err
	}
	ids, err := a.DB.WriteMessages(ctx, in.ReferralID, msgs)
	if err != nil {
		return err
	}
	a.logMessages(ctx, in.ReferralID, msgs, ids)
	a.nudgePostman(ids)
	return nil
}

// Enqueue puts an approved referral in the queue and returns its offer, if a
// therapist was free.
func (a *Activities) Enqueue(ctx context.Context, referralID string) (*referral.Offer, error) {
	o, err := a.DB.Enqueue(ctx, referralID)
	return o, refusal(err)
}

// CloseOffer closes an open offer as declined or expired and returns the
// referral's next offer, if any; the freed place goes to the queue.
func (a *Activities) CloseOffer(ctx context.Context, in workflows.CloseOfferInput) (*referral.Offer, error) {
	next, err := a.DB.CloseOffer(ctx, in.OfferID, in.Outcome, in.ReasonCode)
	if err != nil {
		return nil, refusal(err)
	}
	return next, a.Announcer.Announce(ctx)
}

// AcceptOffer records a therapist's acceptance.
func (a *Activities) AcceptOffer(ctx context.Context, offerID string) error {
	return refusal(a.DB.AcceptOffer(ctx, offerID))
}

// Leave takes a referral out of the queue for good, releasing any place it
// held to the next in line.
func (a *Activities) Leave(ctx context.Context, referralID string) error {
	if err := a.DB.Leave(ctx, referralID); err != nil {
		return refusal(err)
	}
	return a.Announcer.Announce(ctx)
}

// Reconcile fills any free places from the queue and returns the
// referral's open offer, if it now has one.
func (a *Activities) Reconcile(ctx context.Context, referralID string) (*referral.Offer, error) {
	o, err := a.DB.Reconcile(ctx, referralID)
	if err != nil {
		return nil, refusal(err)
	}
	return o, a.Announcer.Announce(ctx)
}

// refusal turns the store's domain errors into non-retryable application
// errors, since retrying cannot change them. The message names IDs only.
func refusal(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, referral.ErrConflict):
		return temporal.NewNonRetryableApplicationError(err.Error(), workflows.ErrTypeConflict, nil)
	case errors.Is(err, referral.ErrNotFound):
		return temporal.NewNonRetryableApplicationError(err.Error(), workflows.ErrTypeInvalidRequest, nil)
	}
	return err
}

// ReturnTherapist brings an away therapist back on the day they said, if
// they are still away until that day, and tells waiting referrals of the
// places that gave them. It reports whether they came back; a repeat finds
// them back already and changes nothing.
func (a *Activities) ReturnTherapist(ctx context.Context, in workflows.TherapistReturnInput) (bool, error) {
	back, err := a.DB.ReturnTherapist(ctx, in.TherapistID, in.Until)
	if err != nil {
		return false, refusal(err)
	}
	a.Logger.InfoContext(ctx, "therapist return", "therapist_id", in.TherapistID, "back", back)
	return back, a.Announcer.Announce(ctx)
}
