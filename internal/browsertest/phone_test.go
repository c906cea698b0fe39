//go:build !fuzzing

package browsertest

import (
	"cmp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/wmtna/referrals/internal/stacktest"
	"github.com/wmtna/referrals/workflows"
)

// unlabelled lists the form controls a screen reader could not name: no
// <label> and no aria-label.
const unlabelled = `[...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
	.filter(e => (!e.labels || e.labels.length === 0) && !e.getAttribute('aria-label'))
	.map(e => e.name || e.id)`

// TestPublicPagesOnAPhone opens the public pages at a phone's width: no
// page scrolls sideways, every form control has a label, and the keyboard
// reaches the skip link first.
func TestPublicPagesOnAPhone(t *testing.T) {
	b := browser(t)
	s := stacktest.Start(t, workflows.Timings{ReviewReminder: time.Hour, OfferTTL: time.Hour, WaitlistRecheck: time.Hour})
	j := &journey{t: t, stack: s, shots: t.ArtifactDir()}
	phone := person(t, b)
	j.run(phone, "phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile))
	for _, path := range []string{"/", "/refer", "/sign-in"} {
		j.run(phone, "open "+path, chromedp.Navigate(s.API.URL+path), chromedp.WaitVisible(chromedp.CSS("h1")))
		wide, err := chromedp.Run(phone, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth`))
		if err != nil {
			j.fail(phone, "measure "+path, err)
		}
		if wide {
			t.Errorf("%s scrolls sideways on a phone", path)
		}
		missing, err := chromedp.Run(phone, chromedp.Evaluate[[]string](unlabelled))
		if err != nil {
			j.fail(phone, "labels on "+path, err)
		}
		if len(missing) > 0 {
			t.Errorf("%s has form controls without a label: %v", path, missing)
		}
		j.screenshot(phone, "phone-"+strings.TrimPrefix(cmp.Or(strings.TrimPrefix(path, "/"), "home"), "/"))
	}
	// Tab once: the first stop is "Skip to main content".
	j.run(phone, "tab", chromedp.KeyEvent("\t"))
	first, err := chromedp.Run(phone, chromedp.Evaluate[string](`document.activeElement.textContent`))
	if err != nil {
		j.fail(phone, "read focus", err)
	}
	if strings.TrimSpace(first) != "Skip to main content" {
		t.Errorf("the first tab stop is %q, want the skip link", first)
	}
}
