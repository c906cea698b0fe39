package activities

import (
	"context"
	"fmt"
	"strings"

	"github.com/wmtna/referrals/internal/postgres"
	"github.com/wmtna/referrals/internal/referral"
)

// Signposting goes in every message that tells a trainee the network cannot
// help, or not yet: the network is not a crisis service.
const signposting = `If you need support now, please contact your trust's staff support or occupational health service, or your GP. ` +
	`If you are in crisis, call NHS 111 (option 2 for mental health), Samaritans on 116 123, or text SHOUT to 85258. ` +
	`If life is at risk, call 999 or go to A&E.`

// messagesFor builds the messages a transition causes. They carry a link
// and a status, never the trainee's concerns; a therapist learns a trainee's
// name only from the API, once they have accepted.
func (a *Activities) messagesFor(ctx context.Context, t referral.Transition) ([]postgres.Message, error) {
	r, err := a.DB.Referral(ctx, t.ReferralID)
	if err != nil {
		return nil, err
	}
	// Links go to the pages; whoever follows one signs in by email first.
	followLink, reviewLink := a.link("/my-referral"), a.link("/committee/referrals/"+t.ReferralID)
	trainee := func(subject, body string) postgres.Message {
		return postgres.Message{
			Key:       fmt.Sprintf("%s/%d/trainee", t.ReferralID, t.Seq),
			Recipient: r.Email, Kind: "trainee." + string(t.To),
			Subject: subject, Body: "Dear " + r.Name + ",\n\n" + body + "\n\nYour referral: " + followLink + "\n\n" + referral.CrisisSupport + "\n\nWest Midlands Therapy Network Association",
		}
	}
	therapist := func(subject, body string) ([]postgres.Message, error) {
		if t.TherapistID == "" {
			return nil, nil
		}
		th, err := a.DB.Therapist(ctx, t.TherapistID)
		if err != nil {
			return nil, err
		}
		return []postgres.Message{{
			Key:       fmt.Sprintf("%s/%d/therapist/%s", t.ReferralID, t.Seq, th.ID),
			Recipient: th.Email, Kind: "therapist." + string(t.To),
			Subject: subject, Body: "Dear " + th.Name + ",\n\n" + body + "\n\nWest Midlands Therapy Network Association",
		}}, nil
	}
	switch t.To {
	case referral.StatusAwaitingReview:
		msgs, err := a.committeeMessages(ctx, t.ReferralID, "review", t.Seq, "A referral is waiting for review",
			"A new self-referral has passed the eligibility check and is waiting for the committee's review:\n\n"+reviewLink)
		if err != nil {
			return nil, err
		}
		if r.AtRisk {
			// Same-day attention: a separate message that says no more
			// than that, so it is safe in any inbox.
			urgent, err := a.committeeMessages(ctx, t.ReferralID, "urgent", t.Seq, "Same-day attention: a referral is flagged",
				"A new self-referral is flagged for same-day attention by the committee. Please look at it today:\n\n"+reviewLink)
			if err != nil {
				return nil, err
			}
			msgs = append(msgs, urgent...)
		}
		return append(msgs, trainee("We have received your referral",
			"Thank you for referring yourself. You are eligible for the network, and the committee will review your referral soon. "+
				"We will write again when there is news. We cannot promise a therapist by any particular date.\n\n"+signposting)), nil
	case referral.StatusIneligible:
		return []postgres.Message{trainee("About your referral",
			"We are sorry: we cannot offer you a place through the network. "+referral.ReasonText(t.Reason)+"\n\n"+signposting)}, nil
	case referral.StatusDeclined:
		return []postgres.Message{trainee("About your referral",
			"The committee has reviewed your referral and is not able to offer you a place through the network. You can read their reason at the link below.\n\n"+signposting)}, nil
	case referral.StatusWaitlisted:
		if t.From == referral.StatusWaitlisted {
			return nil, nil
		}
		return []postgres.Message{trainee("You are on the waiting list",
			"Your referral is approved. No therapist has a free place just now, so you are on the waiting list, in the order referrals were approved. "+
				"We will offer you the first suitable place that frees up, but we cannot promise a date.\n\n"+signposting)}, nil
	case referral.StatusOffered:
		return therapist("A referral is offered to you",
			"A trainee's referral has been offered to you. Please accept or decline it:\n\n"+a.link("/therapist"))
	case referral.StatusMatched:
		msgs, err := therapist("You have accepted a referral",
			"Thank you for accepting. The referral's details are available to you now:\n\n"+a.link("/therapist"))
		if err != nil {
			return nil, err
		}
		return append(msgs, trainee("A therapist has accepted your referral",
			"Good news: a therapist from the network has accepted your referral and will contact you to arrange your first session.")), nil
	case referral.StatusMatching:
		if t.Reason != referral.CodeOfferExpired {
			return nil, nil
		}
		return therapist("An offer has expired", "An offer made to you was not answered in time, so it has been passed to another therapist.")
	case referral.StatusEnded:
		return []postgres.Message{trainee("Your therapy has ended",
			"Your therapist has told us your therapy has ended. We hope it helped.\n\n"+signposting)}, nil
	case referral.StatusWithdrawn:
		msgs := []postgres.Message{trainee("You have withdrawn your referral",
			"Your referral is withdrawn. You are welcome to refer yourself again while you are eligible.\n\n"+signposting)}
		if t.From == referral.StatusOffered || t.From == referral.StatusMatched {
			m, err := therapist("A referral has been withdrawn", "A referral offered to or matched with you has been withdrawn by the trainee. The place is free again.")
			if err != nil {
				return nil, err
			}
			msgs = append(msgs, m...)
		}
		return msgs, nil
	case referral.StatusClosedNoResponse:
		return []postgres.Message{trainee("Your referral has closed",
			"We asked whether you still wanted a place and did not hear back, so we have closed your referral. "+
				"If you would still like therapy, you are welcome to refer yourself again while you are eligible.\n\n"+signposting)}, nil
	case referral.StatusLapsed:
		return []postgres.Message{trainee("Your referral has closed",
			"We are sorry: no place became free before your eligibility ended (three months before you are due to qualify), so your referral has closed.\n\n"+signposting)}, nil
	}
	return nil, nil
}

// committeeMessages builds one message per committee member, keyed so the
// same event never writes twice.
func (a *Activities) committeeMessages(ctx context.Context, referralID, kind string, n int, subject, body string) ([]postgres.Message, error) {
	members, err := a.DB.CommitteeMembers(ctx)
	if err != nil {
		return nil, err
	}
	msgs := make([]postgres.Message, 0, len(members))
	for _, m := range members {
		msgs = append(msgs, postgres.Message{
			Key:       fmt.Sprintf("%s/committee-%s/%d/%s", referralID, kind, n, m.ID),
			Recipient: m.Email, Kind: "committee." + kind,
			Subject: subject, Body: "Dear " + m.Name + ",\n\n" + body + "\n\nWest Midlands Therapy Network Association",
		})
	}
	return msgs, nil
}

func (a *Activities) link(path string) string {
	return strings.TrimRight(a.PublicURL, "/") + path
}

// logMessages logs each message newly written, by kind and id: never the
// recipient or the text.
func (a *Activities) logMessages(ctx context.Context, referralID string, msgs []postgres.Message, ids []int64) {
	if len(ids) == 0 {
		return
	}
	kinds := make([]string, 0, len(msgs))
	for _, m := range msgs {
		kinds = append(kinds, m.Kind)
	}
	a.logger(ctx, referralID).InfoContext(ctx, "messages written to outbox", "outbox_ids", ids, "kinds", kinds)
}
