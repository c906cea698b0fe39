package letters_test

import (
	"html"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/wmtna/referrals/internal/letters"
	"github.com/wmtna/referrals/internal/referral"
)

const signOff = "West Midlands Therapy Network Association"

// crisisWording is every number and service the crisis wording names.
var crisisWording = []string{"not an emergency service", "999", "A&E", "NHS 111", "option 2", "Samaritans", "116 123",
	"SHOUT", "85258", "staff support", "occupational health", "GP"}

// every letter, with its subject and the fields of Data it shows.
var every = []struct {
	name, subject string
	shows         []string // of Name, Link, Date, Reason, Lasts
}{
	{"committee.review", "A referral is waiting for review", []string{"Name", "Link"}},
	{"committee.urgent", "Same-day attention: a referral is flagged", []string{"Name", "Link"}},
	{"committee.reminder", "Reminder: a referral is waiting for review", []string{"Name", "Link"}},
	{"therapist.offered", "A referral is offered to you", []string{"Name", "Link", "Date"}},
	{"therapist.matched", "You have accepted a referral", []string{"Name", "Link"}},
	{"therapist.matching", "An offer has expired", []string{"Name"}},
	{"therapist.withdrawn", "A referral has been withdrawn", []string{"Name"}},
	{"trainee.awaiting_review", "We have received your referral", []string{"Name", "Link"}},
	{"trainee.ineligible", "About your referral", []string{"Name", "Link", "Reason"}},
	{"trainee.declined", "About your referral", []string{"Name", "Link"}},
	{"trainee.waitlisted", "You are on the waiting list", []string{"Name", "Link"}},
	{"trainee.matched", "A therapist has accepted your referral", []string{"Name", "Link"}},
	{"trainee.ended", "Your therapy has ended", []string{"Name", "Link"}},
	{"trainee.withdrawn", "You have withdrawn your referral", []string{"Name", "Link"}},
	{"trainee.closed_no_response", "Your referral has closed", []string{"Name", "Link"}},
	{"trainee.lapsed", "Your referral has closed", []string{"Name", "Link"}},
	{"trainee.check_in", "Do you still want a place with a therapist?", []string{"Name", "Link", "Date"}},
	{"trainee.lapse_warning", "Your eligibility for the network ends soon", []string{"Name", "Date"}},
	{"trainee.awaiting_information", "The committee has a question about your referral", []string{"Name", "Link"}},
	{"trainee.question_reminder", "Reminder: the committee has a question about your referral", []string{"Name", "Link", "Date"}},
	{"trainee.closed_incomplete", "Your referral has closed", []string{"Name", "Link"}},
	{"committee.answered", "A trainee has answered the committee's question", []string{"Name", "Link"}},
	{"trainee.feedback", "How was your therapy? Two minutes of feedback", []string{"Name", "Link", "Stop"}},
	{"trainee.feedback_reminder", "A reminder: two minutes of feedback on your therapy", []string{"Name", "Link", "Stop"}},
	{"trainee.stayed", "One question: are you still working in NHS psychology?", []string{"Name", "Link", "Stop"}},
	{"trainee.pause_ending", "Your paused place on the waiting list starts again soon", []string{"Name", "Link", "Date"}},
	{letters.SignIn, "Your sign-in link", []string{"Link", "Lasts"}},
	{letters.TraineeSignIn, "Your sign-in link", []string{"Link", "Lasts"}},
	{letters.Confirm, "Confirm your email address to send your referral", []string{"Link", "Lasts"}},
	{letters.AlreadyReferred, "You already have an open referral", []string{"Link", "Lasts"}},
}

// data gives each field a value no template contains, and sets only the
// fields the letter shows, as its caller does.
func data(shows []string) letters.Data {
	all := letters.Data{Name: "Sam Example", Link: "https://referrals.example/page", Date: "3 March 2027",
		Reason: "Reason-in-the-network's-words.", Lasts: "30 minutes", Stop: "https://referrals.example/stop"}
	var d letters.Data
	for _, f := range shows {
		reflect.ValueOf(&d).Elem().FieldByName(f).Set(reflect.ValueOf(all).FieldByName(f))
	}
	return d
}

func TestEveryLetterRenders(t *testing.T) {
	var names []string
	for _, c := range every {
		names = append(names, c.name)
	}
	slices.Sort(names)
	if got := letters.Names(); !slices.Equal(got, names) {
		t.Errorf("letters %v, want %v", got, names)
	}
	for _, c := range every {
		t.Run(c.name, func(t *testing.T) {
			d := data(c.shows)
			l, err := letters.Render(c.name, d)
			if err != nil {
				t.Fatal(err)
			}
			if l.Subject != c.subject {
				t.Errorf("subject %q, want %q", l.Subject, c.subject)
			}
			body := l.Body
			if strings.Contains(body, "{{") || strings.Contains(body, "<no value>") || strings.Contains(body, "\n\n\n") || strings.TrimSpace(body) != body {
				t.Errorf("badly rendered:\n%s", body)
			}
			greeting := "Hello,\n\n"
			if d.Name != "" {
				greeting = "Dear " + d.Name + ",\n\n"
			}
			if !strings.HasPrefix(body, greeting) {
				t.Errorf("does not open with %q:\n%s", greeting, body)
			}
			v := reflect.ValueOf(d)
			for _, f := range c.shows {
				if s := v.FieldByName(f).String(); strings.Count(body, s) != 1 {
					t.Errorf("shows its %s %q %d times, want once:\n%s", f, s, strings.Count(body, s), body)
				}
			}
			lines := strings.Split(body, "\n")
			if n := slices.Index(lines, signOff); n != len(lines)-1 || strings.Count(body, "\n"+signOff) != 1 {
				t.Errorf("the sign-off is not once, on the last line:\n%s", body)
			}
			crisis := 0
			if strings.HasPrefix(c.name, "trainee.") {
				crisis = 1
			}
			for _, w := range crisisWording {
				if n := strings.Count(body, w); (crisis == 1 && n < 1) || (crisis == 0 && n > 0) {
					t.Errorf("names %q %d times, want the crisis wording %d times:\n%s", w, n, crisis, body)
				}
			}
			if n := strings.Count(body, "116 123"); n != crisis {
				t.Errorf("carries the crisis wording %d times, want %d:\n%s", n, crisis, body)
			}
			if n := strings.Count(body, referral.CrisisSupport); n != crisis {
				t.Errorf("carries referral.CrisisSupport %d times, want %d:\n%s", n, crisis, body)
			}
			checkHTML(t, l, d, c.shows, crisis)
		})
	}
}

// TestTheCrisisWordingIsOneBlock holds every number and service to one
// paragraph, the same in every letter to a trainee.
func TestTheCrisisWordingIsOneBlock(t *testing.T) {
	var block string
	for _, c := range every {
		if !strings.HasPrefix(c.name, "trainee.") {
			continue
		}
		l, err := letters.Render(c.name, data(c.shows))
		if err != nil {
			t.Fatal(err)
		}
		var found []string
		for p := range strings.SplitSeq(l.Body, "\n\n") {
			if strings.Contains(p, "116 123") {
				found = append(found, p)
			}
		}
		if len(found) != 1 {
			t.Fatalf("%s: %d crisis paragraphs", c.name, len(found))
		}
		for _, w := range crisisWording {
			if !strings.Contains(found[0], w) {
				t.Errorf("%s: the crisis paragraph does not name %q: %s", c.name, w, found[0])
			}
		}
		if block == "" {
			block = found[0]
		} else if found[0] != block {
			t.Errorf("%s words the crisis paragraph differently:\n%s\nnot\n%s", c.name, found[0], block)
		}
	}
}

// TestDataCarriesNothingPersonalButAName is the letters' privacy boundary:
// a letter can only say what Data carries, and Data has no room for what
// a trainee wrote. A new field is a decision about what emails may say.
func TestDataCarriesNothingPersonalButAName(t *testing.T) {
	var fields []string
	for f := range reflect.TypeFor[letters.Data]().Fields() {
		fields = append(fields, f.Name)
	}
	// Stop is a link, like Link.
	if want := []string{"Name", "Link", "Date", "Reason", "Lasts", "Stop"}; !slices.Equal(fields, want) {
		t.Errorf("letters.Data has fields %v, want %v", fields, want)
	}
}

func TestUnknownLetter(t *testing.T) {
	if _, err := letters.Render("trainee.no_such_status", letters.Data{Name: "Sam"}); err == nil {
		t.Error("rendered a letter that does not exist")
	}
}

var (
	tag   = regexp.MustCompile(`<[^>]*>`)
	href  = regexp.MustCompile(`<a href="([^"]*)">([^<]*)</a>`)
	words = regexp.MustCompile(`[\p{L}\p{N}'’&@-]+`)
)

// checkHTML holds a letter's HTML part to its plain text: a whole page in
// British English, the crisis wording once in a paragraph of its own, each
// link named in words, and no word the text does not say.
func checkHTML(t *testing.T, l letters.Letter, d letters.Data, shows []string, crisis int) {
	t.Helper()
	h := l.HTML()
	for _, want := range []string{"<!DOCTYPE html>\n<html lang=\"en-GB\">", "<meta charset=\"utf-8\">",
		"<title>" + html.EscapeString(l.Subject) + "</title>", "</body>\n</html>\n"} {
		if !strings.Contains(h, want) {
			t.Errorf("the HTML part lacks %q:\n%s", want, h)
		}
	}
	for _, no := range []string{"<script", "<img", "<table", "<style", "style=", "{{", "<no value>"} {
		if strings.Contains(h, no) {
			t.Errorf("the HTML part has %q:\n%s", no, h)
		}
	}
	if n := strings.Count(h, "<p>"+html.EscapeString(referral.CrisisSupport)+"</p>"); n != crisis {
		t.Errorf("the HTML part carries the crisis paragraph %d times, want %d:\n%s", n, crisis, h)
	}
	if n := strings.Count(h, "116 123"); n != crisis {
		t.Errorf("the HTML part names 116 123 %d times, want %d:\n%s", n, crisis, h)
	}
	links := href.FindAllStringSubmatch(h, -1)
	wantLinks := 0
	if slices.Contains(shows, "Link") {
		wantLinks = 1
	}
	if slices.Contains(shows, "Stop") {
		wantLinks++ // a follow-up's link to stop them
	}
	if len(links) != wantLinks || strings.Count(h, "<a ") != wantLinks {
		t.Fatalf("the HTML part has %d links, want %d:\n%s", len(links), wantLinks, h)
	}
	for _, a := range links {
		if u := html.UnescapeString(a[1]); u != d.Link && (d.Stop == "" || u != d.Stop) {
			t.Errorf("links to %q, want %q", a[1], d.Link)
		}
		if text := strings.TrimSpace(a[2]); text == "" || strings.Contains(text, "://") {
			t.Errorf("a link's text is %q, want words saying where it goes", a[2])
		}
	}
	// What a reader of the HTML sees is what the text says, in the same
	// order, and nothing more: no name, date or reason the text lacks.
	body := tag.ReplaceAllString(h[strings.Index(h, "<body>"):], " ")
	seen := words.FindAllString(html.UnescapeString(body), -1)
	said := words.FindAllString(l.Subject+" "+l.Body, -1)
	for _, w := range seen {
		if !slices.Contains(said, w) {
			t.Errorf("the HTML part says %q, which the text does not:\n%s", w, h)
		}
	}
	v := reflect.ValueOf(d)
	for _, f := range shows {
		if s := v.FieldByName(f).String(); f != "Link" && f != "Stop" && strings.Count(html.UnescapeString(body), s) != 1 {
			t.Errorf("the HTML part shows its %s %q %d times, want once:\n%s", f, s, strings.Count(html.UnescapeString(body), s), h)
		}
	}
}

// TestHTMLEscapes: a name is written by people, so the HTML part escapes
// it, and makes a link only of an address.
func TestHTMLEscapes(t *testing.T) {
	l, err := letters.Render("trainee.matched", letters.Data{Name: `<script>alert("x")</script> & Co`,
		Link: `https://referrals.example/my-referral?a=1&b=2`})
	if err != nil {
		t.Fatal(err)
	}
	h := l.HTML()
	for _, want := range []string{`<p>Dear &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; Co,</p>`,
		`<p><a href="https://referrals.example/my-referral?a=1&amp;b=2">Your referral</a></p>`} {
		if !strings.Contains(h, want) {
			t.Errorf("lacks %s:\n%s", want, h)
		}
	}
	if strings.Contains(h, "<script") {
		t.Errorf("raw HTML from a name:\n%s", h)
	}
}
