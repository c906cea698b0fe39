package pages

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/wmtna/referrals/internal/pipeline"
	"github.com/wmtna/referrals/internal/referral"
)

func (s *Site) homePage(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" {
		s.pageError(w, r, pipeline.ErrNotFound)
		return
	}
	notice := ""
	if r.URL.Query().Get("signed-out") == "1" {
		notice = "You are signed out."
	}
	s.render(w, r, http.StatusOK, "home", page{Title: "Personal therapy for trainee psychologists", Notice: notice})
}

// referForm is the self-referral as typed so far, kept to show each
// question page again with its errors and carried from page to page (see
// refer_steps.go).
type referForm struct {
	Key                 string
	Name, Email         string
	Programme, Employer string
	// Service is the name of a service not on the register, when Employer
	// is notListed.
	Service string
	// TrainingStart asks a month and year; Qualify, optional, a day too.
	TrainingStart, Qualify dateInput
	Concerns               string
	Meeting                string // online, in_person or either
	Areas                  []string
	SameDiscipline         bool
	Note                   string
	AtRisk                 string // "yes", "no" or "" (not answered)
	Consent                bool
	// Step is the question page shown; Return is "check" when the trainee
	// came to it from check your answers, to go back there. All makes
	// Carry carry every answer.
	Step, Return string
	All          bool
	// For the pages: the lists to choose from, and on the qualify page the
	// cut-off that holds when no date is given.
	Programmes    []string
	Organisations []referral.Organisation
	AreaList      []referral.Area
	DefaultCutoff string
}

// Chose reports whether the trainee ticked an area.
func (f referForm) Chose(code string) bool { return slices.Contains(f.Areas, code) }

func (s *Site) referPage(w http.ResponseWriter, r *http.Request) {
	s.showReferStep(w, r, http.StatusOK, referForm{Key: newFormKey(), Step: stepProgramme}, nil)
}

// showReferStep shows the question page f.Step with its problems.
func (s *Site) showReferStep(w http.ResponseWriter, r *http.Request, status int, f referForm, problems []*pipeline.Error) {
	step, ok := stepNamed(f.Step)
	if !ok {
		step = referSteps[0]
		f.Step = step.Name
	}
	ctx := r.Context()
	switch f.Step {
	case stepProgramme:
		f.Programmes = referral.Programmes
	case stepEmployer:
		orgs, err := s.App.Employers(ctx)
		if err != nil {
			s.pageError(w, r, err)
			return
		}
		// By name, as people look for their trust ("Birmingham and
		// Solihull ..."), not by ODS code.
		slices.SortStableFunc(orgs, func(a, b referral.Organisation) int { return strings.Compare(a.Name, b.Name) })
		f.Organisations = orgs
	case stepQualify:
		if d, msg := f.TrainingStart.read("", false); msg == "" {
			cutoff := referral.Cutoff(d, nil)
			f.DefaultCutoff = day(&cutoff)
		}
	case stepMeeting:
		areas, err := s.App.Areas(ctx, pipeline.Anonymous)
		if err != nil {
			s.pageError(w, r, err)
			return
		}
		f.AreaList = slices.DeleteFunc(areas, func(a referral.Area) bool { return !a.Active })
	}
	s.render(w, r, status, "refer", page{Title: step.Title, Errors: problems, Data: f})
}

// referSubmit takes the answer to one question page and shows the next,
// the same page with its problems, the not-eligible page, check your
// answers, or (confirmed) sends the referral. A form posted whole, as
// the tests do, is the last page's: every answer is checked, and the
// first page with a problem is shown.
func (s *Site) referSubmit(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if err := r.ParseForm(); err != nil {
		s.pageError(w, r, errMalformedForm)
		return
	}
	f := readReferForm(r.PostForm)
	if show := r.PostForm.Get("show"); show != "" {
		// Back, or Change on check your answers: the page asked, as
		// filled in, without judging it.
		f.Step = show
		s.showReferStep(w, r, http.StatusOK, f, nil)
		return
	}
	if _, ok := stepNamed(f.Step); !ok {
		f.Step = stepMeeting
	}
	ctx := r.Context()
	d, dateProblems := f.draft()
	sub, problems, err := s.App.Check(ctx, d)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	// A date the form could not read was given to Check as not typed: its
	// problem is the form's, worded for the part at fault.
	problems = slices.DeleteFunc(problems, func(e *pipeline.Error) bool { _, ok := dateProblems[e.Field]; return ok })
	for _, e := range dateProblems {
		problems = append(problems, e)
	}
	if f.AtRisk != "yes" && f.AtRisk != "no" {
		// The API lets older clients leave this out; the form always asks.
		problems = append(problems, pipeline.FieldError("at_risk", "Tell us whether you are at risk of harming yourself, so we know how quickly to look at your referral"))
	}
	problems = formProblems(problems)
	if f.Employer == notListed {
		// Not listed, the employer is the service's name, asked next.
		for _, e := range problems {
			if e.Field == "employer" {
				e.Field, e.Message = "employer_name", requiredText["employer_name"]
			}
		}
	}
	byStep := map[string][]*pipeline.Error{}
	for _, e := range problems {
		step := f.stepOf(e.Field)
		byStep[step] = append(byStep[step], e)
	}
	// The first page, up to this one (or all of them, on the way back to
	// check your answers), with a problem is shown again with it.
	for _, step := range f.steps() {
		if len(byStep[step.Name]) > 0 {
			if step.Name == f.next(f.Step) {
				// The next page, not yet answered: asked, not judged.
				f.Step = step.Name
				s.showReferStep(w, r, http.StatusOK, f, nil)
				return
			}
			f.Step = step.Name
			s.showReferStep(w, r, http.StatusUnprocessableEntity, f, inFormOrder(byStep[step.Name]))
			return
		}
		if step.Name == f.Step && f.Return != "check" {
			break
		}
	}
	next := f.next(f.Step)
	if f.Step == stepProgramme && !referral.KnownProgramme(sub.Programme) {
		// "None of these": no need to ask anything more.
		s.showIneligible(w, r, f, sub, referral.Eligibility{Reason: referral.ReasonUnknownProgramme})
		return
	}
	if next == stepAbout || next == "" || f.Return == "check" {
		// The questions that decide whether the network is for them are
		// answered: say now if it is not, before anything more is asked.
		if !s.eligibleAsAnswered(w, r, f, sub) {
			return
		}
	}
	if next != "" && f.Return != "check" {
		f.Step = next
		s.showReferStep(w, r, http.StatusOK, f, nil)
		return
	}
	if r.PostForm.Get("confirmed") != "yes" {
		s.showReferCheck(w, r, f, sub)
		return
	}
	// A submission from the form uses the API's budget per address.
	p := pipeline.Anonymous
	if !s.Limits.Submits().Allow(r) {
		s.App.Refused(ctx, p, pipeline.ActSubmit, "", pipeline.TooMany)
		s.pageError(w, r, pipeline.ErrTooMany)
		return
	}
	sent, err := s.App.Submit(ctx, p, pipeline.Given(d), f.Key)
	if err != nil {
		e := pipeline.AsError(err)
		if e.Field != "" {
			f.Step = f.stepOf(e.Field)
			s.showReferStep(w, r, int(e.Outcome), f, formProblems([]*pipeline.Error{e}))
			return
		}
		s.pageError(w, r, e)
		return
	}
	// The same page whether or not the address has an open referral: its
	// owner learns which from the email.
	to := "/refer/sent"
	if sent.Urgent {
		to += "?urgent=1"
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// referIneligible is the page that says the network is not for the
// trainee as they answered, and why, before they type anything more.
type referIneligible struct {
	Form   referForm
	Reason string
	// Cutoff is the day referrals closed for them; Defaulted says it was
	// reckoned from the start of training, no qualification date given.
	Cutoff    string
	Defaulted bool
}

// eligibleAsAnswered applies the network's rules to the answers so far.
// When they rule the trainee out it shows why (or, failing, an error page)
// and reports false.
func (s *Site) eligibleAsAnswered(w http.ResponseWriter, r *http.Request, f referForm, sub referral.Submission) bool {
	e, err := s.App.EligibleToday(r.Context(), sub)
	if err != nil {
		s.pageError(w, r, err)
		return false
	}
	if !e.Eligible {
		s.showIneligible(w, r, f, sub, e)
	}
	return e.Eligible
}

func (s *Site) showIneligible(w http.ResponseWriter, r *http.Request, f referForm, sub referral.Submission, e referral.Eligibility) {
	v := referIneligible{Form: f.CarryingAll(), Reason: e.Reason, Defaulted: sub.ExpectedQualification == nil}
	if cutoff, err := referral.ParseDate(e.Cutoff); err == nil {
		v.Cutoff = day(&cutoff)
	}
	v.Form.Step = ""
	s.render(w, r, http.StatusOK, "refer-ineligible", page{Title: "You cannot refer yourself to the network", Data: v})
}

// referCheck is the check-your-answers page: the answers as checked, to
// read, and as typed, re-posted in hidden fields (nothing is stored until
// the trainee sends it).
type referCheck struct {
	Form                referForm
	Sub                 referral.Submission
	Employer, HowToMeet string
}

// TrainingStart is the month training started, as people write it.
func (c referCheck) TrainingStart() string { return c.Sub.TrainingStart.Start().Format("January 2006") }

func (s *Site) showReferCheck(w http.ResponseWriter, r *http.Request, f referForm, sub referral.Submission) {
	ctx := r.Context()
	orgs, err := s.App.Employers(ctx)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	areas, err := s.App.Areas(ctx, pipeline.Anonymous)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	f.Step, f.Return = "", "check"
	c := referCheck{Form: f.CarryingAll(), Sub: sub, Employer: sub.Employer, HowToMeet: pipeline.HowToMeet(sub.Preferences, areas)}
	if sub.EmployerName != "" {
		c.Employer = sub.EmployerName + " (not on our list: the committee will check it)"
	}
	if i := slices.IndexFunc(orgs, func(o referral.Organisation) bool { return o.Code == sub.Employer }); i >= 0 {
		c.Employer = orgs[i].Name
	}
	s.render(w, r, http.StatusOK, "refer-check", page{Title: "Check your answers before sending your referral", Data: c})
}

func readReferForm(form url.Values) referForm {
	v := form.Get
	f := referForm{
		Key: v("key"), Name: v("name"), Email: strings.TrimSpace(v("email")), Programme: v("programme"), Employer: v("employer"),
		TrainingStart: readDateInput(form, "training_start", false), Qualify: readDateInput(form, "expected_qualification", true),
		Concerns: v("concerns"), Meeting: v("meeting"), Areas: form["areas"], SameDiscipline: v("same_discipline") == "yes", Note: v("note"),
		AtRisk: v("at_risk"), Consent: v("consent") == "yes",
		Service: v("employer_name"), Step: v("step"), Return: v("return"),
	}
	if f.Return != "check" {
		f.Return = ""
	}
	if f.Meeting == string(referral.MeetOnline) {
		f.Areas = nil // the areas are for meeting in person; a hidden tick means nothing
	}
	if len(f.Key) > 100 {
		f.Key = ""
	}
	return f
}

// draft is the referral as the API takes it, dates and all, with the
// problems of any date the form could not read (given to the draft as not
// typed), by field.
func (f *referForm) draft() (referral.Draft, map[string]*pipeline.Error) {
	problems := map[string]*pipeline.Error{}
	var start, qualify string
	if !f.TrainingStart.Empty() {
		if d, msg := f.TrainingStart.read("The month your training started", false); msg != "" {
			problems["training_start"] = pipeline.FieldError("training_start", "%s", msg)
		} else {
			start = d.String()[:7]
		}
	}
	if !f.Qualify.Empty() {
		if d, msg := f.Qualify.read("The date you expect to qualify", true); msg != "" {
			problems["expected_qualification"] = pipeline.FieldError("expected_qualification", "%s", msg)
		} else {
			qualify = d.String()
		}
	}
	employer, service := f.Employer, ""
	if employer == notListed {
		employer, service = "", f.Service
	}
	return referral.Draft{
		Name: f.Name, Email: f.Email, Programme: f.Programme, Employer: employer, EmployerName: service,
		TrainingStart: start, ExpectedQualification: qualify, Concerns: f.Concerns,
		Preferences: referral.Preferences{Meeting: referral.Meeting(f.Meeting), Areas: f.Areas, SameDiscipline: f.SameDiscipline, Note: f.Note},
		Consent:     f.Consent, AtRisk: f.AtRisk == "yes",
	}, problems
}

// referFields are the form's fields in the order it asks them, the order
// of its error summary.
var referFields = []string{"programme", "employer", "employer_name", "training_start", "expected_qualification", "name", "email",
	"concerns", "at_risk", "meeting", "areas", "same_discipline", "note", "consent"}

// inFormOrder sorts problems into the form's order; any other stays last.
func inFormOrder(problems []*pipeline.Error) []*pipeline.Error {
	at := func(e *pipeline.Error) int {
		if i := slices.Index(referFields, e.Field); i >= 0 {
			return i
		}
		return len(referFields)
	}
	slices.SortStableFunc(problems, func(a, b *pipeline.Error) int { return at(a) - at(b) })
	return problems
}

type referSent struct {
	Lasts  string
	Urgent bool
}

func (s *Site) referSentPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "refer-sent", page{Title: "Check your email", Data: referSent{
		Lasts: pipeline.HumanDuration(pipeline.ConfirmLinkTTL), Urgent: r.URL.Query().Get("urgent") == "1",
	}})
}

type confirmPage struct {
	Action        string // the form's, while the link is still to use
	Heading, Text string
}

// confirmLinkPage asks for a click before spending the link, as a sign-in
// link does: mail scanners open links in emails, and must not send a
// referral.
func (s *Site) confirmLinkPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "confirm", page{Title: "Confirm your email address",
		Data: confirmPage{Action: "/confirm/" + url.PathEscape(chi.URLParam(r, "secret"))}})
}

// confirmWithLink sends the referral on and signs its trainee in. A wrong
// link counts as a wrong credential, after it is tried, so that a right one
// works whatever else its address sent.
func (s *Site) confirmWithLink(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	ref, err := s.App.Confirm(ctx, pipeline.Anonymous, chi.URLParam(r, "secret"))
	switch e := pipeline.AsError(err); {
	case e == nil && ref.Replay:
		s.render(w, r, http.StatusOK, "confirm", page{Title: "Your referral is already sent", Data: confirmPage{
			Heading: "Your referral is already sent",
			Text:    "You have used this link already, so your referral is with the committee. Sign in with your email address to follow it.",
		}})
		return
	case e == nil:
	case errors.Is(err, pipeline.ErrConfirmLinkUsed):
		if !s.Limits.AuthFailures().Allow(r) {
			s.pageError(w, r, errTooManyAttempts)
			return
		}
		s.render(w, r, http.StatusGone, "confirm", page{Title: "That link has expired", Data: confirmPage{
			Heading: "That link has expired",
			Text:    "Links to confirm a referral work for " + pipeline.HumanDuration(pipeline.ConfirmLinkTTL) + ". Refer yourself again, and we will email you a new one. If you sent your referral already, sign in to follow it.",
		}})
		return
	case e.Code == "duplicate_referral":
		s.render(w, r, http.StatusConflict, "confirm", page{Title: "You already have an open referral", Data: confirmPage{
			Heading: "You already have an open referral",
			Text:    "This email address already has a referral open with us, so this one was not sent. Sign in to follow it, or withdraw it first and then use this link again.",
		}})
		return
	default:
		s.pageError(w, r, e)
		return
	}
	// A browser gets a session that ends; the trainee comes back later by
	// signing in with their address.
	trainee := referral.Principal{Role: referral.RoleTrainee, Subject: ref.ID}
	if err := s.startSession(w, r, trainee); err != nil {
		s.pageError(w, r, err)
		return
	}
	http.Redirect(w, r, "/my-referral?welcome=1", http.StatusSeeOther)
}

// formProblems words the API's field errors for people filling in the
// form: field names as the form labels them.
func formProblems(problems []*pipeline.Error) []*pipeline.Error {
	out := make([]*pipeline.Error, len(problems))
	for i, e := range problems {
		c := *e
		if f, ok := strings.CutPrefix(c.Field, "preferences."); ok {
			c.Field = f
		}
		if friendly, ok := requiredText[c.Field]; ok && strings.HasPrefix(c.Message, c.Field+" is required") {
			c.Message = friendly
		}
		if friendly, ok := formText[c.Field]; ok {
			c.Message = friendly
		}
		for api, label := range fieldLabels {
			c.Message = strings.ReplaceAll(c.Message, api, label)
		}
		if c.Message != "" {
			c.Message = strings.ToUpper(c.Message[:1]) + c.Message[1:]
		}
		out[i] = &c
	}
	return out
}

// requiredText says what to do about an empty field, in the form's words.
var requiredText = map[string]string{
	"name":           "Enter your full name",
	"email":          "Enter your email address",
	"programme":      "Choose your training programme",
	"employer":       "Choose your employer, or choose that it is not in the list",
	"employer_name":  "Enter the name of the service you work for",
	"training_start": "Enter the month and year your training started",
	"concerns":       "Tell us what you would like to bring to therapy",
	"question":       "Enter the question for the trainee",
	"answer":         "Enter your answer to the committee's question",
}

// formText replaces the API's wording where a form has a plainer one.
var formText = map[string]string{
	"meeting": "Choose how you can meet a therapist",
	"areas":   "Choose at least one area where you can meet a therapist in person, or choose online",
	"consent": "Tick the box to agree that we store your referral and share it with the committee and a therapist: we cannot accept it otherwise",
}

var fieldLabels = map[string]string{
	"preferences.note":       "what matters to you in a therapist",
	"expected_qualification": "your expected qualification date",
	"training_start":         "the month your training started",
	"consent":                "consent",
}

type myReferral struct {
	Referral pipeline.Case
	Welcome  bool
	Open     bool
	// Key is the idempotency key of the page's one-button forms.
	Key string
	// LongestPause says how long a place can be paused, in words.
	LongestPause string
	// Answer is the answer to the committee's question, as typed.
	Answer string
}

func (s *Site) myReferralPage(w http.ResponseWriter, r *http.Request) {
	s.showMyReferral(w, r, http.StatusOK, "", nil)
}

// showMyReferral shows the trainee their referral, with the notice its
// link asks for, and the answer to the committee's question as typed with
// what is wrong with it.
func (s *Site) showMyReferral(w http.ResponseWriter, r *http.Request, status int, answer string, problems []*pipeline.Error) {
	sess, _ := currentSession(r)
	v, err := s.App.Referral(r.Context(), sess.Principal, sess.Subject)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	slices.Reverse(v.Events) // newest first
	notice := ""
	switch q := r.URL.Query(); {
	case q.Get("withdrawn") == "1":
		notice = "Your referral is withdrawn."
	case q.Get("kept") == "1":
		notice = "Thank you: you keep your place on the waiting list."
	case q.Get("paused") == "1" && v.Standing != nil && v.Standing.PausedUntil != nil:
		notice = "Your place is paused until " + referral.DateOf(*v.Standing.PausedUntil).Start().Format("2 January 2006") + "."
	case q.Get("resumed") == "1":
		notice = "Your place is active again, in the same position."
	case q.Get("answered") == "1":
		notice = "Thank you: your answer is with the committee, who will look at your referral again."
	}
	s.render(w, r, status, "my-referral", page{Title: "Your referral", Notice: notice, Errors: problems, Data: myReferral{
		Referral: v, Welcome: r.URL.Query().Get("welcome") == "1", Open: withdrawable(v.Status),
		Key: newFormKey(), LongestPause: referral.Weeks(s.App.Timings.MaxPause()), Answer: answer,
	}})
}

// withdrawable reports whether a trainee may still withdraw: not once it
// has closed, nor once matched (the workflow refuses it then: the
// therapist ends the referral with the network when therapy stops).
func withdrawable(st referral.Status) bool {
	return !st.Terminal() && st != referral.StatusMatched
}

func (s *Site) withdrawPage(w http.ResponseWriter, r *http.Request) {
	sess, _ := currentSession(r)
	v, err := s.App.Referral(r.Context(), sess.Principal, sess.Subject)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	if !withdrawable(v.Status) {
		http.Redirect(w, r, "/my-referral", http.StatusSeeOther)
		return
	}
	s.render(w, r, http.StatusOK, "withdraw", page{Title: "Withdraw your referral", Data: newFormKey()})
}

func (s *Site) withdrawSubmit(w http.ResponseWriter, r *http.Request) {
	sess, _ := currentSession(r)
	_, err := s.App.Withdraw(r.Context(), sess.Principal, sess.Subject, pipeline.Given(r.PostForm.Get("reason")), formKey(r))
	switch e := pipeline.AsError(err); {
	case e == nil:
		http.Redirect(w, r, "/my-referral?withdrawn=1", http.StatusSeeOther)
	case e.Outcome == pipeline.Conflict:
		// Already closed (or withdrawn by an earlier click): the referral
		// page says where it stands.
		http.Redirect(w, r, "/my-referral", http.StatusSeeOther)
	default:
		s.render(w, r, int(e.Outcome), "withdraw", page{Title: "Withdraw your referral", Errors: formProblems([]*pipeline.Error{e}), Data: newFormKey()})
	}
}

// formKey is the form's idempotency key, if it carries a sane one.
func formKey(r *http.Request) string {
	if k := r.PostForm.Get("key"); len(k) <= 100 {
		return k
	}
	return ""
}

// checkInPage asks a waiting trainee whether they still want a place: the
// page the check-in email links to.
func (s *Site) checkInPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "check-in", page{Title: "Do you still want a place?", Data: newFormKey()})
}

func (s *Site) checkInSubmit(w http.ResponseWriter, r *http.Request) {
	sess, _ := currentSession(r)
	answer := r.PostForm.Get("still_waiting")
	if answer != "yes" && answer != "no" {
		s.render(w, r, http.StatusUnprocessableEntity, "check-in", page{Title: "Do you still want a place?", Data: newFormKey(),
			Errors: []*pipeline.Error{pipeline.FieldError("still_waiting", "Choose whether you still want a place")}})
		return
	}
	_, err := s.App.CheckIn(r.Context(), sess.Principal, sess.Subject, pipeline.Given(new(answer == "yes")), formKey(r))
	switch e := pipeline.AsError(err); {
	case e == nil && answer == "yes":
		http.Redirect(w, r, "/my-referral?kept=1", http.StatusSeeOther)
	case e == nil:
		http.Redirect(w, r, "/my-referral?withdrawn=1", http.StatusSeeOther)
	case e.Outcome == pipeline.Conflict:
		s.render(w, r, http.StatusConflict, "check-in", page{Title: "Do you still want a place?", Data: "",
			Notice: "We are not waiting for an answer from you just now: your referral is as it was. Your referral page says where it stands."})
	default:
		s.pageError(w, r, e)
	}
}
