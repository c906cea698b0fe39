package activities

import (
	"context"
	"errors"
	"fmt"

	"go.temporal.io/sdk/temporal"

	"github.com/wmtna/referrals/internal/email"
	"github.com/wmtna/referrals/workflows"
)

// Mailer sends one email; see package email for pointOfNoReturn.
type Mailer interface {
	Send(ctx context.Context, m email.Message, pointOfNoReturn func(context.Context) error) error
}

// Postman starts the delivery of messages just written to the outbox. It
// only nudges: delivery never holds up a referral's activity.
type Postman interface {
	Nudge()
}

func (a *Activities) nudgePostman(ids []int64) {
	if a.Postman != nil && len(ids) > 0 {
		a.Postman.Nudge()
	}
}

// DeliverMessage sends outbox message id by email, once. See package email
// for why a message found half-sent is recorded as sent, not sent again.
func (a *Activities) DeliverMessage(ctx context.Context, id int64) error {
	d, err := a.DB.Delivery(ctx, id)
	if err != nil {
		return refusal(err)
	}
	log := a.logger(ctx, d.ReferralID).With("outbox_id", id, "kind", d.Kind)
	switch {
	case d.SentAt != nil || d.FailedAt != nil:
		return nil
	case d.Recipient == "":
		// Erased before it went: there is nobody to send it to.
		log.InfoContext(ctx, "message not sent: its referral was erased")
		return a.DB.MarkFailed(ctx, id)
	case d.SendingAt != nil:
		log.WarnContext(ctx, "message may have been sent by an attempt that died: recorded as sent, not sent again", "attempts", d.Attempts)
		return a.DB.MarkSent(ctx, id, true)
	case a.Mailer == nil:
		return temporal.NewApplicationError("no SMTP server is configured (SMTP_URL)", "NoMailer")
	}
	committed := false
	err = a.Mailer.Send(ctx, email.Message{ID: id, To: d.Recipient, Subject: d.Subject, Body: d.Body}, func(ctx context.Context) error {
		if err := a.DB.MarkSending(ctx, id); err != nil {
			return err
		}
		committed = true
		return nil
	})
	var no *email.Refused
	switch {
	case err == nil:
		if err := a.DB.MarkSent(ctx, id, false); err != nil {
			return err // the retry finds it sending, and records it sent
		}
		log.InfoContext(ctx, "message sent")
		return nil
	case errors.As(err, &no):
		// The server said no: the message did not go, so it may go again.
		if committed {
			if cerr := a.DB.ClearSending(ctx, id); cerr != nil {
				return cerr
			}
		}
		log.WarnContext(ctx, "smtp server refused a message", "code", no.Code, "permanent", no.Permanent)
		if no.Permanent {
			return temporal.NewNonRetryableApplicationError(fmt.Sprintf("message %d refused: %d", id, no.Code), workflows.ErrTypeUndeliverable, nil)
		}
		return fmt.Errorf("message %d refused for now: %d", id, no.Code)
	default:
		// Before the dot the message did not go; after it, nobody knows,
		// and the retry will find it sending.
		log.WarnContext(ctx, "message not delivered this attempt", "after_dot", committed, "err", err)
		return fmt.Errorf("deliver message %d: %w", id, err)
	}
}

// GiveUpMessage records that a message could not be delivered.
func (a *Activities) GiveUpMessage(ctx context.Context, id int64) error {
	a.logger(ctx, "").With("outbox_id", id).WarnContext(ctx, "message undeliverable")
	return a.DB.MarkFailed(ctx, id)
}
