package stacktest

import (
	"os"
	"testing"
	"time"

	"github.com/wmtna/referrals/internal/referral"
)

// ClockEnv names the day the integration tests run as of:
// WMTNA_TEST_CLOCK=2028-09-01 starts every stack (and faulttest's) with its
// service clock on that day (ShiftedClock). Unset, the clock is the real one.
const ClockEnv = "WMTNA_TEST_CLOCK"

// ShiftedClock is a clock that reads noon (UK time) on day when it is made,
// and from then on moves with real time: submissions keep their order and
// grace periods pass, and the day does not change for twelve hours.
func ShiftedClock(day referral.Date) func() time.Time {
	began := time.Now()
	at := time.Date(day.Year, day.Month, day.Day, 12, 0, 0, 0, referral.London)
	return func() time.Time { return at.Add(time.Since(began)) }
}

// EnvClock is the clock a test's service runs on: ShiftedClock to the day
// in WMTNA_TEST_CLOCK, or time.Now when it is unset. A day that is not
// YYYY-MM-DD fails the test.
func EnvClock(t testing.TB) func() time.Time {
	t.Helper()
	v := os.Getenv(ClockEnv)
	if v == "" {
		return time.Now
	}
	day, err := referral.ParseDate(v)
	if err != nil {
		t.Fatalf("%s: %v", ClockEnv, err)
	}
	return ShiftedClock(day)
}

// TrainingStart is a training start that is eligible on now's day and for
// long after: the first of the month fourteen months before it, so that
// the cut-off (referral.Cutoff) is ten to twenty-two months after now.
// Tests derive their trainees' dates from it rather than write a year
// that one day passes its cut-off.
func TrainingStart(now time.Time) referral.Date {
	d := referral.DateOf(now).AddMonths(-14)
	return referral.Date{Year: d.Year, Month: d.Month, Day: 1}
}

// TrainingMonth is TrainingStart as the API takes it, YYYY-MM.
func TrainingMonth(now time.Time) string {
	return TrainingStart(now).String()[:7]
}
