package activities

import (
	"context"

	"go.temporal.io/sdk/temporal"

	"github.com/wmtna/referrals/workflows"
)

// EraseReferral erases a finished referral's personal details and records
// the erasure; erasing it again changes nothing and returns false. An open
// referral is refused (not retried).
func (a *Activities) EraseReferral(ctx context.Context, in workflows.EraseInput) (bool, error) {
	if in.Reason != workflows.ErasureReasonRetention && in.Reason != workflows.ErasureReasonRequest {
		return false, temporal.NewNonRetryableApplicationError("unknown erasure reason "+in.Reason, workflows.ErrTypeInvalidRequest, nil)
	}
	erased, err := a.DB.EraseReferral(ctx, in.ReferralID, in.RequestedBy, in.Reason)
	if err != nil {
		return false, refusal(err)
	}
	if erased {
		a.logger(ctx, in.ReferralID).InfoContext(ctx, "referral erased", "reason", in.Reason, "requested_by", in.RequestedBy)
	}
	return erased, nil
}

// ExpiredReferrals lists up to a batch of finished referrals whose retention
// period has passed and which are not yet erased.
func (a *Activities) ExpiredReferrals(ctx context.Context, in workflows.RetentionInput) ([]string, error) {
	if in.Retention < 0 || in.Batch <= 0 {
		return nil, temporal.NewNonRetryableApplicationError("retention must not be negative and batch must be positive", workflows.ErrTypeInvalidRequest, nil)
	}
	ids, err := a.DB.ExpiredReferrals(ctx, in.Retention, in.Batch)
	if err != nil {
		return nil, err
	}
	if len(ids) > 0 {
		a.logger(ctx, "").InfoContext(ctx, "referrals past retention", "count", len(ids), "retention", in.Retention.String())
	}
	return ids, nil
}
