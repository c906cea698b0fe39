package pages

import (
	"net/http"

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
		s.reviewRefused(w, r, err, reviewPage{Question: question})
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
		s.showMyReferral(w, r, int(e.Outcome), answer, formProblems([]*pipeline.Error{e}))
	default:
		s.pageError(w, r, e)
	}
}
