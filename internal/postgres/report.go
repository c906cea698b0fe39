package postgres

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"regexp"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wmtna/referrals/internal/referral"
)

// The committee's statistics: aggregate figures about referrals, computed
// from the referrals table and the append-only referral_events log (never
// from workflow histories). They name no one: every figure is a count of
// referrals or a duration statistic over referrals, grouped only by month,
// programme code, employer (organisation) code, outcome or coded reason.

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
	N          *int64 `json:"count"`
	Suppressed bool   `json:"suppressed"`
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
	Referrals *int64 `json:"referrals"`
	// MedianHours and P90Hours (percentile_cont, to 0.1 hour) are nil when
	// suppressed or when there are no referrals.
	MedianHours *float64 `json:"median_hours"`
	P90Hours    *float64 `json:"p90_hours"`
	Suppressed  bool     `json:"suppressed"`
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
	Month string `json:"month"` // YYYY-MM, Europe/London
	Cell
}

// ProgrammeCount is the number of referrals submitted in a month from a
// programme.
type ProgrammeCount struct {
	Month     string `json:"month"`
	Programme string `json:"programme"`
	Cell
}

// EmployerCount is the number of referrals submitted in a month from an
// employer, by its organisation code.
type EmployerCount struct {
	Month    string `json:"month"`
	Employer string `json:"employer"`
	Cell
}

// OutcomeCount is the number of referrals with an eligibility outcome:
// eligible, an ineligibility reason code, or not_yet_checked.
type OutcomeCount struct {
	Outcome string `json:"outcome"`
	Cell
}

// Durations are the times from submission (referrals.submitted_at) to the
// first review decision (approved or declined by the committee), to the
// first offer, and to the first match, over the referrals submitted in the
// period that reached each step.
type Durations struct {
	ToReview     Stat `json:"submission_to_review"`
	ToFirstOffer Stat `json:"submission_to_first_offer"`
	ToMatch      Stat `json:"submission_to_match"`
}

// WaitlistMonth describes the waitlist in a month (clipped to the period).
type WaitlistMonth struct {
	Month string `json:"month"`
	// Waitlisted is the number of referrals on the waitlist at any point in
	// the month.
	Waitlisted Cell `json:"waitlisted"`
	// WaitingAtEnd is the number still on it at the end of the month (or of
	// the period, if that comes first).
	WaitingAtEnd Cell `json:"waiting_at_end"`
	// Waits are the referrals whose first wait ended in the month: hours
	// from their first move to waitlisted to the next event that took them
	// off it (offered, withdrawn, lapsed, closed).
	Waits Stat `json:"completed_waits"`
}

// EndingCount is the number of referrals that ended in the period with a
// final status and coded reason.
type EndingCount struct {
	Status string `json:"status"`
	Reason string `json:"reason"`
	Cell
}

// Report holds the committee's statistics for a period. Every figure in it
// has been through the small-number rule (see MinCell).
type Report struct {
	Timezone string `json:"timezone"`
	MinCell  int    `json:"min_cell"`
	// Months are the calendar months (YYYY-MM, Europe/London) the period
	// touches; the first and last may be partial.
	Months []string `json:"months"`
	// Referrals submitted in the period, per month of submission: in all,
	// by programme (every programme of the register and any other seen) and
	// by employer (every active organisation and any other code seen).
	ReferralsByMonth     []MonthCount     `json:"referrals_by_month"`
	ReferralsByProgramme []ProgrammeCount `json:"referrals_by_programme"`
	ReferralsByEmployer  []EmployerCount  `json:"referrals_by_employer"`
	// Eligibility is the outcome of the referrals submitted in the period.
	Eligibility []OutcomeCount  `json:"eligibility"`
	Durations   Durations       `json:"durations"`
	Waitlist    []WaitlistMonth `json:"waitlist"`
	// Endings are the final transitions recorded in the period.
	Endings []EndingCount `json:"endings"`
}

// reportZone is referral.London's name, for SQL.
const reportZone = "Europe/London"

// monthsCTE lists the months of [$1, $2) in London: label, and the part of
// the month inside the period as [ws, we).
const monthsCTE = `months AS (
	SELECT to_char(m, 'YYYY-MM') AS month,
	       greatest(m AT TIME ZONE 'Europe/London', $1::timestamptz) AS ws,
	       least((m + interval '1 month') AT TIME ZONE 'Europe/London', $2::timestamptz) AS we
	FROM generate_series(date_trunc('month', $1::timestamptz AT TIME ZONE 'Europe/London'),
	                     date_trunc('month', ($2::timestamptz - interval '1 microsecond') AT TIME ZONE 'Europe/London'),
	                     interval '1 month') AS m)`

// codeLike matches the codes a report may show as a group or reason. Any
// other text (which no part of the pipeline writes today) is shown as
// "other", so free text can never reach a report.
var codeLike = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

func code(s string) string {
	if codeLike.MatchString(s) {
		return s
	}
	return "other"
}

// Report computes the statistics for the half-open period [from, to):
// referrals submitted in it, waitlist months and endings recorded in it.
// Every query runs in one read-only snapshot, so the sections agree.
func (db *DB) Report(ctx context.Context, from, to time.Time) (Report, error) {
	rep := Report{Timezone: reportZone, MinCell: MinCell}
	if !from.Before(to) {
		return rep, fmt.Errorf("report: the period's start %s is not before its end %s", from, to)
	}
	err := pgx.BeginTxFunc(ctx, db.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		steps := []struct {
			name string
			run  func(context.Context, pgx.Tx, time.Time, time.Time, *Report) error
		}{
			{"referrals by month", reportByMonth},
			{"referrals by programme", reportByProgramme},
			{"referrals by employer", reportByEmployer},
			{"eligibility", reportEligibility},
			{"durations", reportDurations},
			{"waitlist", reportWaitlist},
			{"endings", reportEndings},
		}
		for _, s := range steps {
			if err := s.run(ctx, tx, from, to, &rep); err != nil {
				return fmt.Errorf("%s: %w", s.name, err)
			}
		}
		return nil
	})
	if err != nil {
		return Report{}, fmt.Errorf("report: %w", err)
	}
	return rep, nil
}

func reportByMonth(ctx context.Context, tx pgx.Tx, from, to time.Time, rep *Report) error {
	rows, err := tx.Query(ctx, `WITH `+monthsCTE+`
		SELECT m.month, count(r.id) FROM months m
		LEFT JOIN referrals r ON r.submitted_at >= m.ws AND r.submitted_at < m.we
		GROUP BY m.month ORDER BY m.month`, from, to)
	if err != nil {
		return err
	}
	var month string
	var n int64
	_, err = pgx.ForEachRow(rows, []any{&month, &n}, func() error {
		rep.Months = append(rep.Months, month)
		rep.ReferralsByMonth = append(rep.ReferralsByMonth, MonthCount{Month: month, Cell: CountCell(n)})
		return nil
	})
	return err
}

type monthGroup struct{ month, group string }

// countByMonthAndGroup counts the referrals submitted in each month of the
// period by the value of column, for every month and every group that is
// in register or was seen in the period (so a month without referrals from
// a group shows 0). column and register are constants of this file.
func countByMonthAndGroup(ctx context.Context, tx pgx.Tx, from, to time.Time, column, register string) ([]monthGroup, map[monthGroup]int64, error) {
	rows, err := tx.Query(ctx, `WITH `+monthsCTE+`,
		cohort AS (
			SELECT `+column+` AS grp, to_char(submitted_at AT TIME ZONE 'Europe/London', 'YYYY-MM') AS month
			FROM referrals WHERE submitted_at >= $1 AND submitted_at < $2),
		groups (grp) AS (`+register+` UNION SELECT grp FROM cohort)
		SELECT m.month, g.grp, count(c.grp) FROM months m CROSS JOIN groups g
		LEFT JOIN cohort c ON c.month = m.month AND c.grp = g.grp
		GROUP BY m.month, g.grp`, from, to)
	if err != nil {
		return nil, nil, err
	}
	counts := map[monthGroup]int64{}
	var keys []monthGroup
	var month, group string
	var n int64
	_, err = pgx.ForEachRow(rows, []any{&month, &group, &n}, func() error {
		k := monthGroup{month, code(group)}
		if _, ok := counts[k]; !ok {
			keys = append(keys, k)
		}
		counts[k] += n
		return nil
	})
	slices.SortFunc(keys, func(a, b monthGroup) int {
		if a.month != b.month {
			return cmp.Compare(a.month, b.month)
		}
		return cmp.Compare(a.group, b.group)
	})
	return keys, counts, err
}

func reportByProgramme(ctx context.Context, tx pgx.Tx, from, to time.Time, rep *Report) error {
	keys, counts, err := countByMonthAndGroup(ctx, tx, from, to, "programme", `SELECT code FROM programmes`)
	if err != nil {
		return err
	}
	rep.ReferralsByProgramme = []ProgrammeCount{}
	for _, k := range keys {
		rep.ReferralsByProgramme = append(rep.ReferralsByProgramme, ProgrammeCount{Month: k.month, Programme: k.group, Cell: CountCell(counts[k])})
	}
	return nil
}

func reportByEmployer(ctx context.Context, tx pgx.Tx, from, to time.Time, rep *Report) error {
	keys, counts, err := countByMonthAndGroup(ctx, tx, from, to, "employer", `SELECT code FROM organisations WHERE active`)
	if err != nil {
		return err
	}
	rep.ReferralsByEmployer = []EmployerCount{}
	for _, k := range keys {
		rep.ReferralsByEmployer = append(rep.ReferralsByEmployer, EmployerCount{Month: k.month, Employer: k.group, Cell: CountCell(counts[k])})
	}
	return nil
}

// Eligibility outcomes that are always listed, 0 or not.
var knownOutcomes = []string{"eligible", referral.ReasonUnknownEmployer, referral.ReasonUnknownProgramme, referral.ReasonPastCutoff}

func reportEligibility(ctx context.Context, tx pgx.Tx, from, to time.Time, rep *Report) error {
	rows, err := tx.Query(ctx, `
		SELECT CASE WHEN eligible THEN 'eligible'
		            WHEN NOT eligible THEN coalesce(nullif(eligibility_reason, ''), 'unspecified')
		            ELSE 'not_yet_checked' END,
		       count(*)
		FROM referrals WHERE submitted_at >= $1 AND submitted_at < $2
		GROUP BY 1`, from, to)
	if err != nil {
		return err
	}
	counts := map[string]int64{}
	var outcome string
	var n int64
	if _, err := pgx.ForEachRow(rows, []any{&outcome, &n}, func() error {
		counts[code(outcome)] += n
		return nil
	}); err != nil {
		return err
	}
	var others []string
	for o := range counts {
		if !slices.Contains(knownOutcomes, o) {
			others = append(others, o)
		}
	}
	slices.Sort(others)
	rep.Eligibility = []OutcomeCount{}
	for _, o := range append(slices.Clone(knownOutcomes), others...) {
		rep.Eligibility = append(rep.Eligibility, OutcomeCount{Outcome: o, Cell: CountCell(counts[o])})
	}
	return nil
}

func reportDurations(ctx context.Context, tx pgx.Tx, from, to time.Time, rep *Report) error {
	rows, err := tx.Query(ctx, `
		WITH reached AS (
			SELECT
			  (SELECT min(e.at) FROM referral_events e WHERE e.referral_id = r.id
			     AND e.from_status = 'awaiting_review' AND e.to_status IN ('matching', 'declined')) - r.submitted_at AS review,
			  (SELECT min(e.at) FROM referral_events e WHERE e.referral_id = r.id AND e.to_status = 'offered') - r.submitted_at AS offer,
			  (SELECT min(e.at) FROM referral_events e WHERE e.referral_id = r.id AND e.to_status = 'matched') - r.submitted_at AS match
			FROM referrals r WHERE r.submitted_at >= $1 AND r.submitted_at < $2),
		hours AS (
			SELECT extract(epoch FROM review)::float8 / 3600 AS review, extract(epoch FROM offer)::float8 / 3600 AS offer,
			       extract(epoch FROM match)::float8 / 3600 AS match
			FROM reached)
		SELECT count(review), percentile_cont(0.5) WITHIN GROUP (ORDER BY review), percentile_cont(0.9) WITHIN GROUP (ORDER BY review),
		       count(offer), percentile_cont(0.5) WITHIN GROUP (ORDER BY offer), percentile_cont(0.9) WITHIN GROUP (ORDER BY offer),
		       count(match), percentile_cont(0.5) WITHIN GROUP (ORDER BY match), percentile_cont(0.9) WITHIN GROUP (ORDER BY match)
		FROM hours`, from, to)
	if err != nil {
		return err
	}
	var n [3]int64
	var med, p90 [3]*float64
	_, err = pgx.ForEachRow(rows, []any{&n[0], &med[0], &p90[0], &n[1], &med[1], &p90[1], &n[2], &med[2], &p90[2]}, func() error {
		rep.Durations = Durations{
			ToReview:     DurationStat(n[0], med[0], p90[0]),
			ToFirstOffer: DurationStat(n[1], med[1], p90[1]),
			ToMatch:      DurationStat(n[2], med[2], p90[2]),
		}
		return nil
	})
	return err
}

func reportWaitlist(ctx context.Context, tx pgx.Tx, from, to time.Time, rep *Report) error {
	// A spell on the waitlist starts with an event into waitlisted and ends
	// with the next event out of it; an event from waitlisted to waitlisted
	// (a check-in answered) neither starts nor ends one. A spell not yet
	// ended is still running.
	rows, err := tx.Query(ctx, `WITH `+monthsCTE+`,
		spells AS (
			SELECT e.referral_id, e.at AS started, l.at AS left_at,
			       row_number() OVER (PARTITION BY e.referral_id ORDER BY e.seq) AS nth
			FROM referral_events e
			LEFT JOIN LATERAL (
				SELECT x.at FROM referral_events x
				WHERE x.referral_id = e.referral_id AND x.seq > e.seq
				  AND x.from_status = 'waitlisted' AND x.to_status <> 'waitlisted'
				ORDER BY x.seq LIMIT 1) l ON true
			WHERE e.to_status = 'waitlisted' AND e.from_status <> 'waitlisted')
		SELECT m.month,
		  (SELECT count(DISTINCT s.referral_id) FROM spells s
		     WHERE s.started < m.we AND (s.left_at IS NULL OR s.left_at > m.ws)),
		  (SELECT count(DISTINCT s.referral_id) FROM spells s
		     WHERE s.started < m.we AND (s.left_at IS NULL OR s.left_at >= m.we)),
		  w.n, w.median, w.p90
		FROM months m
		CROSS JOIN LATERAL (
			SELECT count(*) AS n, percentile_cont(0.5) WITHIN GROUP (ORDER BY h) AS median,
			       percentile_cont(0.9) WITHIN GROUP (ORDER BY h) AS p90
			FROM (SELECT extract(epoch FROM s.left_at - s.started)::float8 / 3600 AS h FROM spells s
			      WHERE s.nth = 1 AND s.left_at >= m.ws AND s.left_at < m.we) q) w
		ORDER BY m.month`, from, to)
	if err != nil {
		return err
	}
	rep.Waitlist = []WaitlistMonth{}
	var month string
	var during, atEnd, n int64
	var med, p90 *float64
	_, err = pgx.ForEachRow(rows, []any{&month, &during, &atEnd, &n, &med, &p90}, func() error {
		rep.Waitlist = append(rep.Waitlist, WaitlistMonth{
			Month: month, Waitlisted: CountCell(during), WaitingAtEnd: CountCell(atEnd), Waits: DurationStat(n, med, p90),
		})
		return nil
	})
	return err
}

func reportEndings(ctx context.Context, tx pgx.Tx, from, to time.Time, rep *Report) error {
	var final []string
	for _, s := range referral.Statuses {
		if s.Terminal() {
			final = append(final, string(s))
		}
	}
	if !slices.Contains(final, "closed_no_response") {
		final = append(final, "closed_no_response")
	}
	rows, err := tx.Query(ctx, `
		SELECT to_status, reason, count(*) FROM referral_events
		WHERE to_status = ANY ($3) AND at >= $1 AND at < $2
		GROUP BY to_status, reason`, from, to, final)
	if err != nil {
		return err
	}
	type key struct{ status, reason string }
	counts := map[key]int64{}
	var status, reason string
	var n int64
	if _, err := pgx.ForEachRow(rows, []any{&status, &reason, &n}, func() error {
		if reason == "" {
			reason = "unspecified"
		}
		counts[key{status, code(reason)}] += n
		return nil
	}); err != nil {
		return err
	}
	keys := make([]key, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b key) int {
		if c := slices.Index(final, a.status) - slices.Index(final, b.status); c != 0 {
			return c
		}
		return cmp.Compare(a.reason, b.reason)
	})
	rep.Endings = make([]EndingCount, 0, len(keys))
	for _, k := range keys {
		rep.Endings = append(rep.Endings, EndingCount{Status: k.status, Reason: k.reason, Cell: CountCell(counts[k])})
	}
	return nil
}
