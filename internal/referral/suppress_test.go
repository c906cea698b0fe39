package referral

import "testing"

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
