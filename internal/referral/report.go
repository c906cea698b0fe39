package referral

import (
	"fmt"
	"math"
)

// The committee's statistics, and the small-number rule every published
// figure goes through. The store computes them (postgres.DB.Report); the
// API and the pages publish them.

// MinCell is the smallest number of referrals a published figure may be
// about.
//
// The small-number rule, applied to every figure of a Report by disclosable
// (and only there):
//   - a count of 1 to 4 is not published: it is reported as suppressed
//     (count null, suppressed true; "suppressed" in CSV). A count of 0 is
//     published as 0, and 5 or more as it is;
//   - a duration statistic (median, 90th percentile) computed over 1 to 4
//     referrals is not published either, nor is the number it was computed
//     over; over 0 referrals there is nothing to publish (null, not
//     suppressed).
//
// Publish adds secondary suppression (see Suppress) across the linked
// tables of a Report: the referrals of each month and of the period, by
// programme and by employer with their totals, the eligibility outcomes
// (which add up to the period's referrals) and the endings with theirs.
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

// GroupCount is the number of referrals submitted in the period from a
// programme or an employer.
type GroupCount struct {
	Group string
	Cell
}

// Report holds the committee's statistics for a period. Every figure in it
// has been through the small-number rule (see MinCell) and secondary
// suppression (see ReportCounts.Publish).
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
	// Referrals is how many were submitted in the whole period, and
	// ProgrammeTotals and EmployerTotals how many from each group.
	Referrals       Cell
	ProgrammeTotals []GroupCount
	EmployerTotals  []GroupCount
	// Eligibility is the outcome of the referrals submitted in the period.
	Eligibility []OutcomeCount
	Durations   Durations
	Waitlist    []WaitlistMonth
	// Endings are the final transitions recorded in the period, and
	// EndingsTotal how many there were.
	Endings      []EndingCount
	EndingsTotal Cell
	// Feedback is what former clients whose therapy ended in the quarters
	// the period touches said (filled by the pipeline, not Publish).
	Feedback FeedbackSummary
}

// ReportCounts are a period's figures as the store counts them, before
// any rule: they never leave the process unpublished (see Publish).
type ReportCounts struct {
	Months []string
	// ByMonth are the referrals submitted in each month of Months.
	ByMonth []int64
	// ByProgramme and ByEmployer split each month's referrals by group:
	// for every month, the groups' counts add up to ByMonth.
	ByProgramme, ByEmployer []GroupCounts
	// Eligibility are the outcomes of the period's referrals, adding up
	// to the sum of ByMonth.
	Eligibility                     []NamedCount
	ToReview, ToFirstOffer, ToMatch DurationCounts
	Waitlist                        []WaitlistCounts
	Endings                         []EndingCounts
}

// GroupCounts are a group's referrals in each month of the period.
type GroupCounts struct {
	Group    string
	PerMonth []int64
}

// NamedCount is a count of referrals with an outcome.
type NamedCount struct {
	Name string
	N    int64
}

// DurationCounts are a median and 90th percentile, in hours, over N
// referrals.
type DurationCounts struct {
	N                     int64
	MedianHours, P90Hours *float64
}

// WaitlistCounts are a month's waitlist (see WaitlistMonth).
type WaitlistCounts struct {
	Month                    string
	Waitlisted, WaitingAtEnd int64
	Waits                    DurationCounts
}

// EndingCounts are the endings with a status and reason.
type EndingCounts struct {
	Status, Reason string
	N              int64
}

// Publish applies the small-number rule and secondary suppression to the
// counts. The lines it suppresses along are:
//   - the months' referrals, adding up to the period's;
//   - for programmes and for employers: each month's groups, adding up to
//     the month's referrals; each group's months, adding up to the group's
//     total; the groups' totals, adding up to the period's referrals;
//   - the eligibility outcomes, adding up to the period's referrals;
//   - the endings, adding up to their total.
//
// It fails when the counts do not add up as these lines say, since the
// suppression would then protect nothing.
func (c ReportCounts) Publish() (Report, error) {
	rep := Report{Timezone: "Europe/London", MinCell: MinCell, Months: c.Months}
	if len(c.ByMonth) != len(c.Months) {
		return rep, fmt.Errorf("publish: %d monthly counts for %d months", len(c.ByMonth), len(c.Months))
	}
	var counts []int64
	var lines []Line
	add := func(n int64) int { counts = append(counts, n); return len(counts) - 1 }
	sum := func(ns []int64) (s int64) {
		for _, n := range ns {
			s += n
		}
		return s
	}
	total := add(sum(c.ByMonth))
	months := make([]int, len(c.ByMonth))
	for m, n := range c.ByMonth {
		months[m] = add(n)
	}
	lines = append(lines, Line{Members: months, Total: total})

	// groups lays out a month × group table: cells[g][m] and each group's
	// total.
	groups := func(name string, gs []GroupCounts) (cells [][]int, totals []int, err error) {
		for m := range c.Months {
			var n int64
			for _, g := range gs {
				if len(g.PerMonth) != len(c.Months) {
					return nil, nil, fmt.Errorf("publish: %s %s has %d months, not %d", name, g.Group, len(g.PerMonth), len(c.Months))
				}
				n += g.PerMonth[m]
			}
			if n != c.ByMonth[m] {
				return nil, nil, fmt.Errorf("publish: %s of %s add up to %d, not %d", name, c.Months[m], n, c.ByMonth[m])
			}
		}
		cells = make([][]int, len(gs))
		for g, gc := range gs {
			for _, n := range gc.PerMonth {
				cells[g] = append(cells[g], add(n))
			}
			totals = append(totals, add(sum(gc.PerMonth)))
			lines = append(lines, Line{Members: cells[g], Total: totals[g]})
		}
		for m := range c.Months {
			row := make([]int, len(gs))
			for g := range gs {
				row[g] = cells[g][m]
			}
			lines = append(lines, Line{Members: row, Total: months[m]})
		}
		lines = append(lines, Line{Members: totals, Total: total})
		return cells, totals, nil
	}
	programmes, programmeTotals, err := groups("programmes", c.ByProgramme)
	if err != nil {
		return rep, err
	}
	employers, employerTotals, err := groups("employers", c.ByEmployer)
	if err != nil {
		return rep, err
	}

	outcomes := make([]int, len(c.Eligibility))
	var checked int64
	for i, o := range c.Eligibility {
		outcomes[i] = add(o.N)
		checked += o.N
	}
	if len(c.Eligibility) > 0 && checked != counts[total] {
		return rep, fmt.Errorf("publish: eligibility outcomes add up to %d, not %d", checked, counts[total])
	}
	lines = append(lines, Line{Members: outcomes, Total: total})

	endings := make([]int, len(c.Endings))
	var ended int64
	for i, e := range c.Endings {
		endings[i] = add(e.N)
		ended += e.N
	}
	endingsTotal := add(ended)
	lines = append(lines, Line{Members: endings, Total: endingsTotal})

	cells := Suppress(counts, lines)
	rep.Referrals, rep.EndingsTotal = cells[total], cells[endingsTotal]
	for m, month := range c.Months {
		rep.ReferralsByMonth = append(rep.ReferralsByMonth, MonthCount{Month: month, Cell: cells[months[m]]})
	}
	rep.ReferralsByProgramme, rep.ReferralsByEmployer = []ProgrammeCount{}, []EmployerCount{}
	rep.ProgrammeTotals, rep.EmployerTotals = []GroupCount{}, []GroupCount{}
	for m, month := range c.Months {
		for g, gc := range c.ByProgramme {
			rep.ReferralsByProgramme = append(rep.ReferralsByProgramme, ProgrammeCount{Month: month, Programme: gc.Group, Cell: cells[programmes[g][m]]})
		}
		for g, gc := range c.ByEmployer {
			rep.ReferralsByEmployer = append(rep.ReferralsByEmployer, EmployerCount{Month: month, Employer: gc.Group, Cell: cells[employers[g][m]]})
		}
	}
	for g, gc := range c.ByProgramme {
		rep.ProgrammeTotals = append(rep.ProgrammeTotals, GroupCount{Group: gc.Group, Cell: cells[programmeTotals[g]]})
	}
	for g, gc := range c.ByEmployer {
		rep.EmployerTotals = append(rep.EmployerTotals, GroupCount{Group: gc.Group, Cell: cells[employerTotals[g]]})
	}
	rep.Eligibility = []OutcomeCount{}
	for i, o := range c.Eligibility {
		rep.Eligibility = append(rep.Eligibility, OutcomeCount{Outcome: o.Name, Cell: cells[outcomes[i]]})
	}
	stat := func(d DurationCounts) Stat { return DurationStat(d.N, d.MedianHours, d.P90Hours) }
	rep.Durations = Durations{ToReview: stat(c.ToReview), ToFirstOffer: stat(c.ToFirstOffer), ToMatch: stat(c.ToMatch)}
	rep.Waitlist = []WaitlistMonth{}
	for _, w := range c.Waitlist {
		rep.Waitlist = append(rep.Waitlist, WaitlistMonth{Month: w.Month, Waitlisted: CountCell(w.Waitlisted), WaitingAtEnd: CountCell(w.WaitingAtEnd), Waits: stat(w.Waits)})
	}
	rep.Endings = make([]EndingCount, 0, len(c.Endings))
	for i, e := range c.Endings {
		rep.Endings = append(rep.Endings, EndingCount{Status: e.Status, Reason: e.Reason, Cell: cells[endings[i]]})
	}
	return rep, nil
}
