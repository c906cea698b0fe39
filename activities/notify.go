package activities

import (
	"context"
	"fmt"
	"strings"

	"github.com/wmtna/referrals/internal/letters"
	"github.com/wmtna/referrals/internal/postgres"
	"github.com/wmtna/referrals/internal/referral"
)

// messagesFor builds the messages a transition causes. They carry a link
// and a status, never the trainee's concerns; a therapist learns a trainee's
// name only from the API, once they have accepted. The words are the
// letters named by each message's kind (package letters); which messages
// go, to whom, and under which key is decided here.
func (a *Activities) messagesFor(ctx context.Context, t referral.Transition) ([]postgres.Message, error) {
	r, err := a.DB.Referral(ctx, t.ReferralID)
	if err != nil {
		return nil, err
	}
	// Links go to the pages; whoever follows one signs in by email first.
	followLink, reviewLink := a.link("/my-referral"), a.link("/committee/referrals/"+t.ReferralID)
	kind := "trainee." + string(t.To)
	if t.To == referral.StatusClosedNoResponse && t.Reason == referral.CodeIncomplete {
		kind = "trainee.closed_incomplete" // a question, not a check-in, went unanswered
	}
	trainee := func() (postgres.Message, error) {
		return letter(fmt.Sprintf("%s/%d/trainee", t.ReferralID, t.Seq), r.Email, kind,
			letters.Data{Name: r.Name, Link: followLink, Reason: referral.ReasonText(t.Reason)})
	}
	// therapist writes to the therapist of the transition's offer, if it
	// has one; link is "" for a letter with nothing for them to do. An offer
	// made by the transition says when it lapses, so they can answer in
	// time.
	answerBy := ""
	if !t.OfferExpiresAt.IsZero() {
		answerBy = t.OfferExpiresAt.In(referral.London).Format("3:04pm on 2 January 2006")
	}
	therapist := func(link string) ([]postgres.Message, error) {
		if t.TherapistID == "" {
			return nil, nil
		}
		th, err := a.DB.Therapist(ctx, t.TherapistID)
		if err != nil {
			return nil, err
		}
		m, err := letter(fmt.Sprintf("%s/%d/therapist/%s", t.ReferralID, t.Seq, th.ID), th.Email, "therapist."+string(t.To),
			letters.Data{Name: th.Name, Link: link, Date: answerBy})
		if err != nil {
			return nil, err
		}
		return []postgres.Message{m}, nil
	}
	switch t.To {
	case referral.StatusAwaitingReview:
		if t.From == referral.StatusAwaitingInformation {
			// The trainee answered: back to the committee, who asked.
			return a.committeeMessages(ctx, t.ReferralID, "answered", t.Seq, reviewLink)
		}
		msgs, err := a.committeeMessages(ctx, t.ReferralID, "review", t.Seq, reviewLink)
		if err != nil {
			return nil, err
		}
		if r.AtRisk {
			// Same-day attention: a separate message that says no more
			// than that, so it is safe in any inbox.
			urgent, err := a.committeeMessages(ctx, t.ReferralID, "urgent", t.Seq, reviewLink)
			if err != nil {
				return nil, err
			}
			msgs = append(msgs, urgent...)
		}
		m, err := one(trainee())
		if err != nil {
			return nil, err
		}
		return append(msgs, m...), nil
	case referral.StatusWaitlisted:
		if t.From == referral.StatusWaitlisted {
			return nil, nil
		}
		return one(trainee())
	case referral.StatusIneligible, referral.StatusDeclined, referral.StatusEnded,
		referral.StatusClosedNoResponse, referral.StatusLapsed, referral.StatusAwaitingInformation:
		return one(trainee())
	case referral.StatusOffered:
		return therapist(a.link("/therapist"))
	case referral.StatusMatched:
		msgs, err := therapist(a.link("/therapist"))
		if err != nil {
			return nil, err
		}
		m, err := one(trainee())
		if err != nil {
			return nil, err
		}
		return append(msgs, m...), nil
	case referral.StatusMatching:
		if t.Reason != referral.CodeOfferExpired {
			return nil, nil
		}
		return therapist("")
	case referral.StatusWithdrawn:
		msgs, err := one(trainee())
		if err != nil {
			return nil, err
		}
		if t.From == referral.StatusOffered || t.From == referral.StatusMatched {
			m, err := therapist("")
			if err != nil {
				return nil, err
			}
			msgs = append(msgs, m...)
		}
		return msgs, nil
	}
	return nil, nil
}

// committeeMessages builds one message per committee member, keyed so the
// same event never writes twice, from the letter committee.<kind>.
func (a *Activities) committeeMessages(ctx context.Context, referralID, kind string, n int, link string) ([]postgres.Message, error) {
	members, err := a.DB.CommitteeMembers(ctx)
	if err != nil {
		return nil, err
	}
	msgs := make([]postgres.Message, 0, len(members))
	for _, m := range members {
		msg, err := letter(fmt.Sprintf("%s/committee-%s/%d/%s", referralID, kind, n, m.ID), m.Email, "committee."+kind,
			letters.Data{Name: m.Name, Link: link})
		if err != nil {
			return nil, err
		}
		msgs = append(msgs, msg)
	}
	return msgs, nil
}

// letter writes the letter named kind as an outbox message of that kind.
func letter(key, recipient, kind string, d letters.Data) (postgres.Message, error) {
	l, err := letters.Render(kind, d)
	if err != nil {
		return postgres.Message{}, fmt.Errorf("message %s: %w", key, err)
	}
	return postgres.Message{Key: key, Recipient: recipient, Kind: kind, Subject: l.Subject, Body: l.Body}, nil
}

// one makes a lone message a list, for the transitions that write one.
func one(m postgres.Message, err error) ([]postgres.Message, error) {
	if err != nil {
		return nil, err
	}
	return []postgres.Message{m}, nil
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
