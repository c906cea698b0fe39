//go:build !fuzzing

package browsertest

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/wmtna/referrals/internal/stacktest"
	"github.com/wmtna/referrals/workflows"
)

// offScreen lists the links and buttons in main that reach past the right
// edge of the window: on a phone, an action a person cannot see.
const offScreen = `[...document.querySelectorAll('main a, main button')]
	.filter(e => e.getClientRects().length > 0 && e.getBoundingClientRect().right > window.innerWidth + 1)
	.map(e => e.textContent.trim())`

// TestCommitteeListsInChromium: the committee's lists, the approval's
// question, the closed referrals and a therapist's past clients, at a
// desktop's width and a phone's. On the phone no page scrolls sideways
// and no link or button is off the screen. Each page is kept as a
// screenshot.
func TestCommitteeListsInChromium(t *testing.T) {
	b := browser(t)
	s := stacktest.Start(t, workflows.Timings{ReviewReminder: time.Hour, OfferTTL: time.Hour, WaitlistRecheck: time.Hour})
	admin := stacktest.AdminToken
	chair := s.Do("POST", "/v1/committee-members", admin, map[string]any{"name": "Cleo Chair", "email": "chair@example.org", "role": "chair"})
	s.Do("POST", "/v1/committee-members", admin, map[string]any{"name": "Sol Secretary", "email": "secretary@example.org", "role": "secretary"})
	th := s.Do("POST", "/v1/therapists", admin, map[string]any{"name": "Dr Theo Therapist", "email": "theo@example.org", "hcpc_number": "PYL42", "capacity": 1})
	refer := func(email, employer, want string) string {
		r := s.MustRefer(map[string]any{"name": "Alex Trainee", "email": email, "programme": "clinical", "employer": employer,
			"training_start": s.TrainingMonth(), "concerns": "c", "consent": true})
		s.WaitStatus(r.Str("id"), want, 10*time.Second)
		return r.Str("id")
	}
	// A past client of the therapist, one referral not eligible, and two
	// waiting for review on the same day (one per width to approve).
	past := refer("past@nhs.example", "RXT", "awaiting_review")
	offer := s.Do("POST", "/v1/referrals/"+past+"/review", chair.Str("token"), map[string]any{"decision": "approve"}).Str("offer_id")
	s.Do("POST", "/v1/offers/"+offer+"/accept", th.Str("token"), nil)
	s.WaitStatus(past, "matched", 10*time.Second)
	s.Do("POST", "/v1/referrals/"+past+"/end", th.Str("token"), nil)
	s.WaitStatus(past, "ended", 10*time.Second)
	refer("ineligible@nhs.example", "ZZZ9", "ineligible")
	refer("one@nhs.example", "RXT", "awaiting_review")
	refer("two@nhs.example", "RXT", "awaiting_review")

	j := &journey{t: t, stack: s, shots: t.ArtifactDir()}
	base := s.API.URL
	for _, size := range []struct {
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
				hidden, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](offScreen))
				if err != nil {
					j.fail(ctx, "measure the links of "+name, err)
				}
				if len(hidden) > 0 {
					t.Errorf("%s on a phone has links or buttons off the screen: %q", name, hidden)
				}
			}
			j.screenshot(ctx, size.name+"-"+name)
		}
		committee := person(t, b)
		j.signIn(committee, size.member, nil)
		j.run(committee, "viewport", viewport)
		j.run(committee, "open the committee page",
			chromedp.Navigate(base+"/committee"),
			chromedp.WaitVisible(chromedp.ID("awaiting-title")),
		)
		shot(committee, "committee")
		j.run(committee, "open a referral",
			chromedp.Click(chromedp.CSS(`td.action a[href^="/committee/referrals/"]`)),
			chromedp.WaitVisible(chromedp.ID("reference")),
		)
		shot(committee, "review")
		j.run(committee, "ask to approve",
			chromedp.Click(chromedp.Search(`//button[normalize-space(.)="Approve"]`)),
			chromedp.WaitVisible(chromedp.Search(`//h1[contains(., "Are you sure you want to approve this referral?")]`)),
		)
		shot(committee, "approve-confirm")
		j.run(committee, "approve",
			chromedp.Click(chromedp.Search(`//form[contains(@action, "/review")]//button[normalize-space(.)="Approve"]`)),
			chromedp.WaitVisible(chromedp.Search(`//*[contains(@class, "notice")][contains(., "Referral approved.")]`)),
		)
		shot(committee, "committee-waitlist")
		j.run(committee, "open the closed referrals",
			chromedp.Click(chromedp.CSS(`main a[href="/committee/closed"]`)),
			chromedp.WaitVisible(chromedp.Search(`//h1[contains(., "Closed referrals")]`)),
		)
		shot(committee, "closed")
		j.run(committee, "look for a reference that names nothing",
			chromedp.SendKeys(chromedp.ID("reference"), "not-a-reference"),
			chromedp.Click(chromedp.CSS(`form[action="/committee/find"] button[type=submit]`)),
			chromedp.WaitVisible(chromedp.CSS(".error-summary")),
		)
		shot(committee, "find-none")
		j.run(committee, "find the past client's referral",
			chromedp.SetValue(chromedp.ID("reference"), past),
			chromedp.Click(chromedp.CSS(`form[action="/committee/find"] button[type=submit]`)),
			chromedp.WaitVisible(chromedp.Search(`//dd[@id="reference"][contains(., "`+past+`")]`)),
		)
	}
	therapist := person(t, b)
	j.signIn(therapist, "theo@example.org", nil)
	for _, size := range []struct {
		name          string
		width, height int64
		phone         bool
	}{{"desktop", 1280, 900, false}, {"phone", 390, 844, true}} {
		viewport := chromedp.EmulateViewport(size.width, size.height)
		if size.phone {
			viewport = chromedp.EmulateViewport(size.width, size.height, chromedp.EmulateScale(2), chromedp.EmulateMobile)
		}
		j.run(therapist, "open the therapist's page", viewport,
			chromedp.Navigate(base+"/therapist"),
			chromedp.WaitVisible(chromedp.ID("past-title")),
		)
		if got := j.text(therapist, "#past-title"); got != "Your past clients (1)" {
			t.Errorf("past clients heading = %q", got)
		}
		if size.phone {
			j.fits(therapist, "therapist")
		}
		j.screenshot(therapist, size.name+"-therapist-past-clients")
	}
	t.Logf("screenshots in %s", j.shots)
}
