package referral

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

func TestSuppressRow(t *testing.T) {
	const x = -1 // suppressed
	for _, c := range []struct {
		name   string
		counts []int64
		cells  []int64
		total  int64
	}{
		{"nothing small", []int64{5, 0, 12, 7}, []int64{5, 0, 12, 7}, 24},
		{"one small cell takes the smallest other with it", []int64{3, 9, 6, 0, 20}, []int64{x, 9, x, 0, 20}, 38},
		{"two small cells are enough", []int64{3, 2, 9, 20}, []int64{x, x, 9, 20}, 34},
		{"a small total hides the row", []int64{1, 2, 0}, []int64{x, x, 0}, x},
		{"a suppressed total needs no second cell", []int64{3, 0, 0}, []int64{x, 0, 0}, x},
		{"no other cell to hide: the rest are zero", []int64{4, 0, 0, 6}, []int64{x, 0, 0, x}, 10},
		{"all zero", []int64{0, 0}, []int64{0, 0}, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			cells, total := SuppressRow(c.counts)
			for i, want := range c.cells {
				if got := cells[i]; (want == x) != got.Suppressed || (want != x && *got.N != want) {
					t.Errorf("cell %d of %v = %+v, want %d", i, c.counts, got, want)
				}
			}
			if (c.total == x) != total.Suppressed || (c.total != x && *total.N != c.total) {
				t.Errorf("total of %v = %+v, want %d", c.counts, total, c.total)
			}
			// Whatever is published, no suppressed cell is left alone in a
			// row whose total is published.
			hidden := 0
			for _, cell := range cells {
				if cell.Suppressed {
					hidden++
				}
			}
			if total.N != nil && hidden == 1 {
				t.Errorf("%v: one suppressed cell with a published total can be worked out", c.counts)
			}
		})
	}
}

// TestPublishSuppressesAcrossTables publishes random periods and checks
// every line Publish suppresses along: no published count is 1 to 4, and no
// line (a total and the counts that add up to it) has exactly one hidden
// figure, so none equals a published total less published counts.
func TestPublishSuppressesAcrossTables(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 2026))
	small := func() int64 { // mostly small counts, where the rule bites
		if rng.IntN(3) == 0 {
			return 0
		}
		return int64(rng.IntN(9))
	}
	for run := range 500 {
		months := 1 + rng.IntN(12)
		c := ReportCounts{}
		for m := range months {
			c.Months = append(c.Months, fmt.Sprintf("2026-%02d", m+1))
		}
		c.ByMonth = make([]int64, months)
		split := func(groups int) []GroupCounts {
			out := make([]GroupCounts, groups)
			for g := range out {
				out[g] = GroupCounts{Group: fmt.Sprint("g", g), PerMonth: make([]int64, months)}
			}
			return out
		}
		c.ByProgramme, c.ByEmployer = split(1+rng.IntN(7)), split(1+rng.IntN(5))
		var total int64
		for m := range months {
			for _, g := range c.ByProgramme {
				n := small()
				g.PerMonth[m] = n
				c.ByMonth[m] += n
				// The same referrals again, by employer.
				for n > 0 {
					e := c.ByEmployer[rng.IntN(len(c.ByEmployer))]
					k := 1 + int64(rng.IntN(int(n)))
					e.PerMonth[m] += k
					n -= k
				}
			}
			total += c.ByMonth[m]
		}
		for i := 0; total > 0; i++ {
			k := 1 + int64(rng.IntN(int(total)))
			c.Eligibility = append(c.Eligibility, NamedCount{Name: fmt.Sprint("o", i), N: k})
			total -= k
		}
		for i := range rng.IntN(6) {
			c.Endings = append(c.Endings, EndingCounts{Status: "withdrawn", Reason: fmt.Sprint("r", i), N: small()})
		}
		rep, err := c.Publish()
		if err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		monthNames := c.Months
		var lines [][]Cell // each: members, then the total
		line := func(total Cell, members ...Cell) { lines = append(lines, append(members, total)) }
		var monthCells []Cell
		for _, m := range rep.ReferralsByMonth {
			monthCells = append(monthCells, m.Cell)
		}
		line(rep.Referrals, monthCells...)
		// table checks a month × group table given month by month.
		table := func(all []MonthCount, totals []GroupCount) {
			cells := func(m int) (out []Cell) {
				for _, c := range all {
					if c.Month == monthNames[m] {
						out = append(out, c.Cell)
					}
				}
				return out
			}
			var totalCells []Cell
			for g, gt := range totals {
				totalCells = append(totalCells, gt.Cell)
				var column []Cell
				for m := range months {
					column = append(column, cells(m)[g])
				}
				line(gt.Cell, column...)
			}
			line(rep.Referrals, totalCells...)
			for m := range months {
				line(monthCells[m], cells(m)...)
			}
		}
		var programmes, employers []MonthCount
		for _, p := range rep.ReferralsByProgramme {
			programmes = append(programmes, MonthCount{p.Month, p.Cell})
		}
		for _, e := range rep.ReferralsByEmployer {
			employers = append(employers, MonthCount{e.Month, e.Cell})
		}
		table(programmes, rep.ProgrammeTotals)
		table(employers, rep.EmployerTotals)
		var outcomes, endings []Cell
		for _, o := range rep.Eligibility {
			outcomes = append(outcomes, o.Cell)
		}
		line(rep.Referrals, outcomes...)
		for _, e := range rep.Endings {
			endings = append(endings, e.Cell)
		}
		line(rep.EndingsTotal, endings...)
		for i, l := range lines {
			hidden := 0
			for _, cell := range l {
				if cell.Suppressed {
					hidden++
				} else if n := *cell.N; n > 0 && n < MinCell {
					t.Fatalf("run %d, line %d: %d is published", run, i, n)
				}
			}
			if hidden == 1 {
				t.Fatalf("run %d, line %d: one hidden figure can be worked out from the rest: %+v", run, i, l)
			}
		}
	}
}

func TestPublishRefusesCountsThatDoNotAddUp(t *testing.T) {
	c := ReportCounts{
		Months: []string{"2026-01"}, ByMonth: []int64{7},
		ByProgramme: []GroupCounts{{Group: "clinical", PerMonth: []int64{6}}},
	}
	if _, err := c.Publish(); err == nil {
		t.Error("programmes adding up to 6 of 7 referrals were published")
	}
	c.ByProgramme[0].PerMonth[0] = 7
	c.Eligibility = []NamedCount{{Name: "eligible", N: 8}}
	if _, err := c.Publish(); err == nil {
		t.Error("eligibility outcomes adding up to 8 of 7 referrals were published")
	}
}
