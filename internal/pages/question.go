package pages

import (
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/wmtna/referrals/internal/pipeline"
)

// askSubmit sends the committee's question to the trainee, instead of a
// decline.
func (s *Site) askSubmit(w http.ResponseWriter, r *http.Request) {
	sess, _ := currentSession(r)
	id := chi.URLParam(r, "id")
	if !pipeline.ValidID(id) {
		s.pageError(w, r, pipeline.ErrNotFound)
		return
	}
	question := r.PostForm.Get("question")
	if _, err := s.App.Ask(r.Context(), sess.Principal, id, pipeline.Given(question), formKey(r)); err != nil {
		e := pipeline.AsError(err)
		switch e.Outcome {
		case pipeline.NotFound:
			s.pageError(w, r, e)
			return
		case pipeline.Conflict:
			e = alreadyReviewed(e.Current)
		}
		if e.Field == "question" && strings.HasPrefix(e.Message, "question is required") {
			e = pipeline.FieldError("question", "Enter the question for the trainee")
		}
		s.showReview(w, r, int(e.Outcome), reviewPage{Key: newFormKey(), Question: question}, formProblems([]*pipeline.Error{e}))
		return
	}
	http.Redirect(w, r, "/committee?done=ask", http.StatusSeeOther)
}

// answerSubmit sends the trainee's answer to the committee's question.
func (s *Site) answerSubmit(w http.ResponseWriter, r *http.Request) {
	sess, _ := currentSession(r)
	answer := r.PostForm.Get("answer")
	_, err := s.App.Answer(r.Context(), sess.Principal, sess.Subject, pipeline.Given(answer), formKey(r))
	switch e := pipeline.AsError(err); {
	case e == nil:
		http.Redirect(w, r, "/my-referral?answered=1", http.StatusSeeOther)
	case e.Outcome == pipeline.Conflict:
		// Answered already (a second tab), or withdrawn: the page says
		// where the referral stands.
		http.Redirect(w, r, "/my-referral", http.StatusSeeOther)
	case e.Field == "answer":
		if strings.HasPrefix(e.Message, "answer is required") {
			e = pipeline.FieldError("answer", "Enter your answer to the committee's question")
		}
		s.showMyReferral(w, r, int(e.Outcome), answer, formProblems([]*pipeline.Error{e}))
	default:
		s.pageError(w, r, e)
	}
}
