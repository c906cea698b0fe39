package activities

import (
	"context"
	"fmt"

	"github.com/wmtna/referrals/internal/letters"
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
	msg, err := letter(fmt.Sprintf("%s/check-in/%d", in.ReferralID, in.N), r.Email, "trainee.check_in", letters.Data{
		Name: r.Name, Link: a.link("/my-referral/check-in"), Date: in.Deadline.In(referral.London).Format("2 January 2006"),
	})
	if err != nil {
		return err
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
	msg, err := letter(in.ReferralID+"/lapse-warning", r.Email, "trainee.lapse_warning", letters.Data{
		Name: r.Name, Date: cutoff.Start().Format("2 January 2006"),
	})
	if err != nil {
		return err
	}
	ids, err := a.DB.WriteMessages(ctx, in.ReferralID, []postgres.Message{msg})
	if err != nil {
		return err
	}
	a.logMessages(ctx, in.ReferralID, []postgres.Message{msg}, ids)
	a.nudgePostman(ids)
	return nil
}
