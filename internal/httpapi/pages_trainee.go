package httpapi

import (
	"net/http"
	"slices"
	"strings"

	"github.com/wmtna/referrals/internal/referral"
)

func (s *Server) homePage(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" {
		s.pageError(w, r, errNotFound)
		return
	}
	notice := ""
	if r.URL.Query().Get("signed-out") == "1" {
		notice = "You are signed out."
	}
	s.render(w, r, http.StatusOK, "home", page{Title: "Personal therapy for trainee psychologists", Notice: notice})
}

// referForm is the self-referral form as typed, kept to show it again with
// its errors.
type referForm struct {
	Key                   string
	Name, Email           string
	Programme, Employer   string
	TrainingStart         string
	ExpectedQualification string
	Concerns              string
	Remote                bool
	Location              string
	AtRisk                string // "yes", "no" or "" (not answered)
	Consent               bool
	Programmes            []string
	Organisations         []referral.Organisation
}

func (s *Server) referPage(w http.ResponseWriter, r *http.Request) {
	s.showReferForm(w, r, http.StatusOK, referForm{Key: newFormKey()}, nil)
}

func (s *Server) showReferForm(w http.ResponseWriter, r *http.Request, status int, f referForm, problems []*apiError) {
	orgs, err := s.DB.Organisations(r.Context())
	if err != nil {
		s.Logger.ErrorContext(r.Context(), "load organisations", "err", err)
		s.pageError(w, r, errUnavailable)
		return
	}
	for _, o := range orgs {
		if o.Active {
			f.Organisations = append(f.Organisations, o)
		}
	}
	f.Programmes = referral.Programmes
	title := "Refer yourself"
	if len(problems) > 0 {
		title = "Error: " + title
	}
	s.render(w, r, status, "refer", page{Title: title, Errors: problems, Data: f})
}

func (s *Server) referSubmit(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if err := r.ParseForm(); err != nil {
		s.pageError(w, r, &apiError{Status: http.StatusBadRequest, Code: "malformed_form", Message: "The form could not be read."})
		return
	}
	v := r.PostForm.Get
	f := referForm{
		Key: v("key"), Name: v("name"), Email: strings.TrimSpace(v("email")), Programme: v("programme"), Employer: v("employer"),
		TrainingStart: v("training_start"), ExpectedQualification: v("expected_qualification"), Concerns: v("concerns"),
		Remote: v("remote") == "yes", Location: v("location"), AtRisk: v("at_risk"), Consent: v("consent") == "yes",
	}
	if len(f.Key) > 100 {
		f.Key = ""
	}
	q := submissionRequest{
		Name: &f.Name, Email: &f.Email, Programme: &f.Programme, Employer: &f.Employer,
		TrainingStart: &f.TrainingStart, ExpectedQualification: &f.ExpectedQualification, Concerns: &f.Concerns,
		Preferences: &referral.Preferences{Remote: f.Remote, Location: f.Location}, Consent: &f.Consent,
	}
	_, problems := q.check(s.now())
	switch f.AtRisk {
	case "yes", "no":
		atRisk := f.AtRisk == "yes"
		q.AtRisk = &atRisk
	default:
		// The API lets older clients leave this out; the form always asks.
		i := slices.IndexFunc(problems, func(e *apiError) bool { return e.Field == "consent" })
		if i < 0 {
			i = len(problems)
		}
		problems = slices.Insert(problems, i, badField("at_risk", "Tell us whether you are at risk of harming yourself, so we know how quickly to look at your referral"))
	}
	if len(problems) > 0 {
		s.showReferForm(w, r, http.StatusUnprocessableEntity, f, formProblems(problems))
		return
	}
	res := s.callAPI(r, "", http.MethodPost, "/v1/referrals", q, f.Key)
	if e := res.err(); e != nil {
		if e.Field != "" || e.Status == http.StatusConflict {
			if e.Field == "" || e.Code == "duplicate_referral" {
				e.Field = "email"
				e.Message = "You already have an open referral with this email address. Sign in to follow it, or withdraw it first."
			}
			s.showReferForm(w, r, e.Status, f, formProblems([]*apiError{e}))
			return
		}
		s.pageError(w, r, e)
		return
	}
	var created submitResponse
	if err := res.decode(&created); err != nil {
		s.pageError(w, r, errUnavailable)
		return
	}
	// The API's long-lived token is for API clients; a browser gets a
	// session that ends, and an emailed link to come back.
	ctx := r.Context()
	if err := s.DB.RevokeToken(ctx, created.Token); err != nil {
		s.Logger.ErrorContext(ctx, "revoke submission token", "referral_id", created.ID, "err", err)
	}
	p := referral.Principal{Role: referral.RoleTrainee, Subject: created.ID}
	if err := s.startSession(w, r, p); err != nil {
		s.Logger.ErrorContext(ctx, "start session", "referral_id", created.ID, "err", err)
		s.pageError(w, r, errUnavailable)
		return
	}
	if err := s.emailSignInLink(ctx, p, f.Email, traineeLinkTTL, "", "Your private link to follow your referral"); err != nil {
		s.Logger.ErrorContext(ctx, "email sign-in link", "referral_id", created.ID, "err", err)
	}
	http.Redirect(w, r, "/my-referral?welcome=1", http.StatusSeeOther)
}

// formProblems words the API's field errors for people filling in the
// form: field names as the form labels them.
func formProblems(problems []*apiError) []*apiError {
	out := make([]*apiError, len(problems))
	for i, e := range problems {
		c := *e
		if c.Field == "preferences.location" {
			c.Field = "location"
		}
		if friendly, ok := requiredText[c.Field]; ok && strings.HasSuffix(c.Message, " is required") {
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
	"employer":       "Choose your employer",
	"training_start": "Enter the month your training started",
	"concerns":       "Tell us what you would like to bring to therapy",
}

// formText replaces the API's wording where a form has a plainer one.
var formText = map[string]string{
	"consent": "Tick the box to agree that we store your referral and share it with the committee and a therapist: we cannot accept it otherwise",
}

var fieldLabels = map[string]string{
	"preferences.location":   "your preferred location",
	"expected_qualification": "your expected qualification date",
	"training_start":         "the month your training started",
	"consent":                "consent",
}

type myReferral struct {
	Referral referralView
	Welcome  bool
	Open     bool
}

func (s *Server) myReferralPage(w http.ResponseWriter, r *http.Request) {
	sess, _ := currentSession(r)
	res := s.callAPI(r, sess.token, http.MethodGet, "/v1/referrals/"+sess.Subject, nil, "")
	var v referralView
	if e := res.err(); e != nil || res.decode(&v) != nil {
		s.pageError(w, r, orUnavailable(e))
		return
	}
	slices.Reverse(v.Events) // newest first
	notice := ""
	switch {
	case r.URL.Query().Get("withdrawn") == "1":
		notice = "Your referral is withdrawn."
	case r.URL.Query().Get("kept") == "1":
		notice = "Thank you: you keep your place on the waiting list."
	}
	s.render(w, r, http.StatusOK, "my-referral", page{Title: "Your referral", Notice: notice, Data: myReferral{
		Referral: v, Welcome: r.URL.Query().Get("welcome") == "1", Open: !v.Status.Terminal(),
	}})
}

func (s *Server) withdrawPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "withdraw", page{Title: "Withdraw your referral", Data: newFormKey()})
}

func (s *Server) withdrawSubmit(w http.ResponseWriter, r *http.Request) {
	sess, _ := currentSession(r)
	res := s.callAPI(r, sess.token, http.MethodPost, "/v1/referrals/"+sess.Subject+"/withdraw",
		reasonRequest{Reason: r.PostForm.Get("reason")}, formKey(r))
	switch e := res.err(); {
	case e == nil:
		http.Redirect(w, r, "/my-referral?withdrawn=1", http.StatusSeeOther)
	case e.Status == http.StatusConflict:
		// Already closed (or withdrawn by an earlier click): the referral
		// page says where it stands.
		http.Redirect(w, r, "/my-referral", http.StatusSeeOther)
	default:
		s.render(w, r, e.Status, "withdraw", page{Title: "Error: Withdraw your referral", Errors: formProblems([]*apiError{e}), Data: newFormKey()})
	}
}

// formKey is the form's idempotency key, if it carries a sane one.
func formKey(r *http.Request) string {
	if k := r.PostForm.Get("key"); len(k) <= 100 {
		return k
	}
	return ""
}

func orUnavailable(e *apiError) *apiError {
	if e == nil {
		return errUnavailable
	}
	return e
}

// checkInPage asks a waiting trainee whether they still want a place: the
// page the check-in email links to.
func (s *Server) checkInPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "check-in", page{Title: "Do you still want a place?", Data: newFormKey()})
}

func (s *Server) checkInSubmit(w http.ResponseWriter, r *http.Request) {
	sess, _ := currentSession(r)
	answer := r.PostForm.Get("still_waiting")
	if answer != "yes" && answer != "no" {
		s.render(w, r, http.StatusUnprocessableEntity, "check-in", page{Title: "Error: Do you still want a place?", Data: newFormKey(),
			Errors: []*apiError{badField("still_waiting", "Choose whether you still want a place")}})
		return
	}
	res := s.callAPI(r, sess.token, http.MethodPost, "/v1/referrals/"+sess.Subject+"/check-in", checkInRequest{StillWaiting: new(answer == "yes")}, formKey(r))
	switch e := res.err(); {
	case e == nil && answer == "yes":
		http.Redirect(w, r, "/my-referral?kept=1", http.StatusSeeOther)
	case e == nil:
		http.Redirect(w, r, "/my-referral?withdrawn=1", http.StatusSeeOther)
	case e.Status == http.StatusConflict:
		s.render(w, r, http.StatusConflict, "check-in", page{Title: "Do you still want a place?", Data: "",
			Notice: "We are not waiting for an answer from you just now: your referral is as it was. Your referral page says where it stands."})
	default:
		s.pageError(w, r, e)
	}
}
