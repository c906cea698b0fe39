//go:build !fuzzing

package browsertest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/wmtna/referrals/internal/pgtest"
	"github.com/wmtna/referrals/internal/stacktest"
	"github.com/wmtna/referrals/workflows"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// chromium finds the browser, or skips (fails under WMTNA_REQUIRE_BROWSER).
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("WMTNA_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("WMTNA_REQUIRE_BROWSER") == "1" {
		t.Fatal("no Chromium found (apt-get install chromium, or set WMTNA_CHROMIUM)")
	}
	t.Skip("no Chromium found; install Debian's chromium package to run the browser tests")
	return ""
}

// browser starts headless Chromium for the test. Flags as our machines need
// them: no sandbox (tests run as root in CI), and no background traffic to
// Google's services, which a closed network refuses.
func browser(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// person opens a tab in a browser context of its own: its own cookies, as
// if on another person's device.
func person(t *testing.T, b context.Context) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	// A bound on all of a person's pages, each audited by axe-core too
	// (a second or so a page on a busy machine).
	ctx, cancelT := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(cancelT)
	return ctx
}

type journey struct {
	t     *testing.T
	stack *stacktest.Stack
	shots string
	n     int
	noAxe bool // said once that axe-core is missing
}

func (j *journey) run(ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	j.t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		j.fail(ctx, what, err)
	}
}

func (j *journey) fail(ctx context.Context, what string, err error) {
	j.t.Helper()
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	body, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
	j.t.Fatalf("%s: %v\nat %s:\n%s", what, err, loc, body)
}

// screenshot keeps the whole page as an artefact, numbered in journey
// order, and audits it (audit): every page the tests keep is checked
// against WCAG 2.2 AA at the width it was seen at.
func (j *journey) screenshot(ctx context.Context, name string) {
	j.t.Helper()
	j.audit(ctx, name)
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		j.fail(ctx, "screenshot "+name, err)
	}
	j.n++
	path := filepath.Join(j.shots, fmt.Sprintf("%02d-%s.png", j.n, name))
	if err := os.WriteFile(path, png, 0o644); err != nil {
		j.t.Fatal(err)
	}
}

// shooter keeps screenshots of pages seen at size, named after what they
// show: on a phone each is checked for sideways scrolling too.
func (j *journey) shooter(z size, prefix string) func(ctx context.Context, name string) {
	return func(ctx context.Context, name string) {
		j.t.Helper()
		if z.phone {
			j.fits(ctx, name)
		}
		j.screenshot(ctx, z.name+"-"+prefix+"-"+name)
	}
}

// text returns the visible text of the first element matching sel.
func (j *journey) text(ctx context.Context, sel string) string {
	j.t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		j.fail(ctx, "read "+sel, err)
	}
	return s
}

// waitText reloads the page until sel shows want: the workflow moves on
// its own time.
func (j *journey) waitText(ctx context.Context, url, sel, want string) {
	j.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		j.run(ctx, "open "+url, chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS(sel)))
		got := j.text(ctx, sel)
		if strings.Contains(got, want) {
			return
		}
		if time.Now().After(deadline) {
			j.t.Fatalf("%s at %s shows %q, want %q", sel, url, got, want)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// signIn asks for a sign-in link by email, as a person would, and follows
// the link from the email the service sent. A shot, when given, is taken
// of each sign-in page on the way, a first try with no address among them.
func (j *journey) signIn(ctx context.Context, email string, shot func(context.Context, string)) {
	j.t.Helper()
	audited := shot != nil
	if !audited {
		shot = func(context.Context, string) {}
	}
	base := j.stack.API.URL
	j.run(ctx, "open the sign-in page",
		chromedp.Navigate(base+"/sign-in"),
		chromedp.WaitVisible(chromedp.ID("email")),
	)
	shot(ctx, "sign-in")
	if audited {
		j.run(ctx, "ask for a link with no address",
			chromedp.Click(chromedp.CSS(`form[action="/sign-in"] button[type=submit]`)),
			chromedp.WaitVisible(chromedp.CSS(".error-summary")),
		)
		shot(ctx, "sign-in-error")
	}
	j.run(ctx, "ask for a sign-in link",
		chromedp.SendKeys(chromedp.ID("email"), email),
		chromedp.Click(chromedp.CSS(`form[action="/sign-in"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.Search(`//h1[contains(., "Check your email")]`)),
	)
	shot(ctx, "sign-in-sent")
	link := j.emailedLink(email)
	j.run(ctx, "open the sign-in link",
		chromedp.Navigate(link),
		chromedp.WaitVisible(chromedp.Search(`//button[contains(., "Continue")]`)),
	)
	shot(ctx, "sign-in-link")
	j.run(ctx, "follow the sign-in link",
		chromedp.Click(chromedp.Search(`//button[contains(., "Continue")]`)),
		chromedp.WaitVisible(chromedp.Search(`//button[contains(., "Sign out")]`)),
	)
}

var signInLink = regexp.MustCompile(`https?://\S+/sign-in/[A-Za-z0-9_-]+\S*`)

// emailedLink waits for the newest sign-in email to address and returns
// its link.
func (j *journey) emailedLink(address string) string {
	j.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	body, err := j.stack.LastEmail(ctx, address, "sign-in")
	if err != nil {
		j.t.Fatalf("sign-in email to %s: %v", address, err)
	}
	link := signInLink.FindString(body)
	if link == "" {
		j.t.Fatalf("no sign-in link in the email to %s:\n%s", address, body)
	}
	return link
}

// size is a width the pages are seen at: a desktop's and a phone's.
type size struct {
	name          string
	width, height int64
	phone         bool
}

var sizes = []size{{"desktop", 1280, 900, false}, {"phone", 390, 844, true}}

func (z size) viewport() chromedp.Action[chromedp.Void] {
	if z.phone {
		return chromedp.EmulateViewport(z.width, z.height, chromedp.EmulateScale(2), chromedp.EmulateMobile)
	}
	return chromedp.EmulateViewport(z.width, z.height)
}

// TestJourneyInChromium is the journey, in a real browser, once at
// a desktop's width and once at a phone's, each page kept as a screenshot
// and audited; on the phone each is also checked for sideways scrolling.
func TestJourneyInChromium(t *testing.T) {
	b := browser(t)
	s := stacktest.Start(t, workflows.Timings{ReviewReminder: time.Hour, OfferTTL: time.Hour, WaitlistRecheck: time.Hour})
	admin := stacktest.AdminToken
	// Each width has its own people: a second sign-in link to the same
	// address could be raced by the first email, already used.
	people := []struct{ trainee, name, member, role, therapist, therapistName, hcpc string }{
		{"alex.trainee@nhs.net", "Alex Trainee", "chair@example.org", "chair", "theo@example.org", "Dr Theo Therapist", "PYL42"},
		{"sam.trainee@nhs.net", "Sam Trainee", "secretary@example.org", "secretary", "tess@example.org", "Dr Tess Therapist", "PYL43"},
	}
	j := &journey{t: t, stack: s, shots: t.ArtifactDir()}
	base := s.API.URL

	for i, size := range sizes {
		who := people[i]
		// The therapist joins now, with one place: the earlier width's
		// therapist is full, so this referral is offered to this one.
		s.Do("POST", "/v1/committee-members", admin, map[string]any{"name": who.role + " member", "email": who.member, "role": who.role})
		s.Do("POST", "/v1/therapists", admin, map[string]any{"name": who.therapistName, "email": who.therapist, "hcpc_number": who.hcpc, "capacity": 1})
		shot := func(ctx context.Context, name string) {
			j.t.Helper()
			if size.phone {
				j.fits(ctx, name)
			}
			j.screenshot(ctx, size.name+"-"+name)
		}

		// The trainee reads the rules, makes mistakes, then refers themselves.
		trainee := person(t, b)
		j.run(trainee, "viewport", size.viewport())
		j.run(trainee, "open the start page", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("h1")))
		shot(trainee, "home")
		j.run(trainee, "open a page that is not there", chromedp.Navigate(base+"/no-such-page"), chromedp.WaitVisible(chromedp.CSS("h1")))
		shot(trainee, "not-found")
		// The questions that decide whether the network is for them come
		// first, one a page.
		cont := chromedp.Click(chromedp.CSS(`main form[action="/refer"] button.button[type=submit]`))
		j.run(trainee, "open the first question",
			chromedp.Navigate(base+"/"),
			chromedp.Click(chromedp.CSS(`main a[href="/refer"]`)),
			chromedp.WaitVisible(chromedp.ID("programme")),
		)
		shot(trainee, "refer-programme")
		j.run(trainee, "answer none of these", chromedp.Click(chromedp.ID("programme-none")), cont,
			chromedp.WaitVisible(chromedp.Search(`//h1[contains(., "You cannot refer yourself")]`)))
		if got := j.text(trainee, "main"); !strings.Contains(got, "Other support you can get") {
			t.Errorf("the not-eligible page = %q", got)
		}
		shot(trainee, "refer-ineligible")
		j.run(trainee, "change the programme", chromedp.Click(chromedp.CSS(`main button[name=show][value=programme]`)), chromedp.WaitVisible(chromedp.ID("programme")))
		j.run(trainee, "answer the programme", chromedp.Click(chromedp.ID("programme")), cont, chromedp.WaitVisible(chromedp.ID("employer")))
		j.run(trainee, "continue without an employer", cont, chromedp.WaitVisible(chromedp.CSS(".error-summary")))
		if got := j.text(trainee, ".error-summary"); !strings.Contains(got, "Choose your employer") {
			t.Errorf("error summary = %q", got)
		}
		shot(trainee, "refer-employer-error")
		j.run(trainee, "say the employer is not listed", chromedp.SetValue(chromedp.ID("employer"), "not-listed"), cont, chromedp.WaitVisible(chromedp.ID("employer_name")))
		shot(trainee, "refer-service")
		j.run(trainee, "go back and choose an employer",
			chromedp.Click(chromedp.CSS(`.back-link button.back`)),
			chromedp.WaitVisible(chromedp.ID("employer")),
			chromedp.SetValue(chromedp.ID("employer"), "RXT"), cont, chromedp.WaitVisible(chromedp.ID("training_start")),
		)
		shot(trainee, "refer-training-start")
		start := stacktest.TrainingStart(s.Now())
		j.run(trainee, "answer when training started",
			chromedp.SendKeys(chromedp.ID("training_start"), strconv.Itoa(int(start.Month))),
			chromedp.SendKeys(chromedp.ID("training_start-year"), strconv.Itoa(start.Year)),
			cont, chromedp.WaitVisible(chromedp.ID("expected_qualification")),
		)
		shot(trainee, "refer-qualify")
		j.run(trainee, "leave the qualification date blank", cont, chromedp.WaitVisible(chromedp.ID("name")))
		shot(trainee, "refer-about")
		j.run(trainee, "give a name and address",
			chromedp.SendKeys(chromedp.ID("name"), who.name),
			chromedp.SendKeys(chromedp.ID("email"), who.trainee),
			cont, chromedp.WaitVisible(chromedp.ID("concerns")),
		)
		shot(trainee, "refer")
		j.run(trainee, "continue without answering", cont, chromedp.WaitVisible(chromedp.CSS(".error-summary")))
		if got := j.text(trainee, ".error-summary"); !strings.Contains(got, "Tell us what you would like to bring to therapy") || !strings.Contains(got, "Tick the box") {
			t.Errorf("error summary = %q", got)
		}
		shot(trainee, "refer-errors")
		j.run(trainee, "say what you would like help with",
			chromedp.SendKeys(chromedp.ID("concerns"), "Finding the placement hard."),
			chromedp.Click(chromedp.ID("at_risk-no")),
			chromedp.Click(chromedp.ID("consent")),
			cont, chromedp.WaitVisible(chromedp.ID("meeting-either")),
		)
		shot(trainee, "refer-meeting")
		j.run(trainee, "say how you can meet",
			cont,
			chromedp.WaitVisible(chromedp.Search(`//h1[contains(., "Check your answers")]`)),
		)
		if got := j.text(trainee, "main"); !strings.Contains(got, "Finding the placement hard.") || !strings.Contains(got, who.name) {
			t.Errorf("check your answers = %q", got)
		}
		shot(trainee, "refer-check")
		// Change goes back to the form at the answer, as filled in.
		j.run(trainee, "change an answer",
			chromedp.Click(chromedp.CSS(`button[formaction="/refer#concerns"]`)),
			chromedp.WaitVisible(chromedp.ID("concerns")),
			chromedp.SendKeys(chromedp.ID("concerns"), " And sleeping badly."),
			cont,
			chromedp.WaitVisible(chromedp.Search(`//h1[contains(., "Check your answers")]`)),
		)
		if got := j.text(trainee, "main"); !strings.Contains(got, "And sleeping badly.") || !strings.Contains(got, "Finding the placement hard.") {
			t.Errorf("the changed answer is not on the check page: %q", got)
		}
		j.run(trainee, "send the referral",
			chromedp.Click(chromedp.Search(`//button[normalize-space(.)="Send referral"]`)),
			// The check page has an h1 too: wait for the next page's panel.
			chromedp.WaitVisible(chromedp.CSS("main .panel h1")),
		)
		if got := j.text(trainee, "main .panel h1"); got != "Check your email" {
			t.Errorf("after sending the form: %q, want Check your email", got)
		}
		shot(trainee, "refer-sent")
		// The trainee opens the link emailed to them and confirms.
		code, err := s.NextConfirmCode(who.trainee)
		if err != nil {
			t.Fatal(err)
		}
		j.run(trainee, "open the link to confirm",
			chromedp.Navigate(base+"/confirm/"+code),
			chromedp.WaitVisible(chromedp.CSS(`main form button[type=submit]`)),
		)
		shot(trainee, "confirm")
		j.run(trainee, "confirm",
			chromedp.Click(chromedp.CSS(`main form button[type=submit]`)),
			chromedp.WaitVisible(chromedp.ID("status")),
		)
		j.waitText(trainee, base+"/my-referral", "#status", "waiting for the committee")
		shot(trainee, "my-referral")
		j.run(trainee, "open the withdrawal page, and go back",
			chromedp.Click(chromedp.CSS(`main a[href="/my-referral/withdraw"]`)),
			chromedp.WaitVisible(chromedp.Search(`//h1[contains(., "Withdraw your referral?")]`)),
		)
		shot(trainee, "withdraw")
		j.run(trainee, "open the check-in page",
			chromedp.Navigate(base+"/my-referral/check-in"),
			chromedp.WaitVisible(chromedp.Search(`//h1[contains(., "Do you still want a place")]`)),
		)
		shot(trainee, "check-in")

		// A committee member signs in from their email and approves.
		committee := person(t, b)
		j.run(committee, "viewport", size.viewport())
		j.signIn(committee, who.member, shot)
		j.waitText(committee, base+"/committee", "#awaiting-title", "(1)")
		shot(committee, "committee")
		j.run(committee, "open the referral",
			chromedp.Click(chromedp.CSS(`a[href^="/committee/referrals/"]`)),
			chromedp.WaitVisible(chromedp.Search(`//h1[contains(., "`+who.name+`")]`)),
		)
		shot(committee, "review")
		j.run(committee, "approve",
			chromedp.Click(chromedp.Search(`//button[normalize-space(.)="Approve"]`)),
			chromedp.WaitVisible(chromedp.Search(`//h1[contains(., "Are you sure you want to approve this referral?")]`)),
		)
		shot(committee, "approve-confirm")
		j.run(committee, "confirm the approval",
			chromedp.Click(chromedp.Search(`//form[contains(@action, "/review")]//button[normalize-space(.)="Approve"]`)),
			chromedp.WaitVisible(chromedp.Search(`//*[contains(@class, "notice")][contains(., "Referral approved.")]`)),
		)
		shot(committee, "approved")

		// The therapist signs in and accepts the offer.
		therapist := person(t, b)
		j.run(therapist, "viewport", size.viewport())
		j.signIn(therapist, who.therapist, nil)
		j.waitText(therapist, base+"/therapist", "#offers-title", "(1)")
		if body := j.text(therapist, "main"); strings.Contains(body, who.name) {
			t.Error("the therapist sees the trainee's name before accepting")
		}
		shot(therapist, "therapist-offer")
		j.run(therapist, "accept",
			chromedp.Click(chromedp.CSS(`form[action$="/accept"] button`)),
			chromedp.WaitVisible(chromedp.Search(`//*[contains(@class, "notice")][contains(., "you have accepted")]`)),
		)
		if got := j.text(therapist, "#clients-title"); !strings.Contains(got, "(1)") {
			t.Errorf("clients heading = %q", got)
		}
		shot(therapist, "therapist-client")
		j.run(therapist, "open a page that is not there", chromedp.Navigate(base+"/no-such-page"), chromedp.WaitVisible(chromedp.CSS("h1")))
		shot(therapist, "therapist-not-found")

		// The trainee sees "Matched".
		j.waitText(trainee, base+"/my-referral", "#status", "Matched")
		if got := j.text(trainee, "#therapist"); got != who.therapistName {
			t.Errorf("the matched trainee's therapist = %q, want %q", got, who.therapistName)
		}
		shot(trainee, "matched")
	}
	t.Logf("screenshots in %s", j.shots)
}
