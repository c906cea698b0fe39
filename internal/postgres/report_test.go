package postgres_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wmtna/referrals/internal/referral"
)

// ev is an event of a seeded referral; seqs are given in order from 1.
type ev struct {
	at       time.Time
	from, to referral.Status
	reason   string
}

// seeded stores a referral submitted at the given time with the given
// eligibility ("" unchecked, "eligible", or an ineligibility reason) and
// events, and returns its ID.
func (s *store) seeded(programme, employer string, submitted time.Time, eligibility string, events ...ev) string {
	s.t.Helper()
	ctx := context.Background()
	id := s.referral(trainee{programme: programme, employer: employer})
	if _, err := s.raw.Exec(ctx, `UPDATE referrals SET submitted_at = $2 WHERE id = $1`, id, submitted); err != nil {
		s.t.Fatal(err)
	}
	if eligibility != "" {
		eligible, reason := eligibility == "eligible", eligibility
		if eligible {
			reason = ""
		}
		if _, err := s.raw.Exec(ctx, `UPDATE referrals SET eligible = $2, eligibility_reason = $3 WHERE id = $1`, id, eligible, reason); err != nil {
			s.t.Fatal(err)
		}
	}
	for i, e := range events {
		s.record(referral.Transition{ReferralID: id, Seq: i + 1, At: e.at, Actor: referral.System, From: e.from, To: e.to, Reason: e.reason})
	}
	return id
}

// show is a published cell as the CSV writes it.
func show(c referral.Cell) string {
	switch {
	case c.Suppressed && c.N == nil:
		return "<5"
	case !c.Suppressed && c.N != nil:
		return fmt.Sprint(*c.N)
	}
	return fmt.Sprintf("invalid cell %+v", c)
}

func showStat(st referral.Stat) string {
	f := func(p *float64) string {
		if p == nil {
			return "-"
		}
		return fmt.Sprint(*p)
	}
	switch {
	case st.Suppressed && st.Referrals == nil && st.MedianHours == nil && st.P90Hours == nil:
		return "suppressed"
	case !st.Suppressed && st.Referrals != nil:
		return fmt.Sprintf("n=%d median=%s p90=%s", *st.Referrals, f(st.MedianHours), f(st.P90Hours))
	}
	return fmt.Sprintf("invalid stat %+v", st)
}

func TestReport(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	at := func(year int, month time.Month, day, hour, min int) time.Time {
		return time.Date(year, month, day, hour, min, 0, 0, referral.London)
	}
	d25 := func(month time.Month, day, hour int) time.Time { return at(2025, month, day, hour, 0) }
	h := func(t time.Time, hours float64) time.Time { return t.Add(time.Duration(hours * float64(time.Hour))) }
	const (
		sub   = referral.StatusSubmitted
		await = referral.StatusAwaitingReview
		match = referral.StatusMatching
		offer = referral.StatusOffered
		wait  = referral.StatusWaitlisted
	)

	// The period is January to March 2025 in London: [1 Jan, 1 Apr).
	from, to := d25(time.January, 1, 0), d25(time.April, 1, 0)

	// January: five clinical trainees of RXT, reviewed after 10..50 hours,
	// offered after 24..120 hours, three of them matched; two counselling
	// trainees of RKB awaiting review.
	jan := d25(time.January, 6, 9)
	for i := range 5 {
		review, offered := float64(10*(i+1)), float64(24*(i+1))
		events := []ev{
			{h(jan, 0.1), sub, await, "eligible"},
			{h(jan, review), await, match, "approved"},
			{h(jan, offered), match, offer, "place-reserved"},
		}
		if i < 3 {
			events = append(events, ev{h(jan, float64(100*(i+1))), offer, referral.StatusMatched, "offer-accepted"})
		}
		s.seeded("clinical", "RXT", jan, "eligible", events...)
	}
	for range 2 {
		s.seeded("counselling", "RKB", d25(time.January, 20, 12), "eligible", ev{d25(time.January, 20, 13), sub, await, "eligible"})
	}

	// February: seven clinical trainees. Five past their cut-off (three of
	// RXT, two of RRK), one of RRK declined by the committee after 60 hours,
	// one of an employer not on the register.
	feb := d25(time.February, 10, 9)
	for i := range 5 {
		employer := "RXT"
		if i >= 3 {
			employer = "RRK"
		}
		s.seeded("clinical", employer, feb, referral.ReasonPastCutoff, ev{h(feb, 0.1), sub, referral.StatusIneligible, referral.ReasonPastCutoff})
	}
	s.seeded("clinical", "RRK", feb, "eligible",
		ev{h(feb, 0.1), sub, await, "eligible"}, ev{h(feb, 60), await, referral.StatusDeclined, "committee-declined"})
	s.seeded("clinical", "ZZZ9", feb, referral.ReasonUnknownEmployer, ev{h(feb, 0.1), sub, referral.StatusIneligible, referral.ReasonUnknownEmployer})

	// March: one forensic trainee, not yet checked, late on 31 March (BST).
	s.seeded("forensic", "RXT", at(2025, time.March, 31, 23, 30), "")

	// Outside the period: 31 December 23:30, and 1 April 00:30 BST (still
	// March in UTC). The first withdraws in March with free text where the
	// code should be; the second lapses in April.
	s.seeded("clinical", "RXT", at(2024, time.December, 31, 23, 30), "eligible",
		ev{at(2025, time.January, 1, 0, 0), sub, await, "eligible"},
		ev{d25(time.March, 20, 12), await, referral.StatusWithdrawn, "moved to Leeds, see note"})
	s.seeded("clinical", "RXT", at(2025, time.April, 1, 0, 30), "eligible",
		ev{d25(time.April, 2, 9), sub, referral.StatusLapsed, "eligibility-lapsed"})

	// The waitlist, from referrals submitted in November 2024 (outside the
	// cohort). W1..W5 wait from 2 January for 744, 768, 792, 816, 840 hours
	// (ending 2..6 February); W1 declines its offer and waits again from 5
	// March. W6 waits from 20 February, answers a check-in on 15 March and
	// is still waiting. W7 waits 1..10 March and withdraws. W8 closes for no
	// response without a recorded spell.
	nov := at(2024, time.November, 1, 9, 0)
	waitFrom := d25(time.January, 2, 0)
	for i := range 5 {
		left := h(waitFrom, float64(744+24*i))
		events := []ev{
			{h(nov, 1), sub, await, "eligible"},
			{h(nov, 2), await, match, "approved"},
			{waitFrom, match, wait, "no-free-place"},
			{left, wait, offer, "place-reserved"},
		}
		if i == 0 {
			events = append(events,
				ev{h(left, 24), offer, match, "offer-declined"},
				ev{d25(time.March, 5, 0), match, wait, "no-free-place"})
		}
		s.seeded("clinical", "RXT", nov, "eligible", events...)
	}
	s.seeded("clinical", "RXT", nov, "eligible",
		ev{h(nov, 1), sub, await, "eligible"}, ev{h(nov, 2), await, match, "approved"},
		ev{d25(time.February, 20, 0), match, wait, "no-free-place"},
		ev{d25(time.March, 15, 0), wait, wait, "still-waiting"})
	s.seeded("clinical", "RXT", nov, "eligible",
		ev{h(nov, 1), sub, await, "eligible"}, ev{h(nov, 2), await, match, "approved"},
		ev{d25(time.March, 1, 0), match, wait, "no-free-place"},
		ev{d25(time.March, 10, 0), wait, referral.StatusWithdrawn, "withdrawn-by-trainee"})
	s.seeded("clinical", "RXT", nov, "eligible",
		ev{d25(time.March, 25, 0), wait, "closed_no_response", "no-response"})

	rep, err := s.Report(ctx, from, to)
	if err != nil {
		t.Fatal(err)
	}

	if want := []string{"2025-01", "2025-02", "2025-03"}; !slices.Equal(rep.Months, want) {
		t.Errorf("months = %v, want %v", rep.Months, want)
	}
	if rep.MinCell != 5 || rep.Timezone != "Europe/London" {
		t.Errorf("min_cell %d, timezone %q", rep.MinCell, rep.Timezone)
	}

	var byMonth []string
	for _, c := range rep.ReferralsByMonth {
		byMonth = append(byMonth, c.Month+"="+show(c.Cell))
	}
	// January's 7 is hidden with March's 1, which the period's 15 would
	// otherwise give away (secondary suppression, the smaller of 7 and 7).
	if want := []string{"2025-01=<5", "2025-02=7", "2025-03=<5"}; !slices.Equal(byMonth, want) {
		t.Errorf("referrals by month = %v, want %v", byMonth, want)
	}
	if got := show(rep.Referrals); got != "15" {
		t.Errorf("referrals in the period = %s, want 15", got)
	}
	totals := map[string]string{}
	for _, c := range rep.ProgrammeTotals {
		totals[c.Group] = show(c.Cell)
	}
	for _, c := range rep.EmployerTotals {
		totals[c.Group] = show(c.Cell)
	}
	for k, want := range map[string]string{
		"clinical": "12", "counselling": "<5", "forensic": "<5", "health": "0",
		// RXT's 9 is shown: beside it, three counts are hidden.
		"RXT": "9", "RKB": "<5", "RRK": "<5", "ZZZ9": "<5", "RYA": "0",
	} {
		if got := totals[k]; got != want {
			t.Errorf("referrals from %s in the period = %q, want %q", k, got, want)
		}
	}
	if got := show(rep.EndingsTotal); got != "10" {
		t.Errorf("endings = %s, want 10", got)
	}

	programmes := map[string]string{}
	for _, c := range rep.ReferralsByProgramme {
		programmes[c.Month+" "+c.Programme] = show(c.Cell)
	}
	if len(rep.ReferralsByProgramme) != 3*len(referral.Programmes) {
		t.Errorf("%d programme cells, want every programme in every month (%d)", len(rep.ReferralsByProgramme), 3*len(referral.Programmes))
	}
	for k, want := range map[string]string{
		"2025-01 clinical": "5", "2025-01 counselling": "<5", "2025-01 forensic": "0",
		"2025-02 clinical": "7", "2025-02 counselling": "0",
		"2025-03 forensic": "<5", "2025-03 clinical": "0",
	} {
		if got := programmes[k]; got != want {
			t.Errorf("referrals %s = %q, want %q", k, got, want)
		}
	}

	employers := map[string]string{}
	for _, c := range rep.ReferralsByEmployer {
		employers[c.Month+" "+c.Employer] = show(c.Cell)
	}
	for k, want := range map[string]string{
		"2025-01 RXT": "5", "2025-01 RKB": "<5", "2025-01 RRK": "0", "2025-01 ZZZ9": "0",
		"2025-02 RXT": "<5", "2025-02 RRK": "<5", "2025-02 ZZZ9": "<5", "2025-02 RKB": "0",
		"2025-03 RXT": "<5", "2025-03 RYA": "0",
	} {
		if got := employers[k]; got != want {
			t.Errorf("referrals %s = %q, want %q", k, got, want)
		}
	}

	outcomes := map[string]string{}
	var outcomeOrder []string
	for _, c := range rep.Eligibility {
		outcomes[c.Outcome] = show(c.Cell)
		outcomeOrder = append(outcomeOrder, c.Outcome)
	}
	if want := map[string]string{
		"eligible": "8", referral.ReasonPastCutoff: "5", referral.ReasonUnknownEmployer: "<5",
		referral.ReasonUnknownProgramme: "0", "not_yet_checked": "<5",
	}; !maps.Equal(outcomes, want) {
		t.Errorf("eligibility = %v, want %v", outcomes, want)
	}
	if outcomeOrder[0] != "eligible" {
		t.Errorf("eligibility outcomes in order %v, want eligible first", outcomeOrder)
	}

	// Review: 10, 20, 30, 40, 50, 60 hours. Median 35; p90 at rank 4.5 of
	// 0..5 is 50 + 0.5×10 = 55. First offer: 24..120 hours, median 72, p90
	// at rank 3.6 is 96 + 0.6×24 = 110.4. Match: three referrals,
	// suppressed.
	for name, c := range map[string]struct {
		got  referral.Stat
		want string
	}{
		"review":      {rep.Durations.ToReview, "n=6 median=35 p90=55"},
		"first offer": {rep.Durations.ToFirstOffer, "n=5 median=72 p90=110.4"},
		"match":       {rep.Durations.ToMatch, "suppressed"},
	} {
		if got := showStat(c.got); got != c.want {
			t.Errorf("submission to %s: %s, want %s", name, got, c.want)
		}
	}

	// First waits ending in February: 744, 768, 792, 816, 840 hours: median
	// 792, p90 at rank 3.6 is 816 + 0.6×24 = 830.4.
	var waitlist []string
	for _, m := range rep.Waitlist {
		waitlist = append(waitlist, fmt.Sprintf("%s waitlisted=%s at_end=%s waits: %s", m.Month, show(m.Waitlisted), show(m.WaitingAtEnd), showStat(m.Waits)))
	}
	if want := []string{
		"2025-01 waitlisted=5 at_end=5 waits: n=0 median=- p90=-",
		"2025-02 waitlisted=6 at_end=<5 waits: n=5 median=792 p90=830.4",
		"2025-03 waitlisted=<5 at_end=<5 waits: suppressed",
	}; !slices.Equal(waitlist, want) {
		t.Errorf("waitlist:\n%s\nwant:\n%s", strings.Join(waitlist, "\n"), strings.Join(want, "\n"))
	}

	endings := map[string]string{}
	for _, c := range rep.Endings {
		endings[c.Status+"/"+c.Reason] = show(c.Cell)
	}
	if want := map[string]string{
		"ineligible/" + referral.ReasonPastCutoff:      "5",
		"ineligible/" + referral.ReasonUnknownEmployer: "<5",
		"declined/committee-declined":                  "<5",
		"withdrawn/withdrawn-by-trainee":               "<5",
		"withdrawn/other":                              "<5",
		"closed_no_response/no-response":               "<5",
	}; !maps.Equal(endings, want) {
		t.Errorf("endings = %v, want %v", endings, want)
	}

	// The figures the API publishes (its wire format is httpapi's, and
	// tested there): a suppressed cell has no count, and nothing personal
	// is anywhere in the report.
	if c := rep.ReferralsByMonth[2]; c.Month != "2025-03" || c.N != nil || !c.Suppressed {
		t.Errorf("March = %+v, want a suppressed count", c)
	}
	for _, c := range rep.ReferralsByProgramme {
		if c.Month == "2025-01" && (c.Programme == "clinical" && (c.N == nil || *c.N != 5) || c.Programme == "forensic" && (c.N == nil || *c.N != 0)) {
			t.Errorf("January %s = %+v", c.Programme, c)
		}
	}
	if st := rep.Durations.ToMatch; st.Referrals != nil || st.MedianHours != nil || st.P90Hours != nil || !st.Suppressed {
		t.Errorf("submission to match = %+v, want suppressed", st)
	}
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	for _, personal := range []string{"@example.org", "Leeds", "stress", "Trainee"} {
		if strings.Contains(string(b), personal) {
			t.Errorf("JSON contains %q", personal)
		}
	}

	if _, err := s.Report(ctx, to, from); err == nil {
		t.Error("a period that ends before it starts was accepted")
	}
}

// TestReportSuppression checks the rule at its edges: 0 stays 0, 1 to 4
// are suppressed, 5 is shown; a statistic over 1 to 4 referrals is
// suppressed, over none it is empty.
func TestReportSuppression(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 1: "<5", 2: "<5", 3: "<5", 4: "<5", 5: "5", 6: "6", 120: "120"} {
		if got := show(referral.CountCell(n)); got != want {
			t.Errorf("CountCell(%d) = %s, want %s", n, got, want)
		}
	}
	median, p90 := 12.34, 20.06
	for n, want := range map[int64]string{
		0: "n=0 median=- p90=-", 1: "suppressed", 4: "suppressed", 5: "n=5 median=12.3 p90=20.1",
	} {
		if got := showStat(referral.DurationStat(n, &median, &p90)); got != want {
			t.Errorf("DurationStat(%d) = %s, want %s", n, got, want)
		}
	}
}

// TestReportMonthsAreLondon checks that months are UK calendar months in
// summer time too: 00:30 on 1 May BST is 23:30 on 30 April UTC, and the
// period starting 1 April BST starts on 31 March UTC.
func TestReportMonthsAreLondon(t *testing.T) {
	s := newStore(t)
	bst := func(month time.Month, day, hour, min int) time.Time {
		return time.Date(2025, month, day, hour, min, 0, 0, referral.London)
	}
	for range 5 {
		s.seeded("health", "RXT", bst(time.May, 1, 0, 30), "eligible")
	}
	rep, err := s.Report(context.Background(), bst(time.April, 1, 0, 0), bst(time.June, 1, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"2025-04", "2025-05"}; !slices.Equal(rep.Months, want) {
		t.Fatalf("months = %v, want %v", rep.Months, want)
	}
	var got []string
	for _, c := range rep.ReferralsByMonth {
		got = append(got, c.Month+"="+show(c.Cell))
	}
	if want := []string{"2025-04=0", "2025-05=5"}; !slices.Equal(got, want) {
		t.Errorf("referrals by month = %v, want %v", got, want)
	}
	got = nil
	for _, c := range rep.ReferralsByProgramme {
		if c.Programme == "health" {
			got = append(got, c.Month+"="+show(c.Cell))
		}
	}
	if want := []string{"2025-04=0", "2025-05=5"}; !slices.Equal(got, want) {
		t.Errorf("health referrals = %v, want %v", got, want)
	}
}
