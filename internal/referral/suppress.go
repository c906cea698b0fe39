package referral

// SuppressRow publishes a row of counts and its total under the
// small-number rule (see MinCell), with secondary suppression: whenever
// the total is published and exactly one cell of the row is suppressed,
// that cell could be worked out by subtraction, so the smallest other
// count that is not zero is suppressed too. A zero stays published (it
// tells nothing that a suppressed cell's value could be worked out from:
// the suppressed cells' sum is all that can be known, and that sum is at
// least MinCell once two non-zero cells are in it).
func SuppressRow(counts []int64) (cells []Cell, total Cell) {
	var sum int64
	suppressed := make([]bool, len(counts))
	hidden := 0
	for i, n := range counts {
		sum += n
		if !disclosable(n) {
			suppressed[i] = true
			hidden++
		}
	}
	total = CountCell(sum)
	if total.N != nil && hidden == 1 {
		next := -1
		for i, n := range counts {
			if !suppressed[i] && n > 0 && (next < 0 || n < counts[next]) {
				next = i
			}
		}
		if next >= 0 {
			suppressed[next] = true
		}
	}
	cells = make([]Cell, len(counts))
	for i, n := range counts {
		if suppressed[i] {
			cells[i] = Cell{Suppressed: true}
			continue
		}
		cells[i] = CountCell(n)
	}
	return cells, total
}
