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
		Referrals            cellJSON             `json:"referrals"`
		ProgrammeTotals      []programmeTotalJSON `json:"referrals_by_programme_in_period"`
		EmployerTotals       []employerTotalJSON  `json:"referrals_by_employer_in_period"`
		Eligibility          []outcomeCountJSON   `json:"eligibility"`
		Durations            durationsJSON        `json:"durations"`
		Waitlist             []waitlistMonthJSON  `json:"waitlist"`
		Endings              []endingCountJSON    `json:"endings"`
		EndingsTotal         cellJSON             `json:"endings_total"`
		Feedback             feedbackJSON         `json:"feedback"`
	}
	programmeTotalJSON struct {
		Programme string `json:"programme"`
		cellJSON
	}
	employerTotalJSON struct {
		Employer string `json:"employer"`
		cellJSON
	}
	// feedbackJSON is what former clients said, by the quarters in which
	// therapy ended that the period touches.
	feedbackJSON struct {
		FromQuarter string             `json:"from_quarter"`
		ToQuarter   string             `json:"to_quarter"`
		Given       cellJSON           `json:"given"`
		Questions   []scaleSummaryJSON `json:"questions"`
		Stayed      []stayedJSON       `json:"stayed"`
	}
	scaleSummaryJSON struct {
		Question string     `json:"question"`
		Answers  []cellJSON `json:"answers"` // for 1 to 5
		Answered cellJSON   `json:"answered"`
	}
	stayedJSON struct {
		Months   int              `json:"months"`
		Answers  []stayedCellJSON `json:"answers"`
		Answered cellJSON         `json:"answered"`
	}
	stayedCellJSON struct {
		Answer string `json:"answer"`
		cellJSON
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
		Referrals: cellOf(sum.Referrals),
		ProgrammeTotals: each(sum.ProgrammeTotals, func(c referral.GroupCount) programmeTotalJSON {
			return programmeTotalJSON{c.Group, cellOf(c.Cell)}
		}),
		EmployerTotals: each(sum.EmployerTotals, func(c referral.GroupCount) employerTotalJSON {
			return employerTotalJSON{c.Group, cellOf(c.Cell)}
		}),
		Eligibility: each(sum.Eligibility, func(c referral.OutcomeCount) outcomeCountJSON { return outcomeCountJSON{c.Outcome, cellOf(c.Cell)} }),
		Durations:   durationsJSON{statOf(sum.Durations.ToReview), statOf(sum.Durations.ToFirstOffer), statOf(sum.Durations.ToMatch)},
		Waitlist: each(sum.Waitlist, func(m referral.WaitlistMonth) waitlistMonthJSON {
			return waitlistMonthJSON{m.Month, cellOf(m.Waitlisted), cellOf(m.WaitingAtEnd), statOf(m.Waits)}
		}),
		Endings: each(sum.Endings, func(c referral.EndingCount) endingCountJSON {
			return endingCountJSON{c.Status, c.Reason, cellOf(c.Cell)}
		}),
		EndingsTotal: cellOf(sum.EndingsTotal),
		Feedback:     feedbackOf(sum.Feedback),
	}
}

func feedbackOf(f referral.FeedbackSummary) feedbackJSON {
	return feedbackJSON{FromQuarter: f.Quarters.From, ToQuarter: f.Quarters.To, Given: cellOf(f.Given),
		Questions: each(f.Questions, func(q referral.ScaleSummary) scaleSummaryJSON {
			return scaleSummaryJSON{q.Question, each(q.Answers, cellOf), cellOf(q.Answered)}
		}),
		Stayed: each(f.Stayed, func(st referral.StayedSummary) stayedJSON {
			answers := make([]stayedCellJSON, len(st.Answers))
			for i, c := range st.Answers {
				answers[i] = stayedCellJSON{referral.StayedAnswers[i], cellOf(c)}
			}
			return stayedJSON{st.Months, answers, cellOf(st.Answered)}
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

// reportPeriod reads from and to, with their defaults (the last twelve
// months, or from the first of the month eleven months before to).
func reportPeriod(q url.Values, today referral.Date) (from, to referral.Date, e *pipeline.Error) {
	to = today
	if v := q.Get("to"); v != "" {
		d, err := referral.ParseDate(v)
		if err != nil {
			return from, to, badReportParam("to", "to must be a real date of the form YYYY-MM-DD")
		}
		to = d
	}
	from = pipeline.LastTwelveMonths(to).From
	if v := q.Get("from"); v != "" {
		d, err := referral.ParseDate(v)
		if err != nil {
			return from, to, badReportParam("from", "from must be a real date of the form YYYY-MM-DD")
		}
		from = d
	}
	if e := (pipeline.Period{From: from, To: to}).Check(); e != nil {
		// A query parameter, so a 400 like the others, not the 422 of a
		// form's field.
		return from, to, badReportParam(e.Field, "%s", e.Message)
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
//	         eligibility | durations | waitlist | endings | feedback
//	month    YYYY-MM (Europe/London) for monthly figures; empty for the
//	         whole period's
//	group    programme code, employer (organisation) code, eligibility
//	         outcome, duration name (submission_to_review, ...),
//	         status/reason for endings, or a feedback question (wellbeing,
//	         work, stay, stayed_6_months, stayed_12_months); "all" for the
//	         totals; empty for period and waitlist rows
//	measure  referrals, median_hours, p90_hours; for the waitlist
//	         waitlisted, waiting_at_end, completed_waits,
//	         median_wait_hours, p90_wait_hours; for period from, to,
//	         timezone, min_cell; for feedback from_quarter, to_quarter,
//	         given, an answer (1 to 5, yes, no, prefer-not-to-say) or
//	         answered
//	value    a count; "suppressed" for a count of 1 to 4, and for one
//	         hidden so that a total cannot give such a count away (the two
//	         are not told apart, or the second would say it is 5 or more);
//	         a number of hours (to 0.1); "suppressed" for a statistic over
//	         1 to 4 referrals and the number it was over; empty for a
//	         statistic over none
var summaryCSVHeader = []string{"section", "month", "group", "measure", "value"}

// writeSummaryCSV renders a summary as CSV (see summaryCSVHeader). It only
// formats: every figure was suppressed where needed when it was published
// (referral.ReportCounts.Publish).
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
	row("referrals", "", "all", "referrals", countValue(sum.Referrals))
	for _, c := range sum.ReferralsByMonth {
		row("referrals", c.Month, "all", "referrals", countValue(c.Cell))
	}
	for _, c := range sum.ProgrammeTotals {
		row("referrals_by_programme", "", c.Group, "referrals", countValue(c.Cell))
	}
	for _, c := range sum.ReferralsByProgramme {
		row("referrals_by_programme", c.Month, c.Programme, "referrals", countValue(c.Cell))
	}
	for _, c := range sum.EmployerTotals {
		row("referrals_by_employer", "", c.Group, "referrals", countValue(c.Cell))
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
	row("endings", "", "all", "referrals", countValue(sum.EndingsTotal))
	f := sum.Feedback
	row("feedback", "", "all", "from_quarter", csvLabel(f.Quarters.From))
	row("feedback", "", "all", "to_quarter", csvLabel(f.Quarters.To))
	row("feedback", "", "all", "given", countValue(f.Given))
	for _, q := range f.Questions {
		for i, c := range q.Answers {
			row("feedback", "", q.Question, strconv.Itoa(i+1), countValue(c))
		}
		row("feedback", "", q.Question, "answered", countValue(q.Answered))
	}
	for _, st := range f.Stayed {
		group := fmt.Sprintf("stayed_%d_months", st.Months)
		for i, c := range st.Answers {
			row("feedback", "", group, referral.StayedAnswers[i], countValue(c))
		}
		row("feedback", "", group, "answered", countValue(st.Answered))
	}
	cw.Flush()
	return cw.Error()
}

// suppressedCount is how the CSV shows a hidden count.
const suppressedCount = "suppressed"

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
