package activities

import (
	"context"
	"errors"
	"fmt"

	"go.temporal.io/sdk/temporal"

	"github.com/wmtna/referrals/internal/email"
	"github.com/wmtna/referrals/internal/letters"
	"github.com/wmtna/referrals/internal/referral"
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

// DeliverMessages sends each outbox message of a batch by email, once. A
// message the server refuses for good is recorded as failed and the rest go
// on; if any could not go for now, the error asks for a retry, which skips
// those already sent. See package email for why a message found half-sent
// is recorded as sent, not sent again.
func (a *Activities) DeliverMessages(ctx context.Context, ids []int64) error {
	if a.Mailer == nil {
		return temporal.NewApplicationError("no SMTP server is configured (SMTP_URL)", "NoMailer")
	}
	var later []error
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := a.deliver(ctx, id); err != nil {
			later = append(later, err)
		}
	}
	if len(later) > 0 {
		return fmt.Errorf("%d of %d messages not delivered yet: %w", len(later), len(ids), errors.Join(later...))
	}
	return nil
}

// deliver sends one message; an error means it may go on a retry.
func (a *Activities) deliver(ctx context.Context, id int64) error {
	d, err := a.DB.Delivery(ctx, id)
	if errors.Is(err, referral.ErrNotFound) {
		return nil // not a message of ours: nothing to send
	}
	if err != nil {
		return err
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
	}
	committed := false
	err = a.Mailer.Send(ctx, email.Message{ID: id, To: d.Recipient, Subject: d.Subject, Body: d.Body,
		HTML: letters.HTML(d.Subject, d.Body)}, func(ctx context.Context) error {
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
			return a.DB.MarkFailed(ctx, id)
		}
		return fmt.Errorf("message %d refused for now: %d", id, no.Code)
	default:
		// Before the dot the message did not go; after it, nobody knows,
		// and the retry will find it sending.
		log.WarnContext(ctx, "message not delivered this attempt", "after_dot", committed, "err", err)
		return fmt.Errorf("deliver message %d: %w", id, err)
	}
}

// GiveUpMessages records that the batch's messages still unsent could not
// be delivered.
func (a *Activities) GiveUpMessages(ctx context.Context, ids []int64) error {
	for _, id := range ids {
		if err := a.DB.MarkFailed(ctx, id); err != nil {
			return err
		}
	}
	a.logger(ctx, "").WarnContext(ctx, "messages undeliverable", "outbox_ids", ids)
	return nil
}
