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
	ctx, cancelT := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(cancelT)
	return ctx
}

type journey struct {
	t     *testing.T
	stack *stacktest.Stack
	shots string
	n     int
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

// screenshot keeps the whole page as an artefact, numbered in journey order.
func (j *journey) screenshot(ctx context.Context, name string) {
	j.t.Helper()
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
// the link from the email the service sent.
func (j *journey) signIn(ctx context.Context, email string) {
	j.t.Helper()
	base := j.stack.API.URL
	j.run(ctx, "ask for a sign-in link",
		chromedp.Navigate(base+"/sign-in"),
		chromedp.WaitVisible(chromedp.ID("email")),
		chromedp.SendKeys(chromedp.ID("email"), email),
		chromedp.Click(chromedp.CSS(`form[action="/sign-in"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.Search(`//h1[contains(., "Check your email")]`)),
	)
	link := j.emailedLink(email)
	j.run(ctx, "follow the sign-in link",
		chromedp.Navigate(link),
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

// TestJourneyInChromium is the journey, in a real browser.
func TestJourneyInChromium(t *testing.T) {
	b := browser(t)
	s := stacktest.Start(t, workflows.Timings{ReviewReminder: time.Hour, OfferTTL: time.Hour, WaitlistRecheck: time.Hour})
	admin := stacktest.AdminToken
	s.Do("POST", "/v1/committee-members", admin, map[string]any{"name": "Cleo Chair", "email": "chair@example.org", "role": "chair"})
	s.Do("POST", "/v1/therapists", admin, map[string]any{"name": "Dr Theo Therapist", "email": "theo@example.org", "hcpc_number": "PYL42", "capacity": 1})
	j := &journey{t: t, stack: s, shots: t.ArtifactDir()}
	base := s.API.URL

	// The trainee reads the rules, makes mistakes, then refers themselves.
	trainee := person(t, b)
	j.run(trainee, "open the start page", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("h1")))
	j.screenshot(trainee, "home")
	j.run(trainee, "open the form",
		chromedp.Click(chromedp.CSS(`main a[href="/refer"]`)),
		chromedp.WaitVisible(chromedp.ID("name")),
	)
	j.screenshot(trainee, "refer")
	j.run(trainee, "send the form half filled in",
		chromedp.SendKeys(chromedp.ID("name"), "Alex Trainee"),
		chromedp.SendKeys(chromedp.ID("email"), "alex.trainee@nhs.net"),
		chromedp.Click(chromedp.CSS(`form[action="/refer"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(".error-summary")),
	)
	if got := j.text(trainee, ".error-summary"); !strings.Contains(got, "Tell us what you would like to bring to therapy") || !strings.Contains(got, "Tick the box") ||
		!strings.Contains(got, "Enter the month and year your training started") {
		t.Errorf("error summary = %q", got)
	}
	kept, err := chromedp.Run(trainee, chromedp.Value(chromedp.ID("name")))
	if err != nil {
		j.fail(trainee, "read the kept name", err)
	}
	if kept != "Alex Trainee" {
		t.Errorf("the form lost what was typed: name = %q", kept)
	}
	j.screenshot(trainee, "refer-errors")
	start := stacktest.TrainingStart(s.Now())
	j.run(trainee, "finish the form",
		chromedp.SetValue(chromedp.ID("programme"), "clinical"),
		chromedp.SetValue(chromedp.ID("employer"), "RXT"),
		chromedp.SendKeys(chromedp.ID("training_start"), strconv.Itoa(int(start.Month))),
		chromedp.SendKeys(chromedp.ID("training_start-year"), strconv.Itoa(start.Year)),
		chromedp.SendKeys(chromedp.ID("concerns"), "Finding the placement hard."),
		chromedp.Click(chromedp.ID("at_risk-no")),
		chromedp.Click(chromedp.ID("consent")),
		chromedp.Click(chromedp.CSS(`form[action="/refer"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.Search(`//h1[contains(., "Check your answers")]`)),
	)
	if got := j.text(trainee, "main"); !strings.Contains(got, "Finding the placement hard.") || !strings.Contains(got, "Alex Trainee") {
		t.Errorf("check your answers = %q", got)
	}
	j.screenshot(trainee, "refer-check")
	// Change goes back to the form at the answer, as filled in.
	j.run(trainee, "change an answer",
		chromedp.Click(chromedp.CSS(`button[formaction="/refer#concerns"]`)),
		chromedp.WaitVisible(chromedp.ID("concerns")),
		chromedp.SendKeys(chromedp.ID("concerns"), " And sleeping badly."),
		chromedp.Click(chromedp.CSS(`form[action="/refer"] button[type=submit]`)),
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
	j.screenshot(trainee, "refer-sent")
	// The trainee opens the link emailed to them and confirms.
	code, err := s.NextConfirmCode("alex.trainee@nhs.net")
	if err != nil {
		t.Fatal(err)
	}
	j.run(trainee, "open the link to confirm",
		chromedp.Navigate(base+"/confirm/"+code),
		chromedp.WaitVisible(chromedp.CSS(`main form button[type=submit]`)),
	)
	j.screenshot(trainee, "confirm")
	j.run(trainee, "confirm",
		chromedp.Click(chromedp.CSS(`main form button[type=submit]`)),
		chromedp.WaitVisible(chromedp.ID("status")),
	)
	j.waitText(trainee, base+"/my-referral", "#status", "waiting for the committee")
	j.screenshot(trainee, "my-referral")

	// A committee member signs in from their email and approves.
	committee := person(t, b)
	j.signIn(committee, "chair@example.org")
	j.waitText(committee, base+"/committee", "#awaiting-title", "(1)")
	j.screenshot(committee, "committee")
	j.run(committee, "open the referral",
		chromedp.Click(chromedp.CSS(`a[href^="/committee/referrals/"]`)),
		chromedp.WaitVisible(chromedp.Search(`//h1[contains(., "Alex Trainee")]`)),
	)
	j.screenshot(committee, "review")
	j.run(committee, "approve",
		chromedp.Click(chromedp.Search(`//button[normalize-space(.)="Approve"]`)),
		chromedp.WaitVisible(chromedp.Search(`//*[contains(@class, "notice")][contains(., "Referral approved.")]`)),
	)

	// The therapist signs in and accepts the offer.
	therapist := person(t, b)
	j.signIn(therapist, "theo@example.org")
	j.waitText(therapist, base+"/therapist", "#offers-title", "(1)")
	if body := j.text(therapist, "main"); strings.Contains(body, "Alex Trainee") {
		t.Error("the therapist sees the trainee's name before accepting")
	}
	j.screenshot(therapist, "therapist-offer")
	j.run(therapist, "accept",
		chromedp.Click(chromedp.CSS(`form[action$="/accept"] button`)),
		chromedp.WaitVisible(chromedp.Search(`//*[contains(@class, "notice")][contains(., "you have accepted")]`)),
	)
	if got := j.text(therapist, "#clients-title"); !strings.Contains(got, "(1)") {
		t.Errorf("clients heading = %q", got)
	}
	j.screenshot(therapist, "therapist-client")

	// The trainee sees "Matched".
	j.waitText(trainee, base+"/my-referral", "#status", "Matched")
	if got := j.text(trainee, "#therapist"); got != "Dr Theo Therapist" {
		t.Errorf("the matched trainee's therapist = %q", got)
	}
	j.screenshot(trainee, "matched")
	t.Logf("screenshots in %s", j.shots)
}
