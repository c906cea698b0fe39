package activities

import (
	"context"
	"fmt"

	"github.com/wmtna/referrals/internal/letters"
	"github.com/wmtna/referrals/internal/postgres"
	"github.com/wmtna/referrals/internal/referral"
	"github.com/wmtna/referrals/workflows"
)

// tellTrainee writes one letter of kind to a referral's trainee, under key,
// so that however often it is retried it is written once, and starts its
// delivery. data fills the letter from the referral.
func (a *Activities) tellTrainee(ctx context.Context, referralID, key, kind string, data func(r referral.Referral) letters.Data) error {
	r, err := a.DB.Referral(ctx, referralID)
	if err != nil {
		return refusal(err)
	}
	msg, err := letter(key, r.Email, kind, data(r))
	if err != nil {
		return err
	}
	ids, err := a.DB.WriteMessages(ctx, referralID, []postgres.Message{msg})
	if err != nil {
		return err
	}
	a.logMessages(ctx, referralID, []postgres.Message{msg}, ids)
	a.nudgePostman(ids)
	return nil
}

// AskCheckIn asks a waiting trainee whether they still want a place, once
// per check-in however often it is retried.
func (a *Activities) AskCheckIn(ctx context.Context, in workflows.CheckInInput) error {
	return a.tellTrainee(ctx, in.ReferralID, fmt.Sprintf("%s/check-in/%d", in.ReferralID, in.N), "trainee.check_in", func(r referral.Referral) letters.Data {
		return letters.Data{Name: r.Name, Link: a.link("/my-referral/check-in"), Date: in.Deadline.In(referral.London).Format("2 January 2006")}
	})
}

// WarnLapse tells a waiting trainee that their eligibility ends soon, with
// where else to find support.
func (a *Activities) WarnLapse(ctx context.Context, in workflows.LapseWarningInput) error {
	cutoff, err := referral.ParseDate(in.Cutoff)
	if err != nil {
		return refusal(fmt.Errorf("cut-off of %s: %w", in.ReferralID, referral.ErrConflict))
	}
	return a.tellTrainee(ctx, in.ReferralID, in.ReferralID+"/lapse-warning", "trainee.lapse_warning", func(r referral.Referral) letters.Data {
		return letters.Data{Name: r.Name, Date: cutoff.Start().Format("2 January 2006")}
	})
}

// Pause takes a waiting referral out of the offers until the day asked; it
// returns the referral's offer instead when a place was offered first.
func (a *Activities) Pause(ctx context.Context, in workflows.PauseInput) (*referral.Offer, error) {
	o, err := a.DB.Pause(ctx, in.ReferralID, in.At, in.Until)
	return o, refusal(err)
}

// Resume puts a paused referral back in line and returns its offer, if a
// free place could be offered to it at once.
func (a *Activities) Resume(ctx context.Context, in workflows.ResumeInput) (*referral.Offer, error) {
	o, err := a.DB.Resume(ctx, in.ReferralID, in.At)
	return o, refusal(err)
}

// RemindPauseEnds tells a trainee that their paused place will be theirs
// again soon, once per pause.
func (a *Activities) RemindPauseEnds(ctx context.Context, in workflows.PauseReminderInput) error {
	return a.tellTrainee(ctx, in.ReferralID, fmt.Sprintf("%s/pause-ends/%d", in.ReferralID, in.N), "trainee.pause_ending", func(r referral.Referral) letters.Data {
		return letters.Data{Name: r.Name, Link: a.link("/my-referral"), Date: in.Until.In(referral.London).Format("2 January 2006")}
	})
}

// RemindQuestion reminds a trainee that the committee's question waits for
// their answer, once per reminder. The email names no question: it may be
// about their health, and is read on their page after signing in.
func (a *Activities) RemindQuestion(ctx context.Context, in workflows.QuestionReminderInput) error {
	key := fmt.Sprintf("%s/question/%d/reminder/%d", in.ReferralID, in.N, in.K)
	return a.tellTrainee(ctx, in.ReferralID, key, "trainee.question_reminder", func(r referral.Referral) letters.Data {
		return letters.Data{Name: r.Name, Link: a.link("/my-referral"), Date: in.Deadline.In(referral.London).Format("2 January 2006")}
	})
}

// followUpLetters are the letter of each kind of follow-up, and of its
// reminder, and the page each one's link opens.
var followUpLetters = map[string]struct{ first, again, page string }{
	referral.FollowUpFeedback: {"trainee.feedback", "trainee.feedback_reminder", "/feedback/"},
	referral.FollowUpStayed6:  {"trainee.stayed", "trainee.stayed", "/stayed/"},
	referral.FollowUpStayed12: {"trainee.stayed", "trainee.stayed", "/stayed/"},
}

// InviteFollowUp writes one follow-up invitation to a former client, with
// a single-use link, once however often it is retried. It returns what
// became of it (workflows.Invite*): stopped when the referral was erased
// or its former client asked for no more.
func (a *Activities) InviteFollowUp(ctx context.Context, in workflows.FollowUpInviteInput) (string, error) {
	l, ok := followUpLetters[in.Kind]
	if !ok {
		return "", refusal(fmt.Errorf("follow-up %q: %w", in.Kind, referral.ErrConflict))
	}
	kind := l.first
	if in.N > 1 {
		kind = l.again
	}
	out, ids, err := a.DB.Invite(ctx, in.ReferralID, in.Kind, in.N, in.TTL, func(name, email, secret string) (postgres.Message, error) {
		return letter("", email, kind, letters.Data{Name: name, Link: a.link(l.page + secret), Stop: a.link("/follow-ups/stop/" + secret)})
	})
	if err != nil {
		return "", refusal(err)
	}
	if len(ids) > 0 {
		a.logger(ctx, in.ReferralID).InfoContext(ctx, "follow-up written", "kind", in.Kind, "n", in.N, "outbox_ids", ids)
		a.nudgePostman(ids)
	}
	return string(out), nil
}
