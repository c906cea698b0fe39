package pages_test

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/wmtna/referrals/internal/referral"
	"github.com/wmtna/referrals/internal/stacktest"
	"github.com/wmtna/referrals/workflows"
)

// TestStatisticsPage asks the committee's statistics page for the figures
// after six referrals from one employer and one from an employer not on
// the register: the seven are shown; the one is hidden, and so are the six
// beside it, since seven less six would give the one away. A period typed
// wrong is a 422 naming the field; a year prints as its summary.
func TestStatisticsPage(t *testing.T) {
	today := referral.DateOf(stacktest.EnvClock(t)())
	mid := referral.Date{Year: today.Year, Month: today.Month, Day: 15}
	s := stacktest.Start(t, workflows.Timings{ReviewReminder: time.Hour, OfferTTL: time.Hour, WaitlistRecheck: time.Hour},
		stacktest.WithClock(stacktest.ShiftedClock(mid)))
	admin := stacktest.AdminToken
	chair := s.Do("POST", "/v1/committee-members", admin, map[string]any{"name": "Chair", "email": "chair@example.org", "role": "chair"})
	for i := range 7 {
		employer, status := "RXT", "awaiting_review"
		if i == 6 {
			employer, status = "ZZZ9", "ineligible"
		}
		r := s.MustRefer(map[string]any{"name": "Sam Statistic", "email": fmt.Sprintf("sam%d@nhs.example", i), "programme": "clinical",
			"employer": employer, "training_start": s.TrainingMonth(), "concerns": "c", "consent": true})
		s.WaitStatus(r.Str("id"), status, 10*time.Second)
	}
	b := signedInAs(t, s, referral.Principal{Role: referral.RoleCommittee, Subject: chair.Str("id")})
	b.get("/committee").want(t, 200, `href="/committee/statistics"`)
	row := func(label, value string) string {
		return fmt.Sprintf("<th scope=\"row\">%s</th>\n  <td data-label=\"Referrals\">%s</td>", label, value)
	}
	b.get("/committee/statistics").want(t, 200, "<h1>Statistics</h1>", `<strong id="referrals">7</strong>`,
		row(referral.ProgrammeName("clinical"), "7"),
		row("ZZZ9", "hidden"),
		row("Met the rules", "hidden"),
		`<svg class="bar"`, "What former clients said", `<strong id="given">0</strong>`,
		`value="15"`) // the period's last day, in its date input

	year := strconv.Itoa(mid.Year)
	b.get("/committee/statistics?year="+year).want(t, 200, "1 January "+year+" to 31 December "+year, `<strong id="referrals">7</strong>`)
	b.get("/committee/statistics/"+year).want(t, 200, "The network&#39;s year, "+year, "1 January to 31 December "+year,
		"print", `<strong id="referrals">7</strong>`)
	last := strconv.Itoa(mid.Year - 1)
	b.get("/committee/statistics/"+last).want(t, 200, `<strong id="referrals">0</strong>`)

	for _, c := range []struct{ query, field, message string }{
		{"from-day=31&from-month=2&from-year=2026&to-day=1&to-month=3&to-year=2026", "from", "The first day must be a real date: the day must be a number from 1 to 28 in February"},
		{"from-day=1&from-month=3&from-year=2026", "to", "Enter the last day"},
		{"from-day=2&from-month=3&from-year=2026&to-day=1&to-month=3&to-year=2026", "from", "The first day must be on or before the last day"},
		{"from-day=1&from-month=1&from-year=2000&to-day=1&to-month=3&to-year=2026", "from", "The period can be at most 10 years long"},
	} {
		b.get("/committee/statistics?"+c.query).want(t, 422, "There is a problem", `<a href="#`+c.field+`">`+c.message+`</a>`)
	}
	b.get("/committee/statistics?year=soon").want(t, 422)
	b.get("/committee/statistics/soon").want(t, 422)
}
