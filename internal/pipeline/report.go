package pipeline

import (
	"context"
	"time"

	"github.com/wmtna/referrals/internal/referral"
)

// Period is a run of UK calendar days, both included.
type Period struct{ From, To referral.Date }

// Report is the committee's statistics for a period. Every figure has been
// through the small-number rule; nothing in it names or describes one
// person.
func (s *Service) Report(ctx context.Context, p referral.Principal, in Input[Period]) (rep referral.Report, err error) {
	defer s.audited(ctx, p, ActReport, "", &err)
	if err := allowed(p, ActReport); err != nil {
		return rep, err
	}
	period, err := in()
	if err != nil {
		return rep, err
	}
	from, to := period.From, period.To
	// The store takes [start of from, start of the day after to).
	end := time.Date(to.Year, to.Month, to.Day+1, 0, 0, 0, 0, referral.London)
	if rep, err = s.DB.Report(ctx, from.Start(), end); err != nil {
		return rep, s.failed(ctx, "report", "", err)
	}
	return rep, nil
}

// Today is the service clock's UK calendar day.
func (s *Service) Today() referral.Date { return referral.DateOf(s.now()) }
