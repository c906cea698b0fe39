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

// testSummary is a report as the store would return it: every figure built
// through the small-number rule.
func testSummary() reportSummary {
	c := referral.CountCell
	return reportSummary{From: "2025-01-01", To: "2025-02-28", Report: referral.Report{
		Timezone: "Europe/London",
		MinCell:  referral.MinCell,
		Months:   []string{"2025-01", "2025-02"},
		ReferralsByMonth: []referral.MonthCount{
			{Month: "2025-01", Cell: c(12)}, {Month: "2025-02", Cell: c(3)},
		},
		ReferralsByProgramme: []referral.ProgrammeCount{
			{Month: "2025-01", Programme: "clinical", Cell: c(5)},
			{Month: "2025-01", Programme: "counselling", Cell: c(7)},
			{Month: "2025-01", Programme: "forensic", Cell: c(0)},
			{Month: "2025-02", Programme: "clinical", Cell: c(3)},
		},
		ReferralsByEmployer: []referral.EmployerCount{
			{Month: "2025-01", Employer: "RXT", Cell: c(12)},
			{Month: "2025-02", Employer: "RXT", Cell: c(1)},
			{Month: "2025-02", Employer: "RKB", Cell: c(0)},
		},
		Eligibility: []referral.OutcomeCount{
			{Outcome: "eligible", Cell: c(13)}, {Outcome: "ineligible-cutoff", Cell: c(2)},
		},
		Durations: referral.Durations{
			ToReview:     referral.DurationStat(6, hoursPtr(35), hoursPtr(55)),
			ToFirstOffer: referral.DurationStat(5, hoursPtr(72), hoursPtr(110.4)),
			ToMatch:      referral.DurationStat(3, hoursPtr(100), hoursPtr(280)),
		},
		Waitlist: []referral.WaitlistMonth{
			{Month: "2025-01", Waitlisted: c(5), WaitingAtEnd: c(5), Waits: referral.DurationStat(0, nil, nil)},
			{Month: "2025-02", Waitlisted: c(6), WaitingAtEnd: c(1), Waits: referral.DurationStat(5, hoursPtr(792), hoursPtr(830.4))},
		},
		Endings: []referral.EndingCount{
			{Status: "ineligible", Reason: "ineligible-cutoff", Cell: c(5)},
			{Status: "withdrawn", Reason: "withdrawn-by-trainee", Cell: c(4)},
		},
	}}
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
	want := []string{
		"period,,,from,2025-01-01",
		"period,,,to,2025-02-28",
		"period,,,timezone,Europe/London",
		"period,,,min_cell,5",
		"referrals,2025-01,all,referrals,12",
		"referrals,2025-02,all,referrals,<5",
		"referrals_by_programme,2025-01,clinical,referrals,5",
		"referrals_by_programme,2025-01,counselling,referrals,7",
		"referrals_by_programme,2025-01,forensic,referrals,0",
		"referrals_by_programme,2025-02,clinical,referrals,<5",
		"referrals_by_employer,2025-01,RXT,referrals,12",
		"referrals_by_employer,2025-02,RXT,referrals,<5",
		"referrals_by_employer,2025-02,RKB,referrals,0",
		"eligibility,,eligible,referrals,13",
		"eligibility,,ineligible-cutoff,referrals,<5",
		"durations,,submission_to_review,referrals,6",
		"durations,,submission_to_review,median_hours,35",
		"durations,,submission_to_review,p90_hours,55",
		"durations,,submission_to_first_offer,referrals,5",
		"durations,,submission_to_first_offer,median_hours,72",
		"durations,,submission_to_first_offer,p90_hours,110.4",
		"durations,,submission_to_match,referrals,<5",
		"durations,,submission_to_match,median_hours,suppressed",
		"durations,,submission_to_match,p90_hours,suppressed",
		"waitlist,2025-01,,waitlisted,5",
		"waitlist,2025-01,,waiting_at_end,5",
		"waitlist,2025-01,,completed_waits,0",
		"waitlist,2025-01,,median_wait_hours,",
		"waitlist,2025-01,,p90_wait_hours,",
		"waitlist,2025-02,,waitlisted,6",
		"waitlist,2025-02,,waiting_at_end,<5",
		"waitlist,2025-02,,completed_waits,5",
		"waitlist,2025-02,,median_wait_hours,792",
		"waitlist,2025-02,,p90_wait_hours,830.4",
		"endings,,ineligible/ineligible-cutoff,referrals,5",
		"endings,,withdrawn/withdrawn-by-trainee,referrals,<5",
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
		`{"month":"2025-01","employer":"RXT","count":12,"suppressed":false}`,
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
