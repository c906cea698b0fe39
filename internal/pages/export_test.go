package pages

// SetClosedPageSize lists n closed referrals a page until the test ends,
// so a test pages through a few rather than twenty-six.
func SetClosedPageSize(t interface{ Cleanup(func()) }, n int) {
	old := closedPageSize
	closedPageSize = n
	t.Cleanup(func() { closedPageSize = old })
}

// SetWaitlistPageSize shows n of the waiting list a page until the test
// ends.
func SetWaitlistPageSize(t interface{ Cleanup(func()) }, n int) {
	old := waitlistPageSize
	waitlistPageSize = n
	t.Cleanup(func() { waitlistPageSize = old })
}
