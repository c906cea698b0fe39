package referral

// Secondary suppression. The small-number rule (MinCell) hides a count of
// 1 to 4; but where a table publishes a total beside its cells, a hidden
// cell could be worked out by subtraction when it is the only one hidden
// in its row or column. Suppress closes that gap for any set of linked
// tables: it hides further counts until no line (a total and the counts
// that add up to it) has exactly one hidden figure.
//
// This is the usual heuristic of statistical offices, not an optimum: it
// may hide more than the least needed, and across many lines a determined
// reader may still bound a hidden cell (never below 0, never above the
// total). What it guarantees is that no hidden figure equals a published
// total minus published counts.

// Line is a total and the counts that add up to it, as indexes into the
// counts given to Suppress.
type Line struct {
	Members []int
	Total   int
}

// Suppress publishes counts under the small-number rule and secondary
// suppression along lines. Whenever a line has exactly one figure hidden,
// the smallest of its other counts that is not zero is hidden too (the
// total, only when every other count is zero). A zero stays published: the
// hidden counts' sum is all a reader can know, and once two non-zero
// counts are in it, that sum tells neither.
func Suppress(counts []int64, lines []Line) []Cell {
	hidden := make([]bool, len(counts))
	for i, n := range counts {
		hidden[i] = !disclosable(n)
	}
	for changed := true; changed; {
		changed = false
		for _, l := range lines {
			alone := 0
			for _, i := range l.Members {
				if hidden[i] {
					alone++
				}
			}
			if hidden[l.Total] {
				alone++
			}
			if alone != 1 {
				continue
			}
			next := -1
			for _, i := range l.Members {
				if !hidden[i] && counts[i] > 0 && (next < 0 || counts[i] < counts[next]) {
					next = i
				}
			}
			if next < 0 && !hidden[l.Total] && counts[l.Total] > 0 {
				next = l.Total
			}
			if next >= 0 {
				hidden[next], changed = true, true
			}
		}
	}
	cells := make([]Cell, len(counts))
	for i, n := range counts {
		if hidden[i] {
			cells[i] = Cell{Suppressed: true}
			continue
		}
		cells[i] = Cell{N: &n}
	}
	return cells
}

// SuppressRow publishes one row of counts and its total (see Suppress).
func SuppressRow(counts []int64) (cells []Cell, total Cell) {
	var sum int64
	members := make([]int, len(counts))
	for i, n := range counts {
		sum += n
		members[i] = i
	}
	all := Suppress(append(append([]int64(nil), counts...), sum), []Line{{Members: members, Total: len(counts)}})
	return all[:len(counts)], all[len(counts)]
}
