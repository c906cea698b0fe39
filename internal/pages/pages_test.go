//go:build !fuzzing

package pages_test

import (
	"context"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wmtna/referrals/internal/referral"
	"github.com/wmtna/referrals/internal/stacktest"
	"github.com/wmtna/referrals/workflows"
)

// browser is a cookie-keeping HTTP client that does not follow redirects,
// so a test sees each step of a page flow.
type browser struct {
	t    *testing.T
	base string
	hc   *http.Client
}

var testLogs interface{ String() string }

func newBrowser(t *testing.T, base string) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, base: base, hc: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type page struct {
	Status   int
	Location string
	Body     string
	Header   http.Header
}

func (b *browser) do(method, path string, form url.Values, headers ...string) page {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.base+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Accept", "text/html")
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := b.hc.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return page{Status: resp.StatusCode, Location: resp.Header.Get("Location"), Body: string(raw), Header: resp.Header}
}

func (b *browser) get(path string) page { b.t.Helper(); return b.do("GET", path, nil) }
func (b *browser) post(path string, form url.Values) page {
	b.t.Helper()
	return b.do("POST", path, form)
}

var csrfPattern = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf returns the CSRF token of the first form on the page.
func (p page) csrf(t *testing.T) string {
	t.Helper()
	m := csrfPattern.FindStringSubmatch(p.Body)
	if m == nil {
		t.Fatalf("no CSRF token on the page:\n%s", p.Body)
	}
	return m[1]
}

func (p page) want(t *testing.T, status int, contains ...string) {
	t.Helper()
	if p.Status != status {
		if testLogs != nil {
			t.Log(testLogs.String())
		}
		t.Fatalf("status %d, want %d; body:\n%s", p.Status, status, p.Body)
	}
	for _, c := range contains {
		if !strings.Contains(p.Body, c) {
			t.Fatalf("page does not contain %q:\n%s", c, p.Body)
		}
	}
}

// lastSignInLink waits for the newest sign-in email to an address, as
// delivered to the stack's SMTP server, and returns its link.
func lastSignInLink(t *testing.T, s *stacktest.Stack, email string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	body, err := s.LastEmail(ctx, email, "link")
	if err != nil {
		t.Fatalf("%v\nlogs:\n%s", err, s.Logs.String())
	}
	m := regexp.MustCompile(`/sign-in/[A-Za-z0-9_-]+`).FindString(body)
	if m == "" {
		t.Fatalf("no link in the sign-in email: %s", body)
	}
	return m
}

// referForm is the form filled in as a trainee eligible on the stack's
// clock would.
func referForm(s *stacktest.Stack, email string) url.Values {
	start := stacktest.TrainingStart(s.Now())
	return url.Values{
		"key": {"form-key-" + email}, "name": {"Alex Trainee"}, "email": {email}, "programme": {"clinical"}, "employer": {"RXT"},
		"training_start-month": {strconv.Itoa(int(start.Month))}, "training_start-year": {strconv.Itoa(start.Year)},
		"concerns": {"secret-health-detail-" + email}, "at_risk": {"no"}, "consent": {"yes"}, "meeting": {"either"}, "areas": {"birmingham"},
	}
}

// sent is a filled-in form as the check-your-answers page sends it.
func sent(form url.Values) url.Values {
	form.Set("confirmed", "yes")
	return form
}

var hiddenPattern = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

// hiddenFields are the hidden fields of a page, as a browser posts them.
func hiddenFields(body string) url.Values {
	v := url.Values{}
	for _, m := range hiddenPattern.FindAllStringSubmatch(body, -1) {
		v.Add(m[1], html.UnescapeString(m[2]))
	}
	return v
}

// questionFields are the hidden fields of a question page's form, not its
// Back button's.
func questionFields(body string) url.Values {
	if i := strings.Index(body, `<input type="hidden" name="step"`); i >= 0 {
		body = body[i:]
	}
	return hiddenFields(body)
}

// answer answers a question page of the referral as a browser would:
// its form's hidden fields, with the answers set.
func (b *browser) answer(p page, set map[string]string) page {
	b.t.Helper()
	v := questionFields(p.Body)
	for k, x := range set {
		v.Set(k, x)
	}
	return b.post("/refer", v)
}

// TestPagesJourney walks the whole journey through the pages, as a browser
// without JavaScript would: a trainee refers themselves, a committee member
// signs in by emailed link and approves, a therapist signs in and accepts,
// and the trainee sees "Matched".
func TestPagesJourney(t *testing.T) {
	s := stacktest.Start(t, workflows.Timings{ReviewReminder: time.Hour, OfferTTL: time.Hour, WaitlistRecheck: time.Hour})
	admin := stacktest.AdminToken
	testLogs = s.Logs
	s.Do("POST", "/v1/committee-members", admin, map[string]any{"name": "Chair", "email": "chair@example.org", "role": "chair"})
	s.Do("POST", "/v1/therapists", admin, map[string]any{"name": "Dr Free", "email": "free@example.org", "hcpc_number": "PYL7", "capacity": 1})

	trainee := newBrowser(t, s.API.URL)
	trainee.get("/").want(t, 200, "Refer yourself", "3 months before you are due to qualify", "cannot promise you a therapist", "116 123")
	// The questions that decide whether the network is for them come
	// first, one a page; nothing about their concerns is asked yet.
	form := trainee.get("/refer")
	form.want(t, 200, "<title>Which psychology training programme are you on?", `<legend><h1>`, `id="programme" name="programme" type="radio" value="clinical"`, "None of these", `<a class="back" href="/">Back</a>`)
	if strings.Contains(form.Body, `name="concerns"`) || strings.Contains(form.Body, "Who the network is for") {
		t.Error("the first question page asks for the concerns, or repeats the rules")
	}
	if csp := form.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'self'") || strings.Contains(csp, "script-src") {
		t.Errorf("page CSP = %q", csp)
	}
	answer := trainee.answer
	employer := answer(form, map[string]string{"programme": "clinical"})
	employer.want(t, 200, "<title>Who do you work for during your training?", `<option value="not-listed"`, `name="programme" value="clinical"`, `name="show" value="programme">Back</button>`)
	// Employers are listed by name, not by ODS code (RBK is Walsall).
	if b, w := strings.Index(employer.Body, ">Birmingham and Solihull Mental Health"), strings.Index(employer.Body, ">Walsall Healthcare"); b < 0 || w < 0 || b > w {
		t.Errorf("the employers are not in order of name: Birmingham at %d, Walsall at %d", b, w)
	}
	answer(employer, nil).want(t, 422, "<title>Error: Who do you work for", `href="#employer"`, "Choose your employer, or choose that it is not in the list")
	started := answer(employer, map[string]string{"employer": "RXT"})
	started.want(t, 200, "<title>When did your training start?", `name="training_start-month"`)
	first := stacktest.TrainingStart(s.Now())
	qualifyPage := answer(started, map[string]string{"training_start-month": strconv.Itoa(int(first.Month)), "training_start-year": strconv.Itoa(first.Year)})
	qualifyPage.want(t, 200, "<title>When do you expect to qualify?", "extended or part-time", referral.Cutoff(first, nil).Start().Format("2 January 2006"))
	// Then the rest, a page each.
	about := answer(qualifyPage, nil)
	about.want(t, 200, "<title>Your name and email address", `<label for="name">`, `name="employer" value="RXT"`, `name="show" value="qualify">Back</button>`)
	concerns := answer(about, map[string]string{"name": "Alex Trainee", "email": "alex@nhs.net"})
	concerns.want(t, 200, "<title>What would you like to bring to therapy?", `<h1><label for="concerns">`, "Are you currently at risk", `id="consent"`)
	answer(concerns, nil).want(t, 422, `href="#concerns"`, `href="#at_risk"`, `href="#consent"`)
	meeting := answer(concerns, map[string]string{"concerns": "c", "at_risk": "no", "consent": "yes"})
	meeting.want(t, 200, "<title>How can you meet a therapist?", `<legend><h1>How can you meet a therapist?</h1></legend>`, `value="birmingham"`)
	answer(meeting, nil).want(t, 200, "<title>Check your answers before sending your referral")
	// Back shows the page before, as answered.
	back := questionFields(about.Body)
	back.Set("show", "qualify")
	trainee.post("/refer", back).want(t, 200, "<title>When do you expect to qualify?")

	// Every problem beside its field, on the first page with one, and
	// what was typed kept.
	bad := referForm(s, "not-an-address")
	bad.Del("concerns")
	bad.Del("at_risk")
	bad.Del("consent")
	trainee.post("/refer", bad).want(t, 422, "<title>Error: Your name and email address", "There is a problem", `href="#email"`,
		`id="email-error"`, `value="not-an-address"`, `value="Alex Trainee"`)
	bad.Set("email", "alex@nhs.net")
	trainee.post("/refer", bad).want(t, 422, "<title>Error: What would you like to bring to therapy?", `href="#concerns"`, `href="#at_risk"`, `href="#consent"`,
		`name="areas" value="birmingham"`)
	// An address must have a domain with a dot in it.
	noDot := referForm(s, "jo@nhs")
	trainee.post("/refer", noDot).want(t, 422, `href="#email"`, "Email must have a full domain after the @, with a dot in it, such as name@nhs.net")
	// The dates are GOV.UK date inputs: the error names the part at fault,
	// links to the group's first field and outlines only that part.
	next := referral.DateOf(s.Now()).AddMonths(1)
	for _, tc := range []struct {
		name   string
		set    map[string]string
		want   string
		field  string
		wrong  []string // ids marked invalid
		intact []string // ids not
	}{
		{"no start", map[string]string{"training_start-month": "", "training_start-year": ""},
			"Enter the month and year your training started", "training_start", []string{"training_start", "training_start-year"}, nil},
		{"start without a year", map[string]string{"training_start-year": ""},
			"The month your training started must include a year", "training_start", []string{"training_start-year"}, []string{"training_start"}},
		{"month 13", map[string]string{"training_start-month": "13"},
			"The month your training started must be a real date: the month must be a number from 1 to 12", "training_start", []string{"training_start"}, []string{"training_start-year"}},
		{"two-digit year", map[string]string{"training_start-year": "25"},
			"The month your training started must be a real date: the year must have 4 numbers", "training_start", []string{"training_start-year"}, []string{"training_start"}},
		{"a start next month", map[string]string{"training_start-month": strconv.Itoa(int(next.Month)), "training_start-year": strconv.Itoa(next.Year)},
			"The month your training started must not be after this month: you can refer yourself once your training has started", "training_start",
			[]string{"training_start", "training_start-year"}, nil},
		{"qualifying on 31 June", map[string]string{"expected_qualification-day": "31", "expected_qualification-month": "6", "expected_qualification-year": "2030"},
			"The date you expect to qualify must be a real date: the day must be a number from 1 to 30 in June", "expected_qualification",
			[]string{"expected_qualification"}, []string{"expected_qualification-month", "expected_qualification-year"}},
		{"qualifying without a day or month", map[string]string{"expected_qualification-year": "2030"},
			"The date you expect to qualify must include a day and a month", "expected_qualification",
			[]string{"expected_qualification", "expected_qualification-month"}, []string{"expected_qualification-year"}},
		{"qualifying before the start", map[string]string{"expected_qualification-day": "1", "expected_qualification-month": "1", "expected_qualification-year": "2001"},
			"Your expected qualification date must be after the month your training started", "expected_qualification",
			[]string{"expected_qualification", "expected_qualification-month", "expected_qualification-year"}, nil},
	} {
		form := referForm(s, "dates@nhs.net")
		for k, v := range tc.set {
			form.Set(k, v)
		}
		got := trainee.post("/refer", form)
		got.want(t, 422, "<title>Error: When", tc.want, `href="#`+tc.field+`"`)
		for _, id := range tc.wrong {
			if !regexp.MustCompile(`id="` + id + `"[^>]*aria-invalid="true"`).MatchString(got.Body) {
				t.Errorf("%s: %s is not marked invalid", tc.name, id)
			}
		}
		for _, id := range tc.intact {
			if regexp.MustCompile(`id="` + id + `"[^>]*aria-invalid="true"`).MatchString(got.Body) {
				t.Errorf("%s: %s is marked invalid", tc.name, id)
			}
		}
	}

	// A good referral is first shown back to check, every answer with a
	// Change button; nothing is sent yet.
	good := referForm(s, "alex@nhs.net")
	start := stacktest.TrainingStart(s.Now())
	qualify := referral.Date{Year: start.Year + 3, Month: start.Month, Day: 1}
	good.Set("expected_qualification-day", "1")
	good.Set("expected_qualification-month", strconv.Itoa(int(qualify.Month)))
	good.Set("expected_qualification-year", strconv.Itoa(qualify.Year))
	good.Set("concerns", "secret-health-detail-alex@nhs.net\r\nOn a second line, with <angle brackets> & \"quotes\"")
	good.Set("same_discipline", "yes")
	check := trainee.post("/refer", good)
	check.want(t, 200, "<title>Check your answers before sending your referral", "Alex Trainee", "alex@nhs.net", "Clinical psychology",
		start.Start().Format("January 2006"), qualify.Start().Format("2 January 2006"), "secret-health-detail-alex@nhs.net",
		"Online, or in person in Birmingham", "Preferred, if one is free", `name="show" value="concerns" formaction="/refer#concerns"`,
		`name="show" value="training-start" formaction="/refer#training_start"`,
		`name="confirmed" value="yes"`, "Send referral")
	quiet, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	if _, err := s.LastEmail(quiet, "alex@nhs.net", ""); err == nil {
		t.Error("the check-your-answers page emailed the trainee")
	}
	cancel()
	answers := hiddenFields(check.Body)
	for _, k := range []string{"key", "name", "email", "programme", "employer", "training_start-month", "training_start-year",
		"expected_qualification-day", "expected_qualification-month", "expected_qualification-year", "concerns", "at_risk", "meeting", "areas", "same_discipline", "consent"} {
		if got, want := strings.ReplaceAll(answers.Get(k), "\r\n", "\n"), strings.ReplaceAll(good.Get(k), "\r\n", "\n"); got != want {
			t.Errorf("the check page carries %s = %q, want %q", k, got, want)
		}
	}
	// Change goes back to the question page, as filled in, and once
	// answered back to check your answers.
	answers.Set("show", "concerns")
	trainee.post("/refer", answers).want(t, 200, "<title>What would you like to bring to therapy?", "On a second line, with &lt;angle brackets&gt;")
	answers.Set("show", "meeting")
	trainee.post("/refer", answers).want(t, 200, "<title>How can you meet a therapist?", `id="same_discipline" name="same_discipline" type="checkbox" value="yes" checked`)
	answers.Set("show", "about")
	trainee.post("/refer", answers).want(t, 200, "<title>Your name and email address", `value="Alex Trainee"`)
	answers.Set("show", "qualify")
	changing := trainee.post("/refer", answers)
	changing.want(t, 200, "<title>When do you expect to qualify?", `name="expected_qualification-day" type="text" inputmode="numeric" maxlength="2" value="1"`, `name="return" value="check"`)
	answer(changing, map[string]string{"step": "qualify"}).want(t, 200, "<title>Check your answers before sending your referral")
	answers.Del("show")

	// Sent, it is sent on once the trainee confirms their address from
	// the emailed link; then they are signed in.
	answers.Set("confirmed", "yes")
	done := trainee.post("/refer", answers)
	if done.Status != http.StatusSeeOther || done.Location != "/refer/sent" {
		t.Fatalf("refer: %d %q\n%s", done.Status, done.Location, done.Body)
	}
	trainee.get("/refer/sent").want(t, 200, "Check your email", "Confirm", "we show you your referral's reference number")
	confirm := "/confirm/" + s.MustConfirmCode("alex@nhs.net")
	trainee.get(confirm).want(t, 200, "Confirm and send my referral")
	confirmed := trainee.post(confirm, url.Values{})
	if confirmed.Status != http.StatusSeeOther || confirmed.Location != "/my-referral?welcome=1" {
		t.Fatalf("confirm: %d %q\n%s", confirmed.Status, confirmed.Location, confirmed.Body)
	}
	cookie := confirmed.Header.Get("Set-Cookie")
	for _, attr := range []string{"HttpOnly", "SameSite=Lax", "Path=/"} {
		if !strings.Contains(cookie, attr) {
			t.Errorf("session cookie %q lacks %s", cookie, attr)
		}
	}
	// The timeline runs newest first, and its numbers count down with it.
	trainee.get("/my-referral?welcome=1").want(t, 200, "your referral is sent", "Your reference is", "Withdraw my referral", `<ol class="timeline" reversed>`)
	// The link works once; using it again signs nobody in.
	fresh := newBrowser(t, s.API.URL)
	fresh.post(confirm, url.Values{}).want(t, 200, "already sent", `href="/sign-in"`)
	fresh.get("/my-referral").want(t, 303)
	fresh.post("/confirm/not-a-real-link", url.Values{}).want(t, http.StatusGone, "That link has expired")

	// Someone else refers the same address: the form answers as for any
	// other address, and the owner is told by email.
	other := newBrowser(t, s.API.URL)
	dup := referForm(s, "alex@nhs.net")
	dup.Set("key", "another-person's-form")
	dup.Set("confirmed", "yes")
	again := other.post("/refer", dup)
	newcomer := other.post("/refer", sent(referForm(s, "someone.new@nhs.net")))
	if again.Status != newcomer.Status || again.Location != newcomer.Location || again.Body != newcomer.Body {
		t.Errorf("an address with an open referral: %d %q; a new one: %d %q: want the same", again.Status, again.Location, newcomer.Status, newcomer.Location)
	}
	if _, err := s.LastEmail(context.Background(), "alex@nhs.net", "You already have an open referral"); err != nil {
		t.Error(err)
	}

	// The committee member signs in by emailed link; the link works once.
	committee := newBrowser(t, s.API.URL)
	committee.get("/committee").want(t, 303)
	committee.post("/sign-in", url.Values{"email": {"Chair@Example.org"}}).want(t, 200, "Check your email")
	link := lastSignInLink(t, s, "Chair@Example.org")
	committee.get(link).want(t, 200, "Continue")
	if p := committee.post(link, url.Values{}); p.Status != 303 || p.Location != "/committee" {
		t.Fatalf("sign in: %d %q", p.Status, p.Location)
	}
	newBrowser(t, s.API.URL).post(link, url.Values{}).want(t, http.StatusGone, "expired or has already been used")

	var id string
	deadline := time.Now().Add(20 * time.Second)
	for id == "" {
		dash := committee.get("/committee")
		dash.want(t, 200, "Waiting for review", "Therapist register", "Dr Free")
		if m := regexp.MustCompile(`/committee/referrals/([0-9a-f-]{36})`).FindStringSubmatch(dash.Body); m != nil {
			id = m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("the referral never reached the committee page:\n%s", dash.Body)
		} else {
			time.Sleep(50 * time.Millisecond)
		}
	}
	review := committee.get("/committee/referrals/" + id)
	review.want(t, 200, "Alex Trainee", "secret-health-detail-alex@nhs.net", "Approve", "Decline")
	// A form without its CSRF token, and one posted from another site, are refused.
	committee.post("/committee/referrals/"+id+"/review", url.Values{"decision": {"approve"}}).want(t, 403)
	committee.do("POST", "/committee/referrals/"+id+"/review", url.Values{"decision": {"approve"}, "csrf": {review.csrf(t)}},
		"Sec-Fetch-Site", "cross-site").want(t, 403)
	// Declining needs a reason, shown beside its field.
	committee.post("/committee/referrals/"+id+"/review", url.Values{"decision": {"decline"}, "csrf": {review.csrf(t)}, "key": {"k1"}}).
		want(t, 422, `href="#reason"`, "A reason is required to decline")
	// Approving asks first: the review page's button opens the question,
	// whose own button approves.
	ask := committee.get("/committee/referrals/" + id + "/approve")
	ask.want(t, 200, "Are you sure you want to approve this referral?", "offered to a therapist or put on the waiting list",
		`name="confirmed" value="yes"`, `href="/committee/referrals/`+id+`">Cancel</a>`)
	approved := committee.post("/committee/referrals/"+id+"/review", url.Values{"decision": {"approve"}, "confirmed": {"yes"}, "csrf": {review.csrf(t)}, "key": {"k2"}})
	if approved.Status != 303 {
		t.Fatalf("approve: %d\n%s", approved.Status, approved.Body)
	}
	committee.get(approved.Location).want(t, 200, "Referral approved.")

	// Until a therapist accepts, the trainee is told no therapist's name.
	if p := trainee.get("/my-referral"); strings.Contains(p.Body, "Dr Free") || strings.Contains(p.Body, `id="therapist"`) {
		t.Error("the trainee is told a therapist's name before they accept")
	}
	// The therapist signs in and accepts; before accepting they see no name.
	therapist := newBrowser(t, s.API.URL)
	therapist.post("/sign-in", url.Values{"email": {"free@example.org"}}).want(t, 200)
	if p := therapist.post(lastSignInLink(t, s, "free@example.org"), url.Values{}); p.Location != "/therapist" {
		t.Fatalf("therapist sign in went to %q", p.Location)
	}
	offers := therapist.get("/therapist")
	offers.want(t, 200, "Offers waiting for your answer (1)", "Accept")
	if strings.Contains(offers.Body, "Alex Trainee") {
		t.Error("the therapist sees the trainee's name before accepting")
	}
	// The committee sees to whom it is offered, and until when.
	committee.get("/committee/referrals/"+id).want(t, 200, `<dd id="therapist">Dr Free: offered, waiting for their answer until `)
	offerID := regexp.MustCompile(`/therapist/offers/([0-9a-f-]{36})/accept`).FindStringSubmatch(offers.Body)[1]
	accepted := therapist.post("/therapist/offers/"+offerID+"/accept", url.Values{"csrf": {offers.csrf(t)}})
	if accepted.Status != 303 {
		t.Fatalf("accept: %d\n%s", accepted.Status, accepted.Body)
	}
	therapist.get(accepted.Location).want(t, 200, "you have accepted", "Your current clients (1)", "Alex Trainee")
	committee.get("/committee/referrals/"+id).want(t, 200, `<dd id="therapist">Dr Free: accepted</dd>`)

	// Matched, the trainee is told who their therapist is, and is no
	// longer offered to withdraw (the workflow would refuse it).
	matched := trainee.get("/my-referral")
	matched.want(t, 200, "Matched: a therapist has accepted your referral", `<dd id="therapist">Dr Free</dd>`, "Tell your therapist")
	if strings.Contains(matched.Body, "/my-referral/withdraw") {
		t.Error("a matched referral still offers to withdraw")
	}
	if p := trainee.get("/my-referral/withdraw"); p.Status != 303 || p.Location != "/my-referral" {
		t.Errorf("the withdraw page of a matched referral: %d %q", p.Status, p.Location)
	}

	// Each person's pages are theirs alone.
	therapist.get("/committee").want(t, 403)
	therapist.get("/my-referral").want(t, 403)
	trainee.get("/therapist").want(t, 403)
	trainee.get("/committee/referrals/"+id).want(t, 403)
	committee.get("/therapist").want(t, 403)

	// Signing out ends the session on the server too.
	home := trainee.get("/my-referral")
	out := trainee.post("/sign-out", url.Values{"csrf": {home.csrf(t)}})
	out.want(t, 303)
	trainee.get(out.Location).want(t, 200, "You are signed out.")
	trainee.get("/my-referral").want(t, 303)

	// No health detail in the logs.
	if strings.Contains(s.Logs.String(), "secret-health-detail") {
		t.Error("the logs hold a trainee's concerns")
	}
}

// TestSignInDoesNotRevealAccounts answers the same for a known and an
// unknown address.
func TestSignInDoesNotRevealAccounts(t *testing.T) {
	s := stacktest.Start(t, workflows.Timings{ReviewReminder: time.Hour, OfferTTL: time.Hour, WaitlistRecheck: time.Hour})
	s.Do("POST", "/v1/committee-members", stacktest.AdminToken, map[string]any{"name": "Sec", "email": "sec@example.org", "role": "secretary"})
	b := newBrowser(t, s.API.URL)
	known := b.post("/sign-in", url.Values{"email": {"sec@example.org"}})
	unknown := b.post("/sign-in", url.Values{"email": {"nobody@example.org"}})
	known.want(t, 200)
	if known.Body != unknown.Body || known.Status != unknown.Status {
		t.Errorf("a known and an unknown address get different answers")
	}
	b.post("/sign-in", url.Values{"email": {"not an address"}}).want(t, 422, `id="email-error"`)
	b.get("/sign-in/not-a-real-link").want(t, 200, "Continue") // spends nothing
	b.post("/sign-in/not-a-real-link", url.Values{}).want(t, http.StatusGone)
	b.get("/committee/referrals/00000000-0000-4000-8000-000000000000").want(t, 303)
	b.get("/no-such-page").want(t, 404, "Page not found")
}

// TestTraineeWithdrawsFromThePage: the withdraw button asks first, then
// withdraws; a check-in answered when none was asked changes nothing.
func TestTraineeWithdrawsFromThePage(t *testing.T) {
	s := stacktest.Start(t, workflows.Timings{ReviewReminder: time.Hour, OfferTTL: time.Hour, WaitlistRecheck: time.Hour})
	trainee := newBrowser(t, s.API.URL)
	referAndConfirm(t, s, trainee, "leaving@nhs.net")
	var page page
	deadline := time.Now().Add(20 * time.Second)
	for {
		page = trainee.get("/my-referral")
		if strings.Contains(page.Body, "waiting for the committee") || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	page.want(t, 200, "waiting for the committee", `href="/my-referral/withdraw"`)

	checkIn := trainee.get("/my-referral/check-in")
	checkIn.want(t, 200, "Yes, keep my place")
	trainee.post("/my-referral/check-in", url.Values{"csrf": {checkIn.csrf(t)}}).want(t, 422, "Choose whether you still want a place")
	trainee.post("/my-referral/check-in", url.Values{"csrf": {checkIn.csrf(t)}, "still_waiting": {"yes"}}).
		want(t, 409, "We are not waiting for an answer from you")

	confirm := trainee.get("/my-referral/withdraw")
	confirm.want(t, 200, "Withdraw your referral?", "Yes, withdraw my referral", "No, keep my referral")
	done := trainee.post("/my-referral/withdraw", url.Values{"csrf": {confirm.csrf(t)}, "reason": {"found support elsewhere"}})
	if done.Status != 303 || done.Location != "/my-referral?withdrawn=1" {
		t.Fatalf("withdraw: %d %q\n%s", done.Status, done.Location, done.Body)
	}
	after := trainee.get(done.Location)
	after.want(t, 200, "Your referral is withdrawn.", "You have withdrawn your referral")
	if strings.Contains(after.Body, `href="/my-referral/withdraw"`) {
		t.Error("a withdrawn referral still offers to withdraw")
	}
	// Pressing the button again (a second tab) changes nothing and says where it stands.
	again := trainee.post("/my-referral/withdraw", url.Values{"csrf": {confirm.csrf(t)}})
	if again.Status != 303 || again.Location != "/my-referral" {
		t.Errorf("second withdraw: %d %q", again.Status, again.Location)
	}
}

// referAndConfirm refers a trainee through the form and confirms it from
// the emailed link, leaving b signed in as the trainee.
func referAndConfirm(t *testing.T, s *stacktest.Stack, b *browser, address string) {
	t.Helper()
	if p := b.post("/refer", sent(referForm(s, address))); p.Status != 303 || p.Location != "/refer/sent" {
		t.Fatalf("refer: %d %q\n%s", p.Status, p.Location, p.Body)
	}
	if p := b.post("/confirm/"+s.MustConfirmCode(address), url.Values{}); p.Status != 303 {
		t.Fatalf("confirm: %d\n%s", p.Status, p.Body)
	}
}
