package activities

import (
	"context"
	"fmt"

	"github.com/wmtna/referrals/internal/postgres"
	"github.com/wmtna/referrals/internal/referral"
	"github.com/wmtna/referrals/workflows"
)

// AskCheckIn asks a waiting trainee whether they still want a place, once
// per check-in however often it is retried.
func (a *Activities) AskCheckIn(ctx context.Context, in workflows.CheckInInput) error {
	r, err := a.DB.Referral(ctx, in.ReferralID)
	if err != nil {
		return refusal(err)
	}
	answer := a.link("/my-referral/check-in")
	msg := postgres.Message{
		Key:       fmt.Sprintf("%s/check-in/%d", in.ReferralID, in.N),
		Recipient: r.Email, Kind: "trainee.check_in",
		Subject: "Do you still want a place with a therapist?",
		Body: "Dear " + r.Name + ",\n\nYou are on our waiting list. Please tell us by " + in.Deadline.In(referral.London).Format("2 January 2006") +
			" whether you still want a place. Answering yes keeps your place in the queue; if we do not hear from you, we will close your referral " +
			"(you can refer yourself again while you are eligible).\n\nAnswer here: " + answer +
			"\n\n" + referral.CrisisSupport + "\n\nWest Midlands Therapy Network Association",
	}
	ids, err := a.DB.WriteMessages(ctx, in.ReferralID, []postgres.Message{msg})
	if err != nil {
		return err
	}
	a.logMessages(ctx, in.ReferralID, []postgres.Message{msg}, ids)
	a.nudgePostman(ids)
	return nil
}

// WarnLapse tells a waiting trainee that their eligibility ends soon, with
// where else to find support.
func (a *Activities) WarnLapse(ctx context.Context, in workflows.LapseWarningInput) error {
	r, err := a.DB.Referral(ctx, in.ReferralID)
	if err != nil {
		return refusal(err)
	}
	cutoff, err := referral.ParseDate(in.Cutoff)
	if err != nil {
		return refusal(fmt.Errorf("cut-off of %s: %w", in.ReferralID, referral.ErrConflict))
	}
	msg := postgres.Message{
		Key:       in.ReferralID + "/lapse-warning",
		Recipient: r.Email, Kind: "trainee.lapse_warning",
		Subject: "Your eligibility for the network ends soon",
		Body: "Dear " + r.Name + ",\n\nYou are still on our waiting list. Your eligibility for the network ends on " +
			cutoff.Start().Format("2 January 2006") + " (three months before you are due to qualify). If no place frees up before then, " +
			"your referral will close. We are sorry we cannot promise a date.\n\nOther support you can use now: NHS Practitioner Health " +
			"(a free, confidential service for NHS staff), NHS Talking Therapies (you can refer yourself), your trust's staff wellbeing " +
			"or occupational health service, and your GP.\n\n" + referral.CrisisSupport + "\n\nWest Midlands Therapy Network Association",
	}
	ids, err := a.DB.WriteMessages(ctx, in.ReferralID, []postgres.Message{msg})
	if err != nil {
		return err
	}
	a.logMessages(ctx, in.ReferralID, []postgres.Message{msg}, ids)
	a.nudgePostman(ids)
	return nil
}
