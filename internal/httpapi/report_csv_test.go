package httpapi

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wmtna/referrals/internal/pipeline"
	"github.com/wmtna/referrals/internal/referral"
)

func hoursPtr(h float64) *float64 { return &h }

// testSummary is a report as the store would return it: counts published
// through the small-number rule and secondary suppression.
func testSummary() reportSummary {
	counts := referral.ReportCounts{
		Months:  []string{"2025-01", "2025-02"},
		ByMonth: []int64{12, 3},
		ByProgramme: []referral.GroupCounts{
			{Group: "clinical", PerMonth: []int64{5, 3}},
			{Group: "counselling", PerMonth: []int64{7, 0}},
			{Group: "forensic", PerMonth: []int64{0, 0}},
		},
		ByEmployer: []referral.GroupCounts{
			{Group: "RKB", PerMonth: []int64{0, 0}},
			{Group: "RXT", PerMonth: []int64{12, 3}},
		},
		Eligibility:  []referral.NamedCount{{Name: "eligible", N: 13}, {Name: "ineligible-cutoff", N: 2}},
		ToReview:     referral.DurationCounts{N: 6, MedianHours: hoursPtr(35), P90Hours: hoursPtr(55)},
		ToFirstOffer: referral.DurationCounts{N: 5, MedianHours: hoursPtr(72), P90Hours: hoursPtr(110.4)},
		ToMatch:      referral.DurationCounts{N: 3, MedianHours: hoursPtr(100), P90Hours: hoursPtr(280)},
		Waitlist: []referral.WaitlistCounts{
			{Month: "2025-01", Waitlisted: 5, WaitingAtEnd: 5},
			{Month: "2025-02", Waitlisted: 6, WaitingAtEnd: 1, Waits: referral.DurationCounts{N: 5, MedianHours: hoursPtr(792), P90Hours: hoursPtr(830.4)}},
		},
		Endings: []referral.EndingCounts{
			{Status: "ineligible", Reason: "ineligible-cutoff", N: 5},
			{Status: "withdrawn", Reason: "withdrawn-by-trainee", N: 4},
		},
	}
	rep, err := counts.Publish()
	if err != nil {
		panic(err)
	}
	wellbeing, answered := referral.SuppressRow([]int64{0, 0, 2, 6, 9})
	stayed, answeredStayed := referral.SuppressRow([]int64{6, 0, 0})
	rep.Feedback = referral.FeedbackSummary{
		Quarters:  referral.Quarters{From: "2025-Q1", To: "2025-Q1"},
		Given:     referral.CountCell(17),
		Questions: []referral.ScaleSummary{{Question: "wellbeing", Answers: wellbeing, Answered: answered}},
		Stayed:    []referral.StayedSummary{{Months: 6, Answers: stayed, Answered: answeredStayed}},
	}
	return reportSummary{From: "2025-01-01", To: "2025-02-28", Report: rep}
}

func TestSummaryCSV(t *testing.T) {
	var buf bytes.Buffer
	if err := writeSummaryCSV(&buf, testSummary()); err != nil {
		t.Fatal(err)
	}
	records, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatalf("the output is not CSV: %v", err)
	}
	if !slices.Equal(records[0], []string{"section", "month", "group", "measure", "value"}) {
		t.Fatalf("header = %v", records[0])
	}
	var got []string
	for _, r := range records[1:] {
		if len(r) != 5 {
			t.Fatalf("row %v has %d fields, want 5", r, len(r))
		}
		got = append(got, strings.Join(r, ","))
	}
	// January's 12 is hidden beside February's 3, so that the period's 15
	// does not give the 3 away; the same for January's clinical 5 (beside
	// the month's hidden 12), January's RXT 12, the 13 eligible and the 5
	// past their cut-off.
	want := []string{
		"period,,,from,2025-01-01",
		"period,,,to,2025-02-28",
		"period,,,timezone,Europe/London",
		"period,,,min_cell,5",
		"referrals,,all,referrals,15",
		"referrals,2025-01,all,referrals,suppressed",
		"referrals,2025-02,all,referrals,suppressed",
		"referrals_by_programme,,clinical,referrals,8",
		"referrals_by_programme,,counselling,referrals,7",
		"referrals_by_programme,,forensic,referrals,0",
		"referrals_by_programme,2025-01,clinical,referrals,suppressed",
		"referrals_by_programme,2025-01,counselling,referrals,7",
		"referrals_by_programme,2025-01,forensic,referrals,0",
		"referrals_by_programme,2025-02,clinical,referrals,suppressed",
		"referrals_by_programme,2025-02,counselling,referrals,0",
		"referrals_by_programme,2025-02,forensic,referrals,0",
		"referrals_by_employer,,RKB,referrals,0",
		"referrals_by_employer,,RXT,referrals,15",
		"referrals_by_employer,2025-01,RKB,referrals,0",
		"referrals_by_employer,2025-01,RXT,referrals,suppressed",
		"referrals_by_employer,2025-02,RKB,referrals,0",
		"referrals_by_employer,2025-02,RXT,referrals,suppressed",
		"eligibility,,eligible,referrals,suppressed",
		"eligibility,,ineligible-cutoff,referrals,suppressed",
		"durations,,submission_to_review,referrals,6",
		"durations,,submission_to_review,median_hours,35",
		"durations,,submission_to_review,p90_hours,55",
		"durations,,submission_to_first_offer,referrals,5",
		"durations,,submission_to_first_offer,median_hours,72",
		"durations,,submission_to_first_offer,p90_hours,110.4",
		"durations,,submission_to_match,referrals,suppressed",
		"durations,,submission_to_match,median_hours,suppressed",
		"durations,,submission_to_match,p90_hours,suppressed",
		"waitlist,2025-01,,waitlisted,5",
		"waitlist,2025-01,,waiting_at_end,5",
		"waitlist,2025-01,,completed_waits,0",
		"waitlist,2025-01,,median_wait_hours,",
		"waitlist,2025-01,,p90_wait_hours,",
		"waitlist,2025-02,,waitlisted,6",
		"waitlist,2025-02,,waiting_at_end,suppressed",
		"waitlist,2025-02,,completed_waits,5",
		"waitlist,2025-02,,median_wait_hours,792",
		"waitlist,2025-02,,p90_wait_hours,830.4",
		"endings,,ineligible/ineligible-cutoff,referrals,suppressed",
		"endings,,withdrawn/withdrawn-by-trainee,referrals,suppressed",
		"endings,,all,referrals,9",
		"feedback,,all,from_quarter,2025-Q1",
		"feedback,,all,to_quarter,2025-Q1",
		"feedback,,all,given,17",
		"feedback,,wellbeing,1,0",
		"feedback,,wellbeing,2,0",
		"feedback,,wellbeing,3,suppressed",
		"feedback,,wellbeing,4,suppressed",
		"feedback,,wellbeing,5,9",
		"feedback,,wellbeing,answered,17",
		"feedback,,stayed_6_months,yes,6",
		"feedback,,stayed_6_months,no,0",
		"feedback,,stayed_6_months,prefer-not-to-say,0",
		"feedback,,stayed_6_months,answered,6",
	}
	if !slices.Equal(got, want) {
		t.Errorf("CSV rows:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// No suppressed figure leaks: the raw 1..4 values of the input appear
	// nowhere as a count.
	for _, r := range records[1:] {
		if r[3] == "referrals" || r[3] == "waitlisted" || r[3] == "waiting_at_end" || r[3] == "completed_waits" {
			if v := r[4]; v == "1" || v == "2" || v == "3" || v == "4" {
				t.Errorf("row %v shows a count under 5", r)
			}
		}
	}
}

func TestSummaryCSVLabelsAreNotFormulas(t *testing.T) {
	sum := testSummary()
	sum.Endings = []referral.EndingCount{{Status: "withdrawn", Reason: "=HYPERLINK(1)", Cell: referral.CountCell(7)}}
	sum.Feedback.Quarters.From = "+2025-Q1"
	sum.Eligibility = []referral.OutcomeCount{{Outcome: "@SUM(A1)", Cell: referral.CountCell(0)}}
	var buf bytes.Buffer
	if err := writeSummaryCSV(&buf, sum); err != nil {
		t.Fatal(err)
	}
	records, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range records {
		for _, f := range r {
			if f != "" && strings.ContainsRune("=+@", rune(f[0])) {
				t.Errorf("field %q of %v could be read as a formula", f, r)
			}
		}
	}
}

func TestReportJSONShape(t *testing.T) {
	b, err := json.Marshal(testSummary().json())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`"from":"2025-01-01","to":"2025-02-28","timezone":"Europe/London","min_cell":5`,
		`{"month":"2025-02","count":null,"suppressed":true}`,
		`{"month":"2025-01","programme":"forensic","count":0,"suppressed":false}`,
		`{"month":"2025-01","employer":"RXT","count":null,"suppressed":true}`,
		`"referrals":{"count":15,"suppressed":false}`,
		`"referrals_by_programme_in_period":[{"programme":"clinical","count":8,"suppressed":false}`,
		`"endings_total":{"count":9,"suppressed":false}`,
		`"feedback":{"from_quarter":"2025-Q1","to_quarter":"2025-Q1","given":{"count":17,"suppressed":false},"questions":[{"question":"wellbeing","answers":[{"count":0,"suppressed":false},{"count":0,"suppressed":false},{"count":null,"suppressed":true}`,
		`"stayed":[{"months":6,"answers":[{"answer":"yes","count":6,"suppressed":false}`,
		`"submission_to_first_offer":{"referrals":5,"median_hours":72,"p90_hours":110.4,"suppressed":false}`,
		`"submission_to_match":{"referrals":null,"median_hours":null,"p90_hours":null,"suppressed":true}`,
		`{"month":"2025-01","waitlisted":{"count":5,"suppressed":false},"waiting_at_end":{"count":5,"suppressed":false},"completed_waits":{"referrals":0,"median_hours":null,"p90_hours":null,"suppressed":false}}`,
		`{"status":"withdrawn","reason":"withdrawn-by-trainee","count":null,"suppressed":true}`,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("JSON lacks %s:\n%s", want, b)
		}
	}
}

func TestReportPeriod(t *testing.T) {
	now := time.Date(2026, time.November, 24, 10, 0, 0, 0, referral.London)
	for _, c := range []struct {
		query, from, to, field string
	}{
		{"", "2025-12-01", "2026-11-24", ""},
		{"to=2025-03-31", "2024-04-01", "2025-03-31", ""},
		{"from=2025-01-01", "2025-01-01", "2026-11-24", ""},
		{"from=2025-01-01&to=2025-01-01", "2025-01-01", "2025-01-01", ""},
		{"from=2025-02-30", "", "", "from"},
		{"from=2025-1-1", "", "", "from"},
		{"to=yesterday", "", "", "to"},
		{"from=2025-03-01&to=2025-02-28", "", "", "from"},
		{"from=1900-01-01&to=2025-01-01", "", "", "from"},
	} {
		q, _ := url.ParseQuery(c.query)
		from, to, e := reportPeriod(q, referral.DateOf(now))
		switch {
		case c.field != "" && (e == nil || e.Field != c.field || e.Outcome != http.StatusBadRequest):
			t.Errorf("%q: %v, want a 400 naming %s", c.query, e, c.field)
		case c.field == "" && e != nil:
			t.Errorf("%q: %v", c.query, e)
		case c.field == "" && (from.String() != c.from || to.String() != c.to):
			t.Errorf("%q: from %s to %s, want %s to %s", c.query, from, to, c.from, c.to)
		}
	}
}

func TestWantsCSV(t *testing.T) {
	for _, c := range []struct {
		query, accept string
		csv           bool
		field         string
	}{
		{"", "", false, ""},
		{"", "application/json", false, ""},
		{"", "text/csv", true, ""},
		{"", "application/json;q=0.9, text/csv", true, ""},
		{"", "text/csv;q=0", false, ""},
		{"format=csv", "application/json", true, ""},
		{"format=json", "text/csv", false, ""},
		{"format=xlsx", "", false, "format"},
	} {
		q, _ := url.ParseQuery(c.query)
		h := http.Header{}
		if c.accept != "" {
			h.Set("Accept", c.accept)
		}
		got, e := wantsCSV(q, h)
		if c.field != "" {
			if e, ok := e.(*pipeline.Error); !ok || e.Field != c.field {
				t.Errorf("%q %q: %v, want an error naming %s", c.query, c.accept, e, c.field)
			}
			continue
		}
		if e != nil || got != c.csv {
			t.Errorf("%q %q: csv=%v %v, want %v", c.query, c.accept, got, e, c.csv)
		}
	}
}
