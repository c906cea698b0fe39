//go:build !fuzzing

// Left out of fuzzing builds (-tags fuzzing), which would otherwise
// instrument the whole Temporal server this test starts.

package httpapi_test

import (
	"encoding/csv"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wmtna/referrals/internal/referral"
	"github.com/wmtna/referrals/internal/stacktest"
	"github.com/wmtna/referrals/workflows"
)

// TestReportSummary asks the real service for the committee's statistics
// after six eligible referrals and one ineligible one: the month's seven
// are shown; the one is suppressed, and the six beside it too, since
// seven less six would give the one away; nothing personal is in the JSON
// or the CSV.
func TestReportSummary(t *testing.T) {
	// The service's clock stands at noon on the 15th of this month (or of
	// WMTNA_TEST_CLOCK's), so the run cannot straddle the end of a month:
	// the referrals are submitted in the month the report is checked for.
	today := referral.DateOf(stacktest.EnvClock(t)())
	mid := referral.Date{Year: today.Year, Month: today.Month, Day: 15}
	s := stacktest.Start(t, workflows.Timings{ReviewReminder: time.Hour, OfferTTL: time.Hour, WaitlistRecheck: time.Hour},
		stacktest.WithClock(stacktest.ShiftedClock(mid)))
	month := mid.String()[:7]
	admin := stacktest.AdminToken
	chair := s.Do("POST", "/v1/committee-members", admin, map[string]any{"name": "Chair", "email": "chair@example.org", "role": "chair"}).Str("token")
	submit := func(i int, employer string) (id, token string) {
		r := s.MustRefer(map[string]any{
			"name": "Priya Secretname", "email": fmt.Sprintf("priya%d@nhs.example", i), "programme": "clinical",
			"employer": employer, "training_start": s.TrainingMonth(), "concerns": "sleepless over placement", "consent": true,
		})
		return r.Str("id"), r.Str("token")
	}
	var trainee string
	for i := range 6 {
		id, token := submit(i, "RXT")
		trainee = token
		s.WaitStatus(id, "awaiting_review", 10*time.Second)
	}
	id, _ := submit(6, "ZZZ9")
	s.WaitStatus(id, "ineligible", 10*time.Second)

	r := s.Do("GET", "/v1/reports/summary", chair, nil)
	if r.Status != http.StatusOK {
		t.Fatalf("summary: %d %s", r.Status, r.Raw)
	}
	for _, want := range []string{
		fmt.Sprintf(`{"month":"%s","count":7,"suppressed":false}`, month),
		fmt.Sprintf(`{"month":"%s","programme":"clinical","count":7,"suppressed":false}`, month),
		fmt.Sprintf(`{"month":"%s","employer":"RXT","count":null,"suppressed":true}`, month),
		fmt.Sprintf(`{"month":"%s","employer":"ZZZ9","count":null,"suppressed":true}`, month),
		`"referrals":{"count":7,"suppressed":false}`,
		`{"employer":"RKB","count":0,"suppressed":false}`,
		`{"outcome":"eligible","count":null,"suppressed":true}`,
		fmt.Sprintf(`{"outcome":"%s","count":null,"suppressed":true}`, referral.ReasonUnknownEmployer),
	} {
		if !strings.Contains(r.Raw, want) {
			t.Errorf("summary lacks %s:\n%s", want, r.Raw)
		}
	}
	if months, _ := r.Body["months"].([]any); len(months) != 12 || months[11] != month {
		t.Errorf("months = %v, want the 12 months to %s", months, month)
	}

	req, _ := http.NewRequest("GET", s.API.URL+"/v1/reports/summary", nil)
	req.Header.Set("Authorization", "Bearer "+admin)
	req.Header.Set("Accept", "text/csv")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/csv; charset=utf-8" ||
		!strings.HasPrefix(resp.Header.Get("Content-Disposition"), "attachment; filename=wmtna-summary-") {
		t.Fatalf("CSV: %d %v %s", resp.StatusCode, resp.Header, raw)
	}
	records, err := csv.NewReader(strings.NewReader(string(raw))).ReadAll()
	if err != nil {
		t.Fatalf("not CSV: %v\n%s", err, raw)
	}
	for _, want := range [][]string{
		{"section", "month", "group", "measure", "value"},
		{"referrals", month, "all", "referrals", "7"},
		{"referrals", "", "all", "referrals", "7"},
		{"referrals_by_employer", month, "ZZZ9", "referrals", "suppressed"},
		{"referrals_by_employer", month, "RXT", "referrals", "suppressed"},
		{"eligibility", "", referral.ReasonUnknownEmployer, "referrals", "suppressed"},
		{"eligibility", "", "eligible", "referrals", "suppressed"},
		{"feedback", "", "all", "given", "0"},
	} {
		if !slices.ContainsFunc(records, func(r []string) bool { return slices.Equal(r, want) }) {
			t.Errorf("CSV lacks %v:\n%s", want, raw)
		}
	}

	for _, body := range []string{r.Raw, string(raw)} {
		for _, personal := range []string{"Secretname", "nhs.example", "sleepless", id} {
			if strings.Contains(body, personal) {
				t.Errorf("the report contains %q", personal)
			}
		}
	}

	if r := s.Do("GET", "/v1/reports/summary?from=2025-02-30", admin, nil); r.Status != http.StatusBadRequest || r.ErrorField("field") != "from" {
		t.Errorf("bad from: %d %s", r.Status, r.Raw)
	}
	if r := s.Do("GET", "/v1/reports/summary", trainee, nil); r.Status != http.StatusForbidden {
		t.Errorf("as a trainee: %d %s, want 403", r.Status, r.Raw)
	}
}

// The report refuses bad parameters with a 400 naming the parameter, before
// any statistic is computed.
func TestReportRefusesBadParameters(t *testing.T) {
	s := stacktest.Start(t, workflows.Timings{ReviewReminder: time.Hour, OfferTTL: time.Hour, WaitlistRecheck: time.Hour})
	for query, field := range map[string]string{
		"from=2025-13-01":                 "from",
		"to=2025-02-29":                   "to",
		"from=2025-06-01&to=2025-05-31":   "from",
		"from=2025-01-01&format=markdown": "format",
	} {
		r := s.Do("GET", "/v1/reports/summary?"+query, stacktest.AdminToken, nil)
		e, _ := r.Body["error"].(map[string]any)
		if r.Status != http.StatusBadRequest || e["field"] != field || e["code"] != "invalid_parameter" {
			t.Errorf("%s: %d %s, want 400 invalid_parameter naming %s", query, r.Status, r.Raw, field)
		}
	}
}
