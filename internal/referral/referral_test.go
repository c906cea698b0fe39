package referral

import (
	"fmt"
	"testing"
	"time"
)

// d builds a Date tersely for tables.
func d(y int, m time.Month, day int) Date { return Date{y, m, day} }

// dp is d as a pointer, for expected qualification dates.
func dp(y int, m time.Month, day int) *Date {
	x := d(y, m, day)
	return &x
}

func TestCutoff(t *testing.T) {
	tests := []struct {
		name     string
		start    Date
		expected *Date
		want     Date
	}{
		// The issue's own example: an autumn 2024 start is cut off on
		// 1 July of the third year, 2027.
		{"autumn 2024 start", d(2024, time.September, 1), nil, d(2027, time.July, 1)},
		{"late September start", d(2024, time.September, 30), nil, d(2027, time.July, 1)},
		{"October start", d(2024, time.October, 1), nil, d(2027, time.July, 1)},
		// A January start reaches two years in January 2027, so the next
		// 1 July is the same year.
		{"January start", d(2025, time.January, 6), nil, d(2027, time.July, 1)},
		// Two years from a 1 July start is itself a 1 July: "on or after"
		// means that very day, not a year later.
		{"1 July start", d(2024, time.July, 1), nil, d(2026, time.July, 1)},
		// One day later and the two-year mark has passed 1 July.
		{"2 July start", d(2024, time.July, 2), nil, d(2027, time.July, 1)},
		{"late June start", d(2024, time.June, 30), nil, d(2026, time.July, 1)},
		// An expected qualification date wins: three months before it.
		{"expected qualification", d(2024, time.September, 1), dp(2027, time.October, 1), d(2027, time.July, 1)},
		// 31 May - 3 months clamps to the end of February, not 3 March.
		{"month-end clamping", d(2024, time.September, 1), dp(2027, time.May, 31), d(2027, time.February, 28)},
		{"month-end clamping, leap year", d(2025, time.September, 1), dp(2028, time.May, 31), d(2028, time.February, 29)},
		{"across a year boundary", d(2024, time.September, 1), dp(2027, time.January, 15), d(2026, time.October, 15)},
		// A zero date is "not given", as an unset optional field would be.
		{"zero expected qualification", d(2024, time.September, 1), &Date{}, d(2027, time.July, 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Cutoff(tt.start, tt.expected); got != tt.want {
				t.Errorf("Cutoff(%v, %v) = %v, want %v", tt.start, tt.expected, got, tt.want)
			}
		})
	}
}

func TestCheckEligibility(t *testing.T) {
	start := d(2024, time.September, 1) // cut-off 2027-07-01
	tests := []struct {
		name       string
		referred   Date
		programme  string
		registered bool
		wantOK     bool
		wantReason string
	}{
		{"eligible", d(2025, time.March, 3), "clinical", true, true, ""},
		{"unregistered employer", d(2025, time.March, 3), "clinical", false, false, ReasonUnknownEmployer},
		{"unknown programme", d(2025, time.March, 3), "astrology", true, false, ReasonUnknownProgramme},
		// Programme codes are exact: the API sends the code, not a label.
		{"programme code is case-sensitive", d(2025, time.March, 3), "Clinical", true, false, ReasonUnknownProgramme},
		// The day before the cut-off is the last day a referral is taken.
		{"day before cut-off", d(2027, time.June, 30), "counselling", true, true, ""},
		{"on the cut-off day", d(2027, time.July, 1), "counselling", true, false, ReasonPastCutoff},
		{"after the cut-off", d(2027, time.September, 1), "counselling", true, false, ReasonPastCutoff},
		// The employer is checked first: one reason, the most basic.
		{"several failures report the employer", d(2028, time.January, 1), "astrology", false, false, ReasonUnknownEmployer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := CheckEligibility(tt.referred, tt.programme, tt.registered, start, nil)
			if e.Eligible != tt.wantOK || e.Reason != tt.wantReason {
				t.Errorf("CheckEligibility(%v, %q, %v) = %+v, want eligible=%v reason=%q",
					tt.referred, tt.programme, tt.registered, e, tt.wantOK, tt.wantReason)
			}
			// The cut-off is reported whatever the outcome, for the message.
			if e.Cutoff != "2027-07-01" {
				t.Errorf("Cutoff = %q, want 2027-07-01", e.Cutoff)
			}
			if !e.Eligible && ReasonText(e.Reason) == e.Reason {
				t.Errorf("reason %q has no plain-words text", e.Reason)
			}
		})
	}
}

func TestCheckEligibilityWithExpectedQualification(t *testing.T) {
	// Qualifying 2027-10-01 moves the cut-off to 2027-07-01 regardless of
	// when training started.
	start, q := d(2023, time.January, 9), dp(2027, time.October, 1)
	if e := CheckEligibility(d(2027, time.June, 30), "health", true, start, q); !e.Eligible {
		t.Errorf("day before cut-off: %+v, want eligible", e)
	}
	if e := CheckEligibility(d(2027, time.July, 1), "health", true, start, q); e.Eligible || e.Reason != ReasonPastCutoff {
		t.Errorf("cut-off day: %+v, want %s", e, ReasonPastCutoff)
	}
}

func TestParseDate(t *testing.T) {
	valid := []struct {
		in   string
		want Date
	}{
		{"2025-02-28", d(2025, time.February, 28)},
		{"2024-02-29", d(2024, time.February, 29)},
		// Days on which the UK changes its clocks are still whole days.
		{"2025-03-30", d(2025, time.March, 30)},
		{"2025-10-26", d(2025, time.October, 26)},
		{"2025-12-31", d(2025, time.December, 31)},
	}
	for _, tt := range valid {
		got, err := ParseDate(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseDate(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
		// String is the inverse of ParseDate.
		if got.String() != tt.in {
			t.Errorf("ParseDate(%q).String() = %q", tt.in, got.String())
		}
	}
	for _, in := range []string{
		"2025-02-30", // no such day
		"2025-02-29", // not a leap year
		"2025-13-01", // no such month
		"2025-00-10",
		"2025-04-31",
		"2025-1-1", // not zero-padded
		"25-01-01",
		"2025/01/01",
		"2025-01-01T00:00:00Z",
		"",
	} {
		if got, err := ParseDate(in); err == nil {
			t.Errorf("ParseDate(%q) = %v, want an error", in, got)
		}
	}
}

func TestParseMonth(t *testing.T) {
	got, err := ParseMonth("2024-09")
	if err != nil || got != d(2024, time.September, 1) {
		t.Errorf("ParseMonth(2024-09) = %v, %v; want 2024-09-01", got, err)
	}
	for _, in := range []string{"2024-13", "2024-00", "2024-9", "2024-09-01", "2024", ""} {
		if got, err := ParseMonth(in); err == nil {
			t.Errorf("ParseMonth(%q) = %v, want an error", in, got)
		}
	}
}

func TestStatus(t *testing.T) {
	terminal := map[Status]bool{
		StatusIneligible: true, StatusDeclined: true, StatusEnded: true, StatusWithdrawn: true, StatusLapsed: true,
		StatusClosedNoResponse: true,
	}
	for _, s := range Statuses {
		if !s.Valid() {
			t.Errorf("%s.Valid() = false", s)
		}
		if s.Terminal() != terminal[s] {
			t.Errorf("%s.Terminal() = %v, want %v", s, s.Terminal(), terminal[s])
		}
	}
	for _, s := range []Status{"", "Submitted", "approved", "waiting"} {
		if s.Valid() {
			t.Errorf("%q.Valid() = true", s)
		}
		if s.Terminal() {
			t.Errorf("%q.Terminal() = true", s)
		}
	}
}

// FuzzCutoff checks Cutoff's promises on arbitrary days: it never panics; it
// is exactly three calendar months (clamped) before a given expected
// qualification, so never after it; without one it is a 1 July, the first
// on or after the second anniversary of the start.
func FuzzCutoff(f *testing.F) {
	f.Add(2024, 9, 1, false, 0, 0, 0)
	f.Add(2024, 7, 1, false, 0, 0, 0)
	f.Add(2025, 1, 31, true, 2027, 5, 31)
	f.Add(2024, 2, 29, true, 2028, 3, 31)
	f.Add(-5, 40, -3, true, 99999, -7, 400)

	f.Fuzz(func(t *testing.T, sy, sm, sd int, hasExpected bool, ey, em, ed int) {
		// Raw values first: whatever a caller passes, no panic.
		raw := Date{sy, time.Month(sm), sd}
		_ = Cutoff(raw, &Date{ey, time.Month(em), ed})
		_ = Cutoff(raw, nil)

		// The properties hold for real calendar days.
		start := realDay(sy, sm, sd)
		if !hasExpected {
			c := Cutoff(start, nil)
			anniversary := start.AddMonths(24)
			if c.Month != time.July || c.Day != 1 {
				t.Fatalf("Cutoff(%v, nil) = %v, not a 1 July", start, c)
			}
			if c.Before(anniversary) || !c.Before(anniversary.AddMonths(12)) {
				t.Fatalf("Cutoff(%v, nil) = %v, not the first 1 July on or after %v", start, c, anniversary)
			}
			return
		}
		q := realDay(ey, em, ed)
		c := Cutoff(start, &q)
		if q.Before(c) {
			t.Fatalf("Cutoff(%v, %v) = %v, after expected qualification", start, q, c)
		}
		if months := (q.Year*12 + int(q.Month)) - (c.Year*12 + int(c.Month)); months != 3 {
			t.Fatalf("Cutoff(%v, %v) = %v, %d months before, want 3", start, q, c, months)
		}
		if c.Day != q.Day && (c.Day > q.Day || DateOf(c.Start().AddDate(0, 0, 1)).Month == c.Month) {
			t.Fatalf("Cutoff(%v, %v) = %v: day changed without clamping to a month end", start, q, c)
		}
	})
}

// realDay maps arbitrary integers onto a real calendar day between years 1
// and 9999, so properties are checked on dates a trainee could type.
func realDay(y, m, day int) Date {
	y = 1 + mod(y, 9999)
	m = 1 + mod(m, 12)
	day = 1 + mod(day, 31)
	t := time.Date(y, time.Month(m), 1, 12, 0, 0, 0, time.UTC)
	if last := t.AddDate(0, 1, -1).Day(); day > last {
		day = last
	}
	return Date{y, time.Month(m), day}
}

func mod(a, n int) int {
	r := a % n
	if r < 0 {
		r += n
	}
	return r
}

// FuzzCheckEligibility checks CheckEligibility against naiveEligibility, a
// second statement of the rules written from their wording, for any dates:
// the same outcome, the same reason and the same reported cut-off.
func FuzzCheckEligibility(f *testing.F) {
	// The training start is month 1+sm%12, day 1+sd%31: 8, 0 is 1 September.
	f.Add(2026, 11, 24, "clinical", true, 2024, 9, 0, 0, 0, 0)
	f.Add(2027, 7, 1, "clinical", true, 2024, 9, 0, 0, 0, 0)
	f.Add(2027, 6, 30, "forensic", false, 2024, 8, 0, 2027, 10, 1)
	f.Add(2026, 1, 1, "nursing", true, 2025, 0, 0, 2028, 2, 29)
	// A 1 July start is cut off two years on, a 2 July start three.
	f.Add(2026, 6, 30, "counselling", true, 2024, 6, 0, 0, 0, 0)
	f.Add(2026, 7, 1, "educational", true, 2024, 6, 1, 0, 0, 0)
	// Three months before 31 May is the end of February.
	f.Add(2028, 2, 28, "health", true, 2025, 8, 0, 2028, 5, 31)
	f.Add(2027, 2, 28, "occupational", true, 2024, 8, 0, 2027, 5, 31)
	f.Add(2027, 2, 27, "sport_exercise", true, 2024, 8, 0, 2027, 5, 31)
	f.Fuzz(func(t *testing.T, ry, rm, rd int, programme string, registered bool, sy, sm, sd, qy, qm, qd int) {
		referred := DateOf(time.Date(ry%3000, time.Month(rm%13), rd%32, 12, 0, 0, 0, London))
		start := DateOf(time.Date(sy%3000, time.Month(1+mod(sm, 12)), 1+mod(sd, 31), 12, 0, 0, 0, London))
		var expected *Date
		if qy != 0 {
			d := DateOf(time.Date(qy%3000, time.Month(qm%13), qd%32, 12, 0, 0, 0, London))
			expected = &d
		}
		e := CheckEligibility(referred, programme, registered, start, expected)
		eligible, reason, cutoff := naiveEligibility(referred, programme, registered, start, expected)
		if e.Eligible != eligible || e.Reason != reason || e.Cutoff != cutoff {
			t.Fatalf("CheckEligibility(referred %s, %q, registered %v, start %s, expected %v) = %+v; the rules say eligible=%v reason=%q cutoff=%s",
				referred, programme, registered, start, expected, e, eligible, reason, cutoff)
		}
	})
}

// naiveEligibility is the network's rules stated a second time, by hand,
// without Cutoff, Date's methods or the Programmes list:
//
//   - The cut-off is three calendar months before the expected
//     qualification date, on the same day of the month or the month's last
//     day if it has fewer. Without that date it is 1 July of the third year
//     of training: two years after the start, the next 1 July (the same day
//     if the anniversary falls on it). So a start on or before 1 July is cut
//     off on 1 July two years later; a later start, three years later.
//   - Eligible: the employer is registered, the programme is one of the
//     seven HCPC Practitioner Psychologist domains, and the referral is
//     made before the cut-off day. The first of these that fails is the
//     reason.
func naiveEligibility(referred Date, programme string, registered bool, start Date, expected *Date) (eligible bool, reason, cutoff string) {
	var cy, cm, cd int
	if expected != nil && (expected.Year != 0 || expected.Month != 0 || expected.Day != 0) {
		months := expected.Year*12 + int(expected.Month) - 1 - 3 // months since January of year 0
		cy = months / 12
		if months%12 < 0 {
			cy--
		}
		cm = months - cy*12 + 1
		cd = min(expected.Day, daysInMonth(cy, cm))
	} else {
		cy, cm, cd = start.Year+2, 7, 1
		if start.Month > time.July || (start.Month == time.July && start.Day > 1) {
			cy++
		}
	}
	cutoff = fmt.Sprintf("%04d-%02d-%02d", cy, cm, cd)
	rm := int(referred.Month)
	beforeCutoff := referred.Year < cy || (referred.Year == cy && (rm < cm || (rm == cm && referred.Day < cd)))
	switch {
	case !registered:
		return false, ReasonUnknownEmployer, cutoff
	case programme != "clinical" && programme != "counselling" && programme != "educational" && programme != "forensic" &&
		programme != "health" && programme != "occupational" && programme != "sport_exercise":
		return false, ReasonUnknownProgramme, cutoff
	case !beforeCutoff:
		return false, ReasonPastCutoff, cutoff
	}
	return true, "", cutoff
}

// daysInMonth counts the days of a month of the Gregorian calendar.
func daysInMonth(year, month int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

func TestEveryProgrammeHasAName(t *testing.T) {
	for _, p := range Programmes {
		if n := ProgrammeName(p); n == p || n == "" {
			t.Errorf("programme %s has no name people read", p)
		}
	}
	if n := ProgrammeName("astrology"); n != "astrology" {
		t.Errorf("an unknown programme is named %q", n)
	}
}

func TestDecisionRules(t *testing.T) {
	for _, c := range []struct {
		decision, code, field string
	}{
		{DecisionApprove, "", ""},
		{DecisionDecline, "", ""},
		{DecisionDecline, CodeIncomplete, ""},
		{"maybe", "", "decision"},
		{DecisionApprove, CodeIncomplete, "reason_code"},
		{DecisionDecline, CodeTherapistCapacity, "reason_code"},
	} {
		p := CheckReview(c.decision, c.code)
		if (p == nil) != (c.field == "") || p != nil && p.Field != c.field {
			t.Errorf("CheckReview(%q, %q) = %+v, want a problem with %q", c.decision, c.code, p, c.field)
		}
	}
	for code, ok := range map[string]bool{CodeTherapistCapacity: true, CodeTherapistConflict: true, "": false, CodeIncomplete: false} {
		if p := CheckTherapistDecline(code); (p == nil) != ok {
			t.Errorf("CheckTherapistDecline(%q) = %+v", code, p)
		}
	}
}

func TestTyped(t *testing.T) {
	for _, c := range []struct {
		s         string
		multiline bool
		want      bool
	}{
		{"Sam Trainee", false, true},
		{"Siân O'Brien-Ng", false, true},
		{"Sam\r\nBcc: x", false, false},
		{"Sam\x00", false, false},
		{"a\u2028b", false, false},
		{"\xff", false, false},
		{"line one\r\nline two\n\tthree", true, true},
		{"bell\a", true, false},
		{"esc\x1b[2J", true, false},
	} {
		if got := Typed(c.s, c.multiline); got != c.want {
			t.Errorf("Typed(%q, %v) = %v, want %v", c.s, c.multiline, got, c.want)
		}
	}
}
