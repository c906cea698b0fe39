package pages

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/wmtna/referrals/internal/pipeline"
	"github.com/wmtna/referrals/internal/referral"
)

// The committee's statistics: every figure of the report for a chosen
// period as tables, each with bars drawn on the server (SVG, no script),
// and a calendar year's printable summary. The figures come published:
// nothing here counts, hides or reveals.

// barRow is a table row with its bar: a label, a published count, and the
// bar's length as a share of the row's longest, in percent (0 when the
// count is hidden: the bar is then drawn hatched, at no length).
type barRow struct {
	Label string
	Cell  referral.Cell
	Width int
}

// bars lays out labelled counts as rows of a bar chart.
func bars(labels []string, cells []referral.Cell) []barRow {
	widest := int64(0)
	for _, c := range cells {
		if c.N != nil && *c.N > widest {
			widest = *c.N
		}
	}
	rows := make([]barRow, len(cells))
	for i, c := range cells {
		rows[i] = barRow{Label: labels[i], Cell: c}
		if c.N != nil && widest > 0 {
			rows[i].Width = int(*c.N * 100 / widest)
		}
	}
	return rows
}

// chart is one table of the statistics page.
type chart struct {
	ID, Title, Column string
	Rows              []barRow
	Total             *referral.Cell
}

// waitRow is a month of the waiting list.
type waitRow struct {
	Month                    string
	Waitlisted, WaitingAtEnd referral.Cell
	Wait                     stat
}

// stat is a duration statistic as people read it.
type stat struct {
	Step                string
	Referrals           referral.Cell
	Median, Ninetieth   string
	Suppressed, Nothing bool
}

func statOf(step string, s referral.Stat) stat {
	out := stat{Step: step, Suppressed: s.Suppressed}
	switch {
	case s.Suppressed:
		out.Referrals = referral.Cell{Suppressed: true}
	case s.Referrals != nil:
		out.Referrals = referral.Cell{N: s.Referrals}
		out.Nothing = *s.Referrals == 0
	}
	if s.MedianHours != nil && s.P90Hours != nil {
		out.Median, out.Ninetieth = hoursWaited(*s.MedianHours), hoursWaited(*s.P90Hours)
	}
	return out
}

func hoursWaited(h float64) string {
	if h < 24 {
		return fmt.Sprintf("%.0f hours", h)
	}
	return waited(time.Duration(h * float64(time.Hour)))
}

// statisticsView is the statistics page, or a year's summary.
type statisticsView struct {
	Dates            []dateField
	Period           string
	Year             int // the summary's year; 0 on the statistics page
	ThisYear         int
	LastYear         int
	Referrals        referral.Cell
	Charts           []chart
	Durations        []stat
	Waitlist         []waitRow
	Feedback         []feedbackRow
	FeedbackQuarters string
	FeedbackGiven    referral.Cell
}

func (s *Site) statisticsView(r *http.Request, rep referral.Report, period pipeline.Period) statisticsView {
	today := s.App.Today()
	v := statisticsView{
		Period:   fmt.Sprintf("%s to %s", period.From.Start().Format("2 January 2006"), period.To.Start().Format("2 January 2006")),
		ThisYear: today.Year, LastYear: today.Year - 1,
		Referrals: rep.Referrals, FeedbackGiven: rep.Feedback.Given,
		Feedback:         feedbackRows(rep.Feedback),
		FeedbackQuarters: quartersText(rep.Feedback.Quarters),
	}
	add := func(id, title, column string, labels []string, cells []referral.Cell, total *referral.Cell) {
		v.Charts = append(v.Charts, chart{ID: id, Title: title, Column: column, Rows: bars(labels, cells), Total: total})
	}
	names := map[string]string{}
	if orgs, err := s.App.Employers(r.Context()); err == nil { // else codes will do
		for _, o := range orgs {
			names[o.Code] = o.Name
		}
	}
	var labels []string
	var cells []referral.Cell
	for _, m := range rep.ReferralsByMonth {
		d, _ := referral.ParseDate(m.Month + "-01")
		labels, cells = append(labels, month(d)), append(cells, m.Cell)
	}
	add("by-month", "Referrals each month", "Referrals", labels, cells, &rep.Referrals)
	labels, cells = nil, nil
	for _, g := range rep.ProgrammeTotals {
		labels, cells = append(labels, referral.ProgrammeName(g.Group)), append(cells, g.Cell)
	}
	add("by-programme", "Referrals by training programme", "Referrals", labels, cells, &rep.Referrals)
	labels, cells = nil, nil
	for _, g := range rep.EmployerTotals {
		// A register of some fifty employers: those with no referral in
		// the period say nothing, and are left out.
		if g.N != nil && *g.N == 0 {
			continue
		}
		name := names[g.Group]
		if name == "" {
			name = g.Group
		}
		labels, cells = append(labels, name), append(cells, g.Cell)
	}
	add("by-employer", "Referrals by employer", "Referrals", labels, cells, &rep.Referrals)
	labels, cells = nil, nil
	for _, o := range rep.Eligibility {
		labels, cells = append(labels, outcomeText(o.Outcome)), append(cells, o.Cell)
	}
	add("eligibility", "Whether referrals met the network's rules", "Referrals", labels, cells, &rep.Referrals)
	labels, cells = nil, nil
	for _, e := range rep.Endings {
		labels, cells = append(labels, statusLabel(referral.Status(e.Status))+": "+referral.ReasonText(e.Reason)), append(cells, e.Cell)
	}
	add("endings", "How referrals ended", "Referrals", labels, cells, &rep.EndingsTotal)
	v.Durations = []stat{
		statOf("From referral to the committee's decision", rep.Durations.ToReview),
		statOf("From referral to the first offer to a therapist", rep.Durations.ToFirstOffer),
		statOf("From referral to a therapist accepting", rep.Durations.ToMatch),
	}
	for _, m := range rep.Waitlist {
		d, _ := referral.ParseDate(m.Month + "-01")
		v.Waitlist = append(v.Waitlist, waitRow{Month: month(d), Waitlisted: m.Waitlisted, WaitingAtEnd: m.WaitingAtEnd, Wait: statOf("", m.Waits)})
	}
	return v
}

func outcomeText(o string) string {
	switch o {
	case "eligible":
		return "Met the rules"
	case "not_yet_checked":
		return "Not checked yet"
	}
	return "Did not meet the rules: " + referral.ReasonText(o)
}

// quartersText says which months a run of quarters covers: "January to
// June 2026", "October 2025 to March 2026".
func quartersText(q referral.Quarters) string {
	bound := func(quarter string, last bool) (time.Month, string, bool) {
		if len(quarter) != 7 || quarter[4:6] != "-Q" || quarter[6] < '1' || quarter[6] > '4' {
			return 0, "", false
		}
		n := int(quarter[6] - '0')
		m := time.Month(3*n - 2)
		if last {
			m += 2
		}
		return m, quarter[:4], true
	}
	fm, fy, ok1 := bound(q.From, false)
	tm, ty, ok2 := bound(q.To, true)
	switch {
	case !ok1 || !ok2:
		return q.From + " to " + q.To
	case fy == ty:
		return fmt.Sprintf("%s to %s %s", fm, tm, ty)
	}
	return fmt.Sprintf("%s %s to %s %s", fm, fy, tm, ty)
}

const statisticsTitle = "Statistics"

// statisticsPage shows the statistics for the period asked for: a year
// (year=2026), the days typed in the page's two date inputs, or else the
// last twelve months.
func (s *Site) statisticsPage(w http.ResponseWriter, r *http.Request) {
	sess, _ := currentSession(r)
	q := r.URL.Query()
	period := pipeline.LastTwelveMonths(s.App.Today())
	from, to := readDateInput(q, "from", true), readDateInput(q, "to", true)
	var problems []*pipeline.Error
	if v := q.Get("year"); v != "" {
		year, err := strconv.Atoi(v)
		if err != nil || year < 2000 || year > 9999 {
			s.pageError(w, r, pipeline.FieldError("year", "year must be a year such as 2026"))
			return
		}
		period = pipeline.CalendarYear(year)
	} else if !from.Empty() || !to.Empty() {
		for _, f := range []struct {
			name, what, empty string
			in                *dateInput
			day               *referral.Date
		}{
			{"from", "The first day", "Enter the first day", &from, &period.From},
			{"to", "The last day", "Enter the last day", &to, &period.To},
		} {
			if f.in.Empty() {
				problems = append(problems, pipeline.FieldError(f.name, "%s", f.empty))
				continue
			}
			d, problem := f.in.read(f.what, true)
			if problem != "" {
				problems = append(problems, pipeline.FieldError(f.name, "%s", problem))
				continue
			}
			*f.day = d
		}
		if problems == nil {
			if e := period.Check(); e != nil {
				// Check's two refusals, in the page's words.
				msg := fmt.Sprintf("The period can be at most %d years long", pipeline.MaxReportYears)
				if period.To.Before(period.From) {
					msg = "The first day must be on or before the last day"
				}
				problems = append(problems, pipeline.FieldError("from", "%s", msg))
			}
		}
	}
	if problems != nil {
		v := statisticsView{Dates: periodFields(from, to), ThisYear: s.App.Today().Year, LastYear: s.App.Today().Year - 1}
		s.render(w, r, http.StatusUnprocessableEntity, "statistics", page{Title: statisticsTitle, Errors: problems, Data: v})
		return
	}
	rep, err := s.App.Report(r.Context(), sess.Principal, pipeline.Given(period))
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	v := s.statisticsView(r, rep, period)
	v.Dates = periodFields(dateInputOf(period.From), dateInputOf(period.To))
	s.render(w, r, http.StatusOK, "statistics", page{Title: statisticsTitle, Data: v})
}

// annualSummaryPage is a calendar year's statistics, laid out to print.
func (s *Site) annualSummaryPage(w http.ResponseWriter, r *http.Request) {
	sess, _ := currentSession(r)
	year, err := strconv.Atoi(chi.URLParam(r, "year"))
	if err != nil || year < 2000 || year > 9999 {
		s.pageError(w, r, pipeline.FieldError("year", "year must be a year such as 2026"))
		return
	}
	period := pipeline.CalendarYear(year)
	rep, err := s.App.Report(r.Context(), sess.Principal, pipeline.Given(period))
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	v := s.statisticsView(r, rep, period)
	v.Year = year
	s.render(w, r, http.StatusOK, "statistics", page{Title: fmt.Sprintf("The network's year, %d", year), Data: v})
}

// dateField is one of the period's date inputs.
type dateField struct {
	Name, Legend, Hint string
	In                 dateInput
}

func periodFields(from, to dateInput) []dateField {
	return []dateField{
		{Name: "from", Legend: "First day", Hint: "For example, 1 4 2025", In: from},
		{Name: "to", Legend: "Last day", Hint: "For example, 31 3 2026", In: to},
	}
}

func dateInputOf(d referral.Date) dateInput {
	return dateInput{Day: strconv.Itoa(d.Day), Month: strconv.Itoa(int(d.Month)), Year: strconv.Itoa(d.Year)}
}
