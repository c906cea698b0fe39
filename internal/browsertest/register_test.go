//go:build !fuzzing

package browsertest

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/wmtna/referrals/internal/referral"
	"github.com/wmtna/referrals/internal/stacktest"
	"github.com/wmtna/referrals/workflows"
)

// fits checks the page open in ctx as the phone-width test checks the
// public pages: nothing scrolls sideways, every form control has a label.
func (j *journey) fits(ctx context.Context, name string) {
	j.t.Helper()
	wide, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth`))
	if err != nil {
		j.fail(ctx, "measure "+name, err)
	}
	if wide {
		j.t.Errorf("%s scrolls sideways", name)
	}
	missing, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](unlabelled))
	if err != nil {
		j.fail(ctx, "labels on "+name, err)
	}
	if len(missing) > 0 {
		j.t.Errorf("%s has form controls without a label: %v", name, missing)
	}
}

// TestRegisterInChromium: the committee adds a therapist from its page,
// mistake first; the new therapist signs in by email and sets themselves
// away until a date. At a desktop's width and a phone's, every new page
// kept as a screenshot and, on the phone, checked for sideways scrolling.
func TestRegisterInChromium(t *testing.T) {
	b := browser(t)
	s := stacktest.Start(t, workflows.Timings{ReviewReminder: time.Hour, OfferTTL: time.Hour, WaitlistRecheck: time.Hour})
	// One committee member for each width: a second sign-in link to the
	// same address could be raced by the first email, already used.
	s.Do("POST", "/v1/committee-members", stacktest.AdminToken, map[string]any{"name": "Cleo Chair", "email": "chair@example.org", "role": "chair"})
	s.Do("POST", "/v1/committee-members", stacktest.AdminToken, map[string]any{"name": "Sol Secretary", "email": "secretary@example.org", "role": "secretary"})
	j := &journey{t: t, stack: s, shots: t.ArtifactDir()}
	base := s.API.URL
	back := referral.DateOf(s.Now().AddDate(0, 0, 21))

	for i, size := range []struct {
		name, member  string
		width, height int64
		phone         bool
	}{{"desktop", "chair@example.org", 1280, 900, false}, {"phone", "secretary@example.org", 390, 844, true}} {
		viewport := chromedp.EmulateViewport(size.width, size.height)
		if size.phone {
			viewport = chromedp.EmulateViewport(size.width, size.height, chromedp.EmulateScale(2), chromedp.EmulateMobile)
		}
		shot := func(ctx context.Context, name string) {
			if size.phone {
				j.fits(ctx, name)
			}
			j.screenshot(ctx, size.name+"-"+name)
		}
		name := fmt.Sprintf("Dr Robin Reyes %d", i+1)
		email := fmt.Sprintf("robin%d@example.org", i+1)

		committee := person(t, b)
		j.signIn(committee, size.member, nil)
		j.run(committee, "viewport", viewport)
		j.run(committee, "open the register",
			chromedp.Click(chromedp.CSS(`header nav a[href="/committee/register"]`)),
			chromedp.WaitVisible(chromedp.Search(`//h1[contains(., "Therapist register")]`)),
		)
		shot(committee, "register")
		j.run(committee, "open the form",
			chromedp.Click(chromedp.CSS(`main a[href="/committee/register/new"]`)),
			chromedp.WaitVisible(chromedp.ID("hcpc_number")),
		)
		shot(committee, "add-therapist")
		j.run(committee, "send the form with a mistake",
			chromedp.SendKeys(chromedp.ID("name"), name),
			chromedp.SendKeys(chromedp.ID("email"), email),
			chromedp.SendKeys(chromedp.ID("hcpc_number"), "PYL"),
			chromedp.Click(chromedp.ID("disciplines-counselling")),
			chromedp.Click(chromedp.ID("online")),
			chromedp.Click(chromedp.ID("in_person")),
			chromedp.Click(chromedp.ID("areas-coventry")),
			chromedp.SendKeys(chromedp.ID("capacity"), "2"),
			chromedp.Click(chromedp.ID("conflict_employers-RXT")),
			chromedp.Click(chromedp.CSS(`form[action="/committee/register/new"] button[type=submit]`)),
			chromedp.WaitVisible(chromedp.CSS(".error-summary")),
		)
		if got := j.text(committee, ".error-summary"); !strings.Contains(got, "PYL followed by digits") {
			t.Errorf("error summary = %q", got)
		}
		if got := j.text(committee, "#hcpc_number-error"); !strings.Contains(got, "PYL followed by digits") {
			t.Errorf("the HCPC number's own error = %q", got)
		}
		shot(committee, "add-therapist-error")
		j.run(committee, "follow the summary's link and correct it",
			chromedp.Click(chromedp.CSS(`.error-summary a[href="#hcpc_number"]`)),
			chromedp.SetValue(chromedp.ID("hcpc_number"), "PYL0"+strconv.Itoa(4200+i)),
			chromedp.Click(chromedp.CSS(`form[action="/committee/register/new"] button[type=submit]`)),
			chromedp.WaitVisible(chromedp.Search(`//*[contains(@class, "notice")][contains(., "is on the register")]`)),
		)
		if got := j.text(committee, "main"); !strings.Contains(got, "Online, and in person in Coventry") || !strings.Contains(got, "Counselling psychology") {
			t.Errorf("the new entry reads:\n%s", got)
		}
		shot(committee, "therapist-entry")
		entry, err := chromedp.Run(committee, chromedp.Location())
		if err != nil {
			j.fail(committee, "read the entry's address", err)
		}
		entry, _, _ = strings.Cut(entry, "?") // ?done=, for the notice
		// The entry's own pages, opened and left: changing them is the
		// page tests' business; here they are seen and audited.
		for _, pg := range []struct{ path, heading, name string }{
			{"/edit", "entry", "change-entry"},
			{"/availability", "Availability of", "therapist-availability"},
			{"/retire", "Retire", "retire"},
		} {
			j.run(committee, "open "+pg.path,
				chromedp.Navigate(entry+pg.path),
				chromedp.WaitVisible(chromedp.Search(`//h1[contains(., "`+pg.heading+`")]`)),
			)
			shot(committee, pg.name)
		}
		j.run(committee, "open the history",
			chromedp.Navigate(base+"/committee/register/history"),
			chromedp.WaitVisible(chromedp.Search(`//h1[contains(., "History of the register")]`)),
		)
		shot(committee, "register-history")

		// The new therapist signs in with an emailed link: no token is
		// handed to them.
		therapist := person(t, b)
		j.signIn(therapist, email, nil)
		j.run(therapist, "viewport", viewport)
		j.run(therapist, "open their availability",
			chromedp.Navigate(base+"/therapist"),
			chromedp.WaitVisible(chromedp.ID("standing")),
			chromedp.Click(chromedp.CSS(`#standing a[href="/therapist/availability"]`)),
			chromedp.WaitVisible(chromedp.ID("away-until")),
		)
		shot(therapist, "availability")
		j.run(therapist, "go away until a date",
			chromedp.Click(chromedp.ID("away-until")),
			chromedp.SendKeys(chromedp.ID("away_until"), strconv.Itoa(back.Day)),
			chromedp.SendKeys(chromedp.ID("away_until-month"), strconv.Itoa(int(back.Month))),
			chromedp.SendKeys(chromedp.ID("away_until-year"), strconv.Itoa(back.Year)),
			chromedp.Click(chromedp.CSS(`form[action="/therapist/availability"] button[type=submit]`)),
			chromedp.WaitVisible(chromedp.Search(`//*[contains(@class, "notice")][contains(., "Your availability is saved.")]`)),
		)
		want := "You are away until " + back.Start().Format("2 January 2006") + ": you will not be offered referrals until then."
		if got := j.text(therapist, "#standing"); !strings.Contains(got, want) {
			t.Errorf("the therapist's page says %q, want %q", got, want)
		}
		shot(therapist, "therapist-away")

		// The committee sees it on the register.
		j.waitText(committee, base+"/committee/register", "main table", "Away until "+back.Start().Format("2 January 2006"))
		shot(committee, "register-away")

		// The committee's other registers: its members, the employers and
		// the areas where people meet.
		for _, pg := range []struct{ path, heading, name string }{
			{"/committee/members", "Committee members", "committee-members"},
			{"/committee/employers", "Employers", "employers"},
			{"/committee/areas", "Areas where people meet", "areas"},
		} {
			j.run(committee, "open "+pg.path,
				chromedp.Navigate(base+pg.path),
				chromedp.WaitVisible(chromedp.Search(`//h1[contains(., "`+pg.heading+`")]`)),
			)
			shot(committee, pg.name)
		}
		// Only the Chair may change a member's office or remove them.
		if size.member == "chair@example.org" {
			j.run(committee, "open the members page", chromedp.Navigate(base+"/committee/members"), chromedp.WaitVisible(chromedp.CSS("h1")))
			for _, pg := range []struct{ link, heading, name string }{
				{`main a[href$="/office"]`, "office", "member-office"},
				{`main a[href$="/remove"]`, "Are you sure", "member-remove"},
			} {
				j.run(committee, "open "+pg.name,
					chromedp.Navigate(base+"/committee/members"),
					chromedp.Click(chromedp.CSS(pg.link)),
					chromedp.WaitVisible(chromedp.Search(`//h1[contains(., "`+pg.heading+`")]`)),
				)
				shot(committee, pg.name)
			}
		}
	}
	t.Logf("screenshots in %s", j.shots)
}
