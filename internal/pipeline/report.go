package pipeline

import (
	"context"
	"time"

	"github.com/wmtna/referrals/internal/referral"
)

// Period is a run of UK calendar days, both included.
type Period struct{ From, To referral.Date }

// MaxReportYears bounds a report's period, which has a row per month.
const MaxReportYears = 10

// LastTwelveMonths is the period a report covers unless asked otherwise:
// from the first day of the month 11 months before today's, to today.
func LastTwelveMonths(today referral.Date) Period {
	return Period{From: referral.Date{Year: today.Year, Month: today.Month, Day: 1}.AddMonths(-11), To: today}
}

// CalendarYear is the period of a year, 1 January to 31 December.
func CalendarYear(year int) Period {
	return Period{From: referral.Date{Year: year, Month: time.January, Day: 1}, To: referral.Date{Year: year, Month: time.December, Day: 31}}
}

// Check says what is wrong with a period, naming the field at fault.
func (p Period) Check() *Error {
	if p.To.Before(p.From) {
		return FieldError("from", "from must not be after to")
	}
	if p.From.Before(p.To.AddMonths(-12 * MaxReportYears)) {
		return FieldError("from", "the period may be at most %d years long", MaxReportYears)
	}
	return nil
}

// Report is the committee's statistics for a period, with what former
// clients said about therapy that ended in the quarters the period
// touches. Every figure has been through the small-number rule and
// secondary suppression; nothing in it names or describes one person.
func (s *Service) Report(ctx context.Context, p referral.Principal, in Input[Period]) (rep referral.Report, err error) {
	defer s.audited(ctx, p, ActReport, "", &err)
	if err := allowed(p, ActReport); err != nil {
		return rep, err
	}
	period, err := in()
	if err != nil {
		return rep, err
	}
	if e := period.Check(); e != nil {
		return rep, e
	}
	from, to := period.From, period.To
	// The store takes [start of from, start of the day after to).
	end := time.Date(to.Year, to.Month, to.Day+1, 0, 0, 0, 0, referral.London)
	if rep, err = s.DB.Report(ctx, from.Start(), end); err != nil {
		return rep, s.failed(ctx, "report", "", err)
	}
	if rep.Feedback, err = s.DB.FeedbackSummary(ctx, referral.QuartersOf(from, to)); err != nil {
		return rep, s.failed(ctx, "report feedback", "", err)
	}
	return rep, nil
}

// Today is the service clock's UK calendar day.
func (s *Service) Today() referral.Date { return referral.DateOf(s.now()) }
