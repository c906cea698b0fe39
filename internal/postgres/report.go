package postgres

import (
	"cmp"
	"context"
	"fmt"
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
// Every query runs in one read-only snapshot, so the sections agree.
func (db *DB) Report(ctx context.Context, from, to time.Time) (referral.Report, error) {
	rep := referral.Report{Timezone: reportZone, MinCell: referral.MinCell}
	if !from.Before(to) {
		return rep, fmt.Errorf("report: the period's start %s is not before its end %s", from, to)
	}
	err := pgx.BeginTxFunc(ctx, db.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		steps := []struct {
			name string
			run  func(context.Context, pgx.Tx, time.Time, time.Time, *referral.Report) error
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
		return referral.Report{}, fmt.Errorf("report: %w", err)
	}
	return rep, nil
}

func reportByMonth(ctx context.Context, tx pgx.Tx, from, to time.Time, rep *referral.Report) error {
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
		rep.ReferralsByMonth = append(rep.ReferralsByMonth, referral.MonthCount{Month: month, Cell: referral.CountCell(n)})
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

func reportByProgramme(ctx context.Context, tx pgx.Tx, from, to time.Time, rep *referral.Report) error {
	keys, counts, err := countByMonthAndGroup(ctx, tx, from, to, "programme", `SELECT code FROM programmes`)
	if err != nil {
		return err
	}
	rep.ReferralsByProgramme = []referral.ProgrammeCount{}
	for _, k := range keys {
		rep.ReferralsByProgramme = append(rep.ReferralsByProgramme, referral.ProgrammeCount{Month: k.month, Programme: k.group, Cell: referral.CountCell(counts[k])})
	}
	return nil
}

func reportByEmployer(ctx context.Context, tx pgx.Tx, from, to time.Time, rep *referral.Report) error {
	keys, counts, err := countByMonthAndGroup(ctx, tx, from, to, "employer", `SELECT code FROM organisations WHERE active`)
	if err != nil {
		return err
	}
	rep.ReferralsByEmployer = []referral.EmployerCount{}
	for _, k := range keys {
		rep.ReferralsByEmployer = append(rep.ReferralsByEmployer, referral.EmployerCount{Month: k.month, Employer: k.group, Cell: referral.CountCell(counts[k])})
	}
	return nil
}

// Eligibility outcomes that are always listed, 0 or not.
var knownOutcomes = []string{"eligible", referral.ReasonUnknownEmployer, referral.ReasonUnknownProgramme, referral.ReasonPastCutoff}

func reportEligibility(ctx context.Context, tx pgx.Tx, from, to time.Time, rep *referral.Report) error {
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
	rep.Eligibility = []referral.OutcomeCount{}
	for _, o := range append(slices.Clone(knownOutcomes), others...) {
		rep.Eligibility = append(rep.Eligibility, referral.OutcomeCount{Outcome: o, Cell: referral.CountCell(counts[o])})
	}
	return nil
}

func reportDurations(ctx context.Context, tx pgx.Tx, from, to time.Time, rep *referral.Report) error {
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
		rep.Durations = referral.Durations{
			ToReview:     referral.DurationStat(n[0], med[0], p90[0]),
			ToFirstOffer: referral.DurationStat(n[1], med[1], p90[1]),
			ToMatch:      referral.DurationStat(n[2], med[2], p90[2]),
		}
		return nil
	})
	return err
}

func reportWaitlist(ctx context.Context, tx pgx.Tx, from, to time.Time, rep *referral.Report) error {
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
	rep.Waitlist = []referral.WaitlistMonth{}
	var month string
	var during, atEnd, n int64
	var med, p90 *float64
	_, err = pgx.ForEachRow(rows, []any{&month, &during, &atEnd, &n, &med, &p90}, func() error {
		rep.Waitlist = append(rep.Waitlist, referral.WaitlistMonth{
			Month: month, Waitlisted: referral.CountCell(during), WaitingAtEnd: referral.CountCell(atEnd), Waits: referral.DurationStat(n, med, p90),
		})
		return nil
	})
	return err
}

func reportEndings(ctx context.Context, tx pgx.Tx, from, to time.Time, rep *referral.Report) error {
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
	rep.Endings = make([]referral.EndingCount, 0, len(keys))
	for _, k := range keys {
		rep.Endings = append(rep.Endings, referral.EndingCount{Status: k.status, Reason: k.reason, Cell: referral.CountCell(counts[k])})
	}
	return nil
}
