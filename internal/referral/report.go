package referral

import "math"

// The committee's statistics, and the small-number rule every published
// figure goes through. The store computes them (postgres.DB.Report); the
// API and the pages publish them.

// MinCell is the smallest number of referrals a published figure may be
// about.
//
// The small-number rule, applied to every figure of a Report by disclosable
// (and only there):
//   - a count of 1 to 4 is not published: it is reported as suppressed
//     (count null, suppressed true; "<5" in CSV). A count of 0 is published
//     as 0, and 5 or more as it is;
//   - a duration statistic (median, 90th percentile) computed over 1 to 4
//     referrals is not published either, nor is the number it was computed
//     over; over 0 referrals there is nothing to publish (null, not
//     suppressed).
//
// There is no secondary suppression: a suppressed cell may sometimes be
// worked out from a total and the other cells of its row. That is accepted
// for a report read by the committee and operators, who may see every
// referral anyway.
const MinCell = 5

// disclosable is the small-number rule: whether a figure about n referrals
// may be published.
func disclosable(n int64) bool { return n == 0 || n >= MinCell }

// Cell is a published count.
type Cell struct {
	// N is the count, nil when it is suppressed.
	N          *int64
	Suppressed bool
}

// CountCell publishes a count of n referrals under the small-number rule.
func CountCell(n int64) Cell {
	if !disclosable(n) {
		return Cell{Suppressed: true}
	}
	return Cell{N: &n}
}

// Stat is a published duration statistic, in hours.
type Stat struct {
	// Referrals is how many referrals the statistic is computed over; nil
	// when suppressed.
	Referrals *int64
	// MedianHours and P90Hours (percentile_cont, to 0.1 hour) are nil when
	// suppressed or when there are no referrals.
	MedianHours *float64
	P90Hours    *float64
	Suppressed  bool
}

// DurationStat publishes a median and 90th percentile computed over n
// referrals under the small-number rule.
func DurationStat(n int64, medianHours, p90Hours *float64) Stat {
	if !disclosable(n) {
		return Stat{Suppressed: true}
	}
	s := Stat{Referrals: &n}
	if n > 0 {
		s.MedianHours, s.P90Hours = roundHours(medianHours), roundHours(p90Hours)
	}
	return s
}

func roundHours(h *float64) *float64 {
	if h == nil {
		return nil
	}
	r := math.Round(*h*10) / 10
	return &r
}

// MonthCount is the number of referrals submitted in a month.
type MonthCount struct {
	Month string // YYYY-MM, Europe/London
	Cell
}

// ProgrammeCount is the number of referrals submitted in a month from a
// programme.
type ProgrammeCount struct {
	Month     string
	Programme string
	Cell
}

// EmployerCount is the number of referrals submitted in a month from an
// employer, by its organisation code.
type EmployerCount struct {
	Month    string
	Employer string
	Cell
}

// OutcomeCount is the number of referrals with an eligibility outcome:
// eligible, an ineligibility reason code, or not_yet_checked.
type OutcomeCount struct {
	Outcome string
	Cell
}

// Durations are the times from submission (referrals.submitted_at) to the
// first review decision (approved or declined by the committee), to the
// first offer, and to the first match, over the referrals submitted in the
// period that reached each step.
type Durations struct {
	ToReview     Stat
	ToFirstOffer Stat
	ToMatch      Stat
}

// WaitlistMonth describes the waitlist in a month (clipped to the period).
type WaitlistMonth struct {
	Month string
	// Waitlisted is the number of referrals on the waitlist at any point in
	// the month.
	Waitlisted Cell
	// WaitingAtEnd is the number still on it at the end of the month (or of
	// the period, if that comes first).
	WaitingAtEnd Cell
	// Waits are the referrals whose first wait ended in the month: hours
	// from their first move to waitlisted to the next event that took them
	// off it (offered, withdrawn, lapsed, closed).
	Waits Stat
}

// EndingCount is the number of referrals that ended in the period with a
// final status and coded reason.
type EndingCount struct {
	Status string
	Reason string
	Cell
}

// Report holds the committee's statistics for a period. Every figure in it
// has been through the small-number rule (see MinCell).
type Report struct {
	Timezone string
	MinCell  int
	// Months are the calendar months (YYYY-MM, Europe/London) the period
	// touches; the first and last may be partial.
	Months []string
	// Referrals submitted in the period, per month of submission: in all,
	// by programme (every programme of the register and any other seen) and
	// by employer (every active organisation and any other code seen).
	ReferralsByMonth     []MonthCount
	ReferralsByProgramme []ProgrammeCount
	ReferralsByEmployer  []EmployerCount
	// Eligibility is the outcome of the referrals submitted in the period.
	Eligibility []OutcomeCount
	Durations   Durations
	Waitlist    []WaitlistMonth
	// Endings are the final transitions recorded in the period.
	Endings []EndingCount
}
