package postgres

import (
	"cmp"
	"context"
	"fmt"
	"maps"
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
// Every query runs in one read-only snapshot, so the sections agree and add
// up; the counts are published (referral.ReportCounts.Publish) before they
// leave the store.
func (db *DB) Report(ctx context.Context, from, to time.Time) (referral.Report, error) {
	var c referral.ReportCounts
	if !from.Before(to) {
		return referral.Report{}, fmt.Errorf("report: the period's start %s is not before its end %s", from, to)
	}
	err := pgx.BeginTxFunc(ctx, db.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		steps := []struct {
			name string
			run  func(context.Context, pgx.Tx, time.Time, time.Time, *referral.ReportCounts) error
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
			if err := s.run(ctx, tx, from, to, &c); err != nil {
				return fmt.Errorf("%s: %w", s.name, err)
			}
		}
		return nil
	})
	if err != nil {
		return referral.Report{}, fmt.Errorf("report: %w", err)
	}
	rep, err := c.Publish()
	if err != nil {
		return referral.Report{}, fmt.Errorf("report: %w", err)
	}
	rep.Timezone = reportZone
	return rep, nil
}

func reportByMonth(ctx context.Context, tx pgx.Tx, from, to time.Time, rep *referral.ReportCounts) error {
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
		rep.ByMonth = append(rep.ByMonth, n)
		return nil
	})
	return err
}

// countByMonthAndGroup counts the referrals submitted in each month of the
// period by the value of column, for every month and every group that is
// in register or was seen in the period (so a month without referrals from
// a group shows 0), groups in order. column and register are constants of
// this file.
func countByMonthAndGroup(ctx context.Context, tx pgx.Tx, from, to time.Time, months []string, column, register string) ([]referral.GroupCounts, error) {
	rows, err := tx.Query(ctx, `WITH `+monthsCTE+`,
		cohort AS (
			SELECT `+column+` AS grp, to_char(submitted_at AT TIME ZONE 'Europe/London', 'YYYY-MM') AS month
			FROM referrals WHERE submitted_at >= $1 AND submitted_at < $2),
		groups (grp) AS (`+register+` UNION SELECT grp FROM cohort)
		SELECT m.month, g.grp, count(c.grp) FROM months m CROSS JOIN groups g
		LEFT JOIN cohort c ON c.month = m.month AND c.grp = g.grp
		GROUP BY m.month, g.grp`, from, to)
	if err != nil {
		return nil, err
	}
	byGroup := map[string][]int64{}
	var month, group string
	var n int64
	_, err = pgx.ForEachRow(rows, []any{&month, &group, &n}, func() error {
		m := slices.Index(months, month)
		if m < 0 {
			return fmt.Errorf("month %s is not in the period", month)
		}
		g := code(group)
		if byGroup[g] == nil {
			byGroup[g] = make([]int64, len(months))
		}
		byGroup[g][m] += n
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]referral.GroupCounts, 0, len(byGroup))
	for _, g := range slices.Sorted(maps.Keys(byGroup)) {
		out = append(out, referral.GroupCounts{Group: g, PerMonth: byGroup[g]})
	}
	return out, nil
}

func reportByProgramme(ctx context.Context, tx pgx.Tx, from, to time.Time, rep *referral.ReportCounts) (err error) {
	rep.ByProgramme, err = countByMonthAndGroup(ctx, tx, from, to, rep.Months, "programme", `SELECT code FROM programmes`)
	return err
}

func reportByEmployer(ctx context.Context, tx pgx.Tx, from, to time.Time, rep *referral.ReportCounts) (err error) {
	rep.ByEmployer, err = countByMonthAndGroup(ctx, tx, from, to, rep.Months, "employer", `SELECT code FROM organisations WHERE active`)
	return err
}

// Eligibility outcomes that are always listed, 0 or not.
var knownOutcomes = []string{"eligible", referral.ReasonUnknownEmployer, referral.ReasonUnknownProgramme, referral.ReasonPastCutoff}

func reportEligibility(ctx context.Context, tx pgx.Tx, from, to time.Time, rep *referral.ReportCounts) error {
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
	for _, o := range append(slices.Clone(knownOutcomes), others...) {
		rep.Eligibility = append(rep.Eligibility, referral.NamedCount{Name: o, N: counts[o]})
	}
	return nil
}

func reportDurations(ctx context.Context, tx pgx.Tx, from, to time.Time, rep *referral.ReportCounts) error {
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
		rep.ToReview = referral.DurationCounts{N: n[0], MedianHours: med[0], P90Hours: p90[0]}
		rep.ToFirstOffer = referral.DurationCounts{N: n[1], MedianHours: med[1], P90Hours: p90[1]}
		rep.ToMatch = referral.DurationCounts{N: n[2], MedianHours: med[2], P90Hours: p90[2]}
		return nil
	})
	return err
}

func reportWaitlist(ctx context.Context, tx pgx.Tx, from, to time.Time, rep *referral.ReportCounts) error {
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
	var month string
	var during, atEnd, n int64
	var med, p90 *float64
	_, err = pgx.ForEachRow(rows, []any{&month, &during, &atEnd, &n, &med, &p90}, func() error {
		rep.Waitlist = append(rep.Waitlist, referral.WaitlistCounts{
			Month: month, Waitlisted: during, WaitingAtEnd: atEnd, Waits: referral.DurationCounts{N: n, MedianHours: med, P90Hours: p90},
		})
		return nil
	})
	return err
}

func reportEndings(ctx context.Context, tx pgx.Tx, from, to time.Time, rep *referral.ReportCounts) error {
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
	for _, k := range keys {
		rep.Endings = append(rep.Endings, referral.EndingCounts{Status: k.status, Reason: k.reason, N: counts[k]})
	}
	return nil
}
