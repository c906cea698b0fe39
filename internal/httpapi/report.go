package httpapi

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/wmtna/referrals/internal/pipeline"
	"github.com/wmtna/referrals/internal/referral"
)

// maxReportYears bounds the period of a report, which has a row per month.
const maxReportYears = 10

// reportSummary is the answer of GET /v1/reports/summary: the period asked
// for, as inclusive UK calendar days, and the committee's statistics for it.
// Every figure has been through the small-number rule (referral.MinCell);
// nothing in it names or describes one person.
type reportSummary struct {
	From, To string
	referral.Report
}

// The summary as JSON: the API's own wire types, so the store and the
// domain can change without changing what clients read.
type (
	summaryJSON struct {
		From                 string               `json:"from"`
		To                   string               `json:"to"`
		Timezone             string               `json:"timezone"`
		MinCell              int                  `json:"min_cell"`
		Months               []string             `json:"months"`
		ReferralsByMonth     []monthCountJSON     `json:"referrals_by_month"`
		ReferralsByProgramme []programmeCountJSON `json:"referrals_by_programme"`
		ReferralsByEmployer  []employerCountJSON  `json:"referrals_by_employer"`
		Eligibility          []outcomeCountJSON   `json:"eligibility"`
		Durations            durationsJSON        `json:"durations"`
		Waitlist             []waitlistMonthJSON  `json:"waitlist"`
		Endings              []endingCountJSON    `json:"endings"`
	}
	cellJSON struct {
		N          *int64 `json:"count"` // null when suppressed
		Suppressed bool   `json:"suppressed"`
	}
	statJSON struct {
		Referrals   *int64   `json:"referrals"`
		MedianHours *float64 `json:"median_hours"`
		P90Hours    *float64 `json:"p90_hours"`
		Suppressed  bool     `json:"suppressed"`
	}
	monthCountJSON struct {
		Month string `json:"month"`
		cellJSON
	}
	programmeCountJSON struct {
		Month     string `json:"month"`
		Programme string `json:"programme"`
		cellJSON
	}
	employerCountJSON struct {
		Month    string `json:"month"`
		Employer string `json:"employer"`
		cellJSON
	}
	outcomeCountJSON struct {
		Outcome string `json:"outcome"`
		cellJSON
	}
	durationsJSON struct {
		ToReview     statJSON `json:"submission_to_review"`
		ToFirstOffer statJSON `json:"submission_to_first_offer"`
		ToMatch      statJSON `json:"submission_to_match"`
	}
	waitlistMonthJSON struct {
		Month        string   `json:"month"`
		Waitlisted   cellJSON `json:"waitlisted"`
		WaitingAtEnd cellJSON `json:"waiting_at_end"`
		Waits        statJSON `json:"completed_waits"`
	}
	endingCountJSON struct {
		Status string `json:"status"`
		Reason string `json:"reason"`
		cellJSON
	}
)

func cellOf(c referral.Cell) cellJSON { return cellJSON{N: c.N, Suppressed: c.Suppressed} }
func statOf(s referral.Stat) statJSON {
	return statJSON{Referrals: s.Referrals, MedianHours: s.MedianHours, P90Hours: s.P90Hours, Suppressed: s.Suppressed}
}

func (sum reportSummary) json() summaryJSON {
	return summaryJSON{From: sum.From, To: sum.To, Timezone: sum.Timezone, MinCell: sum.MinCell, Months: sum.Months,
		ReferralsByMonth: each(sum.ReferralsByMonth, func(c referral.MonthCount) monthCountJSON {
			return monthCountJSON{c.Month, cellOf(c.Cell)}
		}),
		ReferralsByProgramme: each(sum.ReferralsByProgramme, func(c referral.ProgrammeCount) programmeCountJSON {
			return programmeCountJSON{c.Month, c.Programme, cellOf(c.Cell)}
		}),
		ReferralsByEmployer: each(sum.ReferralsByEmployer, func(c referral.EmployerCount) employerCountJSON {
			return employerCountJSON{c.Month, c.Employer, cellOf(c.Cell)}
		}),
		Eligibility: each(sum.Eligibility, func(c referral.OutcomeCount) outcomeCountJSON { return outcomeCountJSON{c.Outcome, cellOf(c.Cell)} }),
		Durations:   durationsJSON{statOf(sum.Durations.ToReview), statOf(sum.Durations.ToFirstOffer), statOf(sum.Durations.ToMatch)},
		Waitlist: each(sum.Waitlist, func(m referral.WaitlistMonth) waitlistMonthJSON {
			return waitlistMonthJSON{m.Month, cellOf(m.Waitlisted), cellOf(m.WaitingAtEnd), statOf(m.Waits)}
		}),
		Endings: each(sum.Endings, func(c referral.EndingCount) endingCountJSON {
			return endingCountJSON{c.Status, c.Reason, cellOf(c.Cell)}
		}),
	}
}

// each maps a list to its wire form; none stays none (null).
func each[T, U any](in []T, f func(T) U) []U {
	if in == nil {
		return nil
	}
	out := make([]U, len(in))
	for i, v := range in {
		out[i] = f(v)
	}
	return out
}

// report answers the committee's statistics for a period, as JSON, or as
// a CSV download with format=csv or Accept: text/csv.
//
//	GET /v1/reports/summary?from=YYYY-MM-DD&to=YYYY-MM-DD[&format=json|csv]
//
// from and to are UK calendar days, both included. Without them the period
// is the last 12 calendar months: from the first day of the month 11 months
// before the current one, to today.
func (s *Server) report(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var period pipeline.Period
	var asCSV bool
	in := func() (pipeline.Period, error) {
		from, to, e := reportPeriod(q, s.App.Today())
		if e != nil {
			return period, e
		}
		var err error
		if asCSV, err = wantsCSV(q, r.Header); err != nil {
			return period, err
		}
		period = pipeline.Period{From: from, To: to}
		return period, nil
	}
	rep, err := s.App.Report(r.Context(), principal(r), in)
	if err != nil {
		writeError(w, err)
		return
	}
	sum := reportSummary{From: period.From.String(), To: period.To.String(), Report: rep}
	w.Header().Set("Vary", "Accept")
	if !asCSV {
		writeJSON(w, http.StatusOK, sum.json())
		return
	}
	var buf bytes.Buffer
	if err := writeSummaryCSV(&buf, sum); err != nil {
		s.Logger.ErrorContext(r.Context(), "write report as CSV", "err", err)
		writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment",
		map[string]string{"filename": fmt.Sprintf("wmtna-summary-%s-to-%s.csv", sum.From, sum.To)}))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf.Bytes())
}

func badReportParam(field, format string, args ...any) *pipeline.Error {
	return badParameter(field, format, args...)
}

// reportPeriod reads from and to, with their defaults.
func reportPeriod(q url.Values, today referral.Date) (from, to referral.Date, e *pipeline.Error) {
	to = today
	if v := q.Get("to"); v != "" {
		d, err := referral.ParseDate(v)
		if err != nil {
			return from, to, badReportParam("to", "to must be a real date of the form YYYY-MM-DD")
		}
		to = d
	}
	from = referral.Date{Year: to.Year, Month: to.Month, Day: 1}.AddMonths(-11)
	if v := q.Get("from"); v != "" {
		d, err := referral.ParseDate(v)
		if err != nil {
			return from, to, badReportParam("from", "from must be a real date of the form YYYY-MM-DD")
		}
		from = d
	}
	if to.Before(from) {
		return from, to, badReportParam("from", "from must not be after to")
	}
	if from.Before(to.AddMonths(-12 * maxReportYears)) {
		return from, to, badReportParam("from", "the period may be at most %d years long", maxReportYears)
	}
	return from, to, nil
}

// wantsCSV decides the format: format=csv or format=json when given, else
// CSV when the Accept header names text/csv.
func wantsCSV(q url.Values, h http.Header) (bool, error) {
	switch q.Get("format") {
	case "csv":
		return true, nil
	case "json":
		return false, nil
	case "":
	default:
		return false, badReportParam("format", "format must be json or csv")
	}
	for _, accept := range h.Values("Accept") {
		for _, part := range strings.Split(accept, ",") {
			mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err != nil || mt != "text/csv" {
				continue
			}
			if q, ok := params["q"]; ok {
				if v, err := strconv.ParseFloat(q, 64); err != nil || v <= 0 {
					continue // q=0: not acceptable
				}
			}
			return true, nil
		}
	}
	return false, nil
}

// summaryCSVHeader is the CSV's header. The CSV is in long form, one figure
// a row:
//
//	section  period | referrals | referrals_by_programme | referrals_by_employer |
//	         eligibility | durations | waitlist | endings
//	month    YYYY-MM (Europe/London) for monthly figures, else empty
//	group    programme code, employer (organisation) code, eligibility
//	         outcome, duration name (submission_to_review, ...), or
//	         status/reason for endings; "all" for the monthly totals; empty
//	         for period and waitlist rows
//	measure  referrals, median_hours, p90_hours; for the waitlist
//	         waitlisted, waiting_at_end, completed_waits,
//	         median_wait_hours, p90_wait_hours; for period from, to,
//	         timezone, min_cell
//	value    a count; "<5" for a count of 1 to 4; a number of hours (to 0.1);
//	         "suppressed" for a statistic over 1 to 4 referrals; empty for a
//	         statistic over none
var summaryCSVHeader = []string{"section", "month", "group", "measure", "value"}

// writeSummaryCSV renders a summary as CSV (see summaryCSVHeader). It only
// formats: every figure was suppressed where needed by the store.
func writeSummaryCSV(w io.Writer, sum reportSummary) error {
	cw := csv.NewWriter(w)
	row := func(section, month, group, measure, value string) {
		_ = cw.Write([]string{csvLabel(section), csvLabel(month), csvLabel(group), csvLabel(measure), value})
	}
	_ = cw.Write(summaryCSVHeader)
	row("period", "", "", "from", sum.From)
	row("period", "", "", "to", sum.To)
	row("period", "", "", "timezone", csvLabel(sum.Timezone))
	row("period", "", "", "min_cell", strconv.Itoa(sum.MinCell))
	for _, c := range sum.ReferralsByMonth {
		row("referrals", c.Month, "all", "referrals", countValue(c.Cell))
	}
	for _, c := range sum.ReferralsByProgramme {
		row("referrals_by_programme", c.Month, c.Programme, "referrals", countValue(c.Cell))
	}
	for _, c := range sum.ReferralsByEmployer {
		row("referrals_by_employer", c.Month, c.Employer, "referrals", countValue(c.Cell))
	}
	for _, c := range sum.Eligibility {
		row("eligibility", "", c.Outcome, "referrals", countValue(c.Cell))
	}
	for _, d := range []struct {
		name string
		stat referral.Stat
	}{
		{"submission_to_review", sum.Durations.ToReview},
		{"submission_to_first_offer", sum.Durations.ToFirstOffer},
		{"submission_to_match", sum.Durations.ToMatch},
	} {
		n, median, p90 := statValues(d.stat)
		row("durations", "", d.name, "referrals", n)
		row("durations", "", d.name, "median_hours", median)
		row("durations", "", d.name, "p90_hours", p90)
	}
	for _, m := range sum.Waitlist {
		n, median, p90 := statValues(m.Waits)
		row("waitlist", m.Month, "", "waitlisted", countValue(m.Waitlisted))
		row("waitlist", m.Month, "", "waiting_at_end", countValue(m.WaitingAtEnd))
		row("waitlist", m.Month, "", "completed_waits", n)
		row("waitlist", m.Month, "", "median_wait_hours", median)
		row("waitlist", m.Month, "", "p90_wait_hours", p90)
	}
	for _, c := range sum.Endings {
		row("endings", "", c.Status+"/"+c.Reason, "referrals", countValue(c.Cell))
	}
	cw.Flush()
	return cw.Error()
}

// suppressedCount is how the CSV shows a count of 1 to MinCell-1.
var suppressedCount = fmt.Sprintf("<%d", referral.MinCell)

func countValue(c referral.Cell) string {
	switch {
	case c.N != nil:
		return strconv.FormatInt(*c.N, 10)
	case c.Suppressed:
		return suppressedCount
	}
	return ""
}

func statValues(st referral.Stat) (n, median, p90 string) {
	if st.Suppressed {
		return suppressedCount, "suppressed", "suppressed"
	}
	hours := func(h *float64) string {
		if h == nil {
			return ""
		}
		return strconv.FormatFloat(*h, 'f', -1, 64)
	}
	if st.Referrals != nil {
		n = strconv.FormatInt(*st.Referrals, 10)
	}
	return n, hours(st.MedianHours), hours(st.P90Hours)
}

// csvLabel keeps a label from being read as a formula by a spreadsheet. Labels
// are codes, which never start so; this is a second line of defence.
func csvLabel(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
