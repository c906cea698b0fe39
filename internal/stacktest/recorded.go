package stacktest

import (
	"context"
	"sync"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/interceptor"

	"github.com/wmtna/referrals/internal/referral"
)

// recordedStatuses remembers, in memory, the last status each referral's
// workflow has recorded with the RecordTransition activity. The load
// benchmark's simulated committee waits on it the way its baseline's driver
// waits on a flag set by the bare workflow's activity, so that neither
// driver loads the database or the server it is measuring while it waits.
//
// It is a client interceptor that is also a worker interceptor, so every
// worker made from the stack's client uses it.
type recordedStatuses struct {
	interceptor.InterceptorBase
	last sync.Map // referral ID → referral.Status
}

func (r *recordedStatuses) InterceptActivity(ctx context.Context, next interceptor.ActivityInboundInterceptor) interceptor.ActivityInboundInterceptor {
	a := &recordingActivity{statuses: r}
	a.Next = next
	return a
}

type recordingActivity struct {
	interceptor.ActivityInboundInterceptorBase
	statuses *recordedStatuses
}

func (a *recordingActivity) ExecuteActivity(ctx context.Context, in *interceptor.ExecuteActivityInput) (any, error) {
	result, err := a.Next.ExecuteActivity(ctx, in)
	if err != nil || activity.GetInfo(ctx).ActivityType.Name != "RecordTransition" || len(in.Args) != 1 {
		return result, err
	}
	if t, ok := in.Args[0].(referral.Transition); ok {
		a.statuses.last.Store(t.ReferralID, t.To)
	}
	return result, err
}

// Recorded returns the last status the referral's workflow recorded, as
// the activity that recorded it returned, or "" before the first. It reads
// memory only: see recordedStatuses.
func (s *Stack) Recorded(referralID string) referral.Status {
	if v, ok := s.recorded.last.Load(referralID); ok {
		return v.(referral.Status)
	}
	return ""
}
