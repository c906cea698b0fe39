// Package letters writes the network's emails. Each letter is a
// text/template file, templates/<name>.txt, defining its "subject" and
// "body"; every letter shares one layout (templates/shared/layout.txt):
// the greeting, the body, the link, the crisis wording and the sign-off are
// each written once. The letters of a referral's life are named by their
// outbox kind (trainee.waitlisted, committee.review, ...); the letters a
// use case sends itself are SignIn, TraineeSignIn, Confirm and
// AlreadyReferred.
//
// It is a package of its own, not part of package activities, because the
// web pages send sign-in letters too, and both must share the layout
// without the pages depending on Temporal activities.
//
// A letter says only what Data carries: a name to greet, a link, a date, an
// outcome in the network's words. Never what a trainee wrote: there is no
// field for it.
package letters

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
	"text/template"

	"github.com/wmtna/referrals/internal/referral"
)

// The letters a use case sends itself: a link to sign in with (to a
// trainee, TraineeSignIn, which carries the crisis wording); the link a
// self-referral's address gets, to confirm it and so send the referral;
// and what that address gets instead when it already has an open referral,
// a link to sign in to that one. The last two are the only answer to a
// submission that says which case it was, and only to the address's owner.
const (
	SignIn          = "sign-in"
	TraineeSignIn   = "trainee.sign_in"
	Confirm         = "trainee.confirm"
	AlreadyReferred = "trainee.already_referred"
)

// Letter is one email's subject and plain-text body.
type Letter struct {
	Subject string
	Body    string
}

// HTML is the letter's HTML part; see HTML.
func (l Letter) HTML() string { return HTML(l.Subject, l.Body) }

// Data is what a letter may say. Each letter uses what it needs and
// ignores the rest.
type Data struct {
	// Name greets the reader ("Dear Name,"); empty greets "Hello,".
	Name string
	// Link is the page the letter sends its reader to; empty for none.
	Link string
	// Date is a date the letter names (a check-in's deadline, an
	// eligibility cut-off), formatted for the reader.
	Date string
	// Reason explains an outcome in the network's words
	// (referral.ReasonText), never in anyone's own.
	Reason string
	// Lasts is how long a sign-in link works, such as "30 minutes".
	Lasts string
	// Stop is the link that stops a follow-up's emails.
	Stop string
}

// view is what the templates see. Trainee is decided by the letter's name,
// not by its caller, so no letter to a trainee can go without the crisis
// wording.
type view struct {
	Data
	Trainee bool
}

//go:embed templates
var files embed.FS

// letters holds each letter's template set, parsed once; a set is safe
// for concurrent use.
var letters = mustParse(files)

func mustParse(fsys fs.FS) map[string]*template.Template {
	// The crisis wording is the domain's, so an email says exactly what the
	// pages and the API say.
	shared, err := template.New("shared").Funcs(template.FuncMap{"crisis": func() string { return referral.CrisisSupport }}).
		ParseFS(fsys, "templates/shared/*.txt")
	if err != nil {
		panic(fmt.Sprintf("letters: %v", err))
	}
	names, err := fs.Glob(fsys, "templates/*.txt")
	if err != nil {
		panic(fmt.Sprintf("letters: %v", err))
	}
	out := make(map[string]*template.Template, len(names))
	for _, file := range names {
		src, err := fs.ReadFile(fsys, file)
		if err != nil {
			panic(fmt.Sprintf("letters: %v", err))
		}
		t := template.Must(shared.Clone())
		// The file's own name holds only what lies between its
		// definitions; the path cannot collide with a template it defines.
		if _, err := t.New(file).Parse(string(src)); err != nil {
			panic(fmt.Sprintf("letters: %v", err))
		}
		for _, need := range []string{"subject", "body"} {
			if t.Lookup(need) == nil {
				panic(fmt.Sprintf("letters: %s defines no %q", file, need))
			}
		}
		out[strings.TrimSuffix(path.Base(file), ".txt")] = t
	}
	return out
}

// Names lists every letter, sorted.
func Names() []string {
	names := make([]string, 0, len(letters))
	for name := range letters {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// Render writes the letter called name.
func Render(name string, d Data) (Letter, error) {
	t, ok := letters[name]
	if !ok {
		return Letter{}, fmt.Errorf("no letter %q", name)
	}
	v := view{Data: d, Trainee: strings.HasPrefix(name, "trainee.")}
	var subject, body strings.Builder
	if err := t.ExecuteTemplate(&subject, "subject", v); err != nil {
		return Letter{}, fmt.Errorf("subject of letter %s: %w", name, err)
	}
	if err := t.ExecuteTemplate(&body, "letter", v); err != nil {
		return Letter{}, fmt.Errorf("letter %s: %w", name, err)
	}
	return Letter{Subject: subject.String(), Body: body.String()}, nil
}
