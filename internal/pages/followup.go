package pages

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/go-chi/chi/v5"

	"github.com/wmtna/referrals/internal/pipeline"
	"github.com/wmtna/referrals/internal/referral"
)

// followUpPage is a former client's follow-up: the feedback form, the "did
// you stay?" question, the page that stops them, or what became of it.
type followUpPage struct {
	Mode          string // feedback, stayed, stop, or "" for an outcome
	Action, Stop  string
	Questions     []scaleQuestion
	Comment       string
	Heading, Text string
}

// scaleQuestion is one question of the feedback, on a scale of 1 to 5.
type scaleQuestion struct {
	Name, Legend string
	Labels       []string
	Given        string
}

var helped = []string{"Not at all", "A little", "Somewhat", "Quite a lot", "A great deal"}

func feedbackQuestions(form url.Values) []scaleQuestion {
	return []scaleQuestion{
		{"wellbeing", "How much did therapy help your wellbeing?", helped, form.Get("wellbeing")},
		{"work", "How much did it help you in your work in your NHS role?", helped, form.Get("work")},
		{"stay", "Has it made you more or less likely to stay in the profession?",
			[]string{"Much less likely", "A little less likely", "No difference", "A little more likely", "Much more likely"}, form.Get("stay")},
	}
}

const followUpGone = "This link has expired or has already been used"

// followUp shows what a follow-up link asks, or that it is gone.
func (s *Site) followUp(w http.ResponseWriter, r *http.Request, mode string) {
	secret := chi.URLParam(r, "secret")
	kind, err := s.App.FollowUp(r.Context(), pipeline.Anonymous, secret)
	if err != nil {
		s.followUpFailed(w, r, err)
		return
	}
	if mode != "stop" && (mode == "feedback") != (kind == referral.FollowUpFeedback) {
		s.followUpFailed(w, r, pipeline.ErrNotFound) // a link of one kind on the other's page
		return
	}
	s.showFollowUp(w, r, http.StatusOK, mode, secret, nil)
}

func (s *Site) showFollowUp(w http.ResponseWriter, r *http.Request, status int, mode, secret string, problems []*pipeline.Error) {
	esc := url.PathEscape(secret)
	d := followUpPage{Mode: mode, Stop: "/follow-ups/stop/" + esc}
	title := ""
	switch mode {
	case "feedback":
		d.Action, d.Questions, d.Comment, title = "/feedback/"+esc, feedbackQuestions(r.PostForm), r.PostForm.Get("comment"), "How was your therapy?"
	case "stayed":
		d.Action, title = "/stayed/"+esc, "Are you still working in NHS psychology?"
	case "stop":
		d.Action, title = "/follow-ups/stop/"+esc, "Stop emails about your past therapy?"
	}
	s.render(w, r, status, "follow-up", page{Title: title, Errors: problems, Data: d})
}

// followUpFailed says a link is gone, or what else went wrong. A wrong
// link counts as a wrong credential.
func (s *Site) followUpFailed(w http.ResponseWriter, r *http.Request, err error) {
	if pipeline.AsError(err).Outcome != pipeline.NotFound {
		s.pageError(w, r, err)
		return
	}
	if !s.Limits.AuthFailures().Allow(r) {
		s.pageError(w, r, errTooManyAttempts)
		return
	}
	s.render(w, r, http.StatusGone, "follow-up", page{Title: followUpGone, Data: followUpPage{Heading: followUpGone,
		Text: "Each link we send works once, for a few weeks. Thank you if you have answered already: there is nothing more to do."}})
}

func (s *Site) followUpDone(w http.ResponseWriter, r *http.Request, heading, text string) {
	s.render(w, r, http.StatusOK, "follow-up", page{Title: heading, Data: followUpPage{Heading: heading, Text: text}})
}

func (s *Site) feedbackPage(w http.ResponseWriter, r *http.Request) { s.followUp(w, r, "feedback") }

// readForm reads a posted form that no signed-in page's middleware has.
func (s *Site) readForm(w http.ResponseWriter, r *http.Request) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if err := r.ParseForm(); err != nil {
		s.pageError(w, r, errMalformedForm)
		return false
	}
	return true
}

func (s *Site) feedbackSubmit(w http.ResponseWriter, r *http.Request) {
	if !s.readForm(w, r) {
		return
	}
	secret := chi.URLParam(r, "secret")
	var f referral.Feedback
	var problems []*pipeline.Error
	for _, q := range []struct {
		name string
		dst  **int
	}{{"wellbeing", &f.Wellbeing}, {"work", &f.Work}, {"stay", &f.Stay}} {
		v := r.PostForm.Get(q.name)
		if v == "" {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 5 {
			problems = append(problems, pipeline.FieldError(q.name, "Choose one of the answers, or none"))
			continue
		}
		*q.dst = &n
	}
	f.Comment = r.PostForm.Get("comment")
	if len(problems) > 0 {
		s.showFollowUp(w, r, http.StatusUnprocessableEntity, "feedback", secret, problems)
		return
	}
	err := s.App.GiveFeedback(r.Context(), pipeline.Anonymous, secret, pipeline.Given(f))
	switch e := pipeline.AsError(err); {
	case err == nil:
		s.followUpDone(w, r, "Thank you for your feedback", "It helps the network show whether it helps psychologists stay in the NHS. Nothing you sent can be traced back to you.")
	case e.Field != "":
		s.showFollowUp(w, r, int(e.Outcome), "feedback", secret, formProblems([]*pipeline.Error{e}))
	default:
		s.followUpFailed(w, r, err)
	}
}

func (s *Site) stayedPage(w http.ResponseWriter, r *http.Request) { s.followUp(w, r, "stayed") }

func (s *Site) stayedSubmit(w http.ResponseWriter, r *http.Request) {
	if !s.readForm(w, r) {
		return
	}
	secret := chi.URLParam(r, "secret")
	err := s.App.AnswerStayed(r.Context(), pipeline.Anonymous, secret, r.PostForm.Get("answer"))
	switch e := pipeline.AsError(err); {
	case err == nil:
		s.followUpDone(w, r, "Thank you for your answer", "Nothing you sent can be traced back to you.")
	case e.Field != "":
		s.showFollowUp(w, r, int(e.Outcome), "stayed", secret, []*pipeline.Error{pipeline.FieldError("answer", "Choose one of the three answers")})
	default:
		s.followUpFailed(w, r, err)
	}
}

func (s *Site) stopFollowUpsPage(w http.ResponseWriter, r *http.Request) { s.followUp(w, r, "stop") }

func (s *Site) stopFollowUpsSubmit(w http.ResponseWriter, r *http.Request) {
	if err := s.App.StopFollowUps(r.Context(), pipeline.Anonymous, chi.URLParam(r, "secret")); err != nil {
		s.followUpFailed(w, r, err)
		return
	}
	s.followUpDone(w, r, "We will not email you about your past therapy again", "Thank you for your time with the network.")
}

// feedbackView is the committee's page of what former clients said in a
// year: each question's answers as a table and as bars, drawn on the
// server (SVG, no script), and the comments.
type feedbackView struct {
	Year, Previous, Next int
	Given                referral.Cell
	Rows                 []feedbackRow
	Comments             []string
}

// feedbackRow is one question: its answers' labels, cells and bars.
type feedbackRow struct {
	ID, Question string
	Answers      []barRow
	Answered     referral.Cell
}

func feedbackRows(sum referral.FeedbackSummary) []feedbackRow {
	legends := map[string]string{}
	labels := map[string][]string{}
	for _, q := range feedbackQuestions(nil) {
		legends[q.Name], labels[q.Name] = q.Legend, q.Labels
	}
	var rows []feedbackRow
	add := func(id, question string, names []string, cells []referral.Cell, answered referral.Cell) {
		rows = append(rows, feedbackRow{ID: id, Question: question, Answers: bars(names, cells), Answered: answered})
	}
	for _, q := range sum.Questions {
		add(q.Question, legends[q.Question], labels[q.Question], q.Answers, q.Answered)
	}
	for _, st := range sum.Stayed {
		add(fmt.Sprintf("stayed-%d", st.Months), fmt.Sprintf("Still working or training in an NHS or NHS-contracted psychology role, %d months on", st.Months),
			[]string{"Yes", "No", "Would rather not say"}, st.Answers, st.Answered)
	}
	return rows
}

func (s *Site) feedbackCommentsPage(w http.ResponseWriter, r *http.Request) {
	sess, _ := currentSession(r)
	year := s.App.Today().Year
	if v := r.URL.Query().Get("year"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			s.pageError(w, r, pipeline.FieldError("year", "year must be a year such as 2026"))
			return
		}
		year = n
	}
	sum, comments, err := s.App.Feedback(r.Context(), sess.Principal, year)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	d := feedbackView{Year: year, Previous: year - 1, Next: year + 1, Given: sum.Given, Rows: feedbackRows(sum), Comments: comments}
	s.render(w, r, http.StatusOK, "committee-feedback", page{Title: fmt.Sprintf("What former clients said, %d", year), Data: d})
}
