package pages

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/wmtna/referrals/internal/pipeline"
	"github.com/wmtna/referrals/internal/referral"
)

// pauseForm is the question page "When do you want your place back?".
type pauseForm struct {
	Key             string
	Until           dateInput
	Longest, Latest string
	Example         string
}

const pauseTitle = "When do you want your place back?"

func (s *Site) pauseForm(until dateInput) pauseForm {
	latest := s.App.LatestPause()
	example := latest.AddDays(-7)
	return pauseForm{
		Key: newFormKey(), Until: until,
		Longest: referral.Weeks(s.App.Timings.MaxPause()),
		Latest:  latest.Start().Format("2 January 2006"),
		Example: fmt.Sprintf("%d %d %d", example.Day, example.Month, example.Year),
	}
}

// pausePage asks a waiting trainee until when to pause their place. Only a
// place waiting and not paused can be paused; any other goes back to the
// referral's page, which says where it stands.
func (s *Site) pausePage(w http.ResponseWriter, r *http.Request) {
	sess, _ := currentSession(r)
	v, err := s.App.Referral(r.Context(), sess.Principal, sess.Subject)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	if v.Standing == nil || v.Standing.PausedUntil != nil {
		http.Redirect(w, r, "/my-referral", http.StatusSeeOther)
		return
	}
	s.render(w, r, http.StatusOK, "pause", page{Title: pauseTitle, Data: s.pauseForm(dateInput{})})
}

func (s *Site) pauseSubmit(w http.ResponseWriter, r *http.Request) {
	sess, _ := currentSession(r)
	in := readDateInput(r.PostForm, "until", true)
	refuse := func(status int, msg string) {
		s.render(w, r, status, "pause", page{Title: pauseTitle, Data: s.pauseForm(in),
			Errors: []*pipeline.Error{pipeline.FieldError("until", "%s", msg)}})
	}
	if in.Empty() {
		refuse(http.StatusUnprocessableEntity, "Enter the date you want your place back")
		return
	}
	d, problem := in.read("The date you want your place back", true)
	if problem != "" {
		refuse(http.StatusUnprocessableEntity, problem)
		return
	}
	_, err := s.App.Pause(r.Context(), sess.Principal, sess.Subject, pipeline.Given(d.String()), formKey(r))
	switch e := pipeline.AsError(err); {
	case e == nil:
		http.Redirect(w, r, "/my-referral?paused=1", http.StatusSeeOther)
	case e.Outcome == pipeline.Conflict:
		// Offered a place, paused already, or no longer waiting: the
		// referral page says where it stands.
		http.Redirect(w, r, "/my-referral", http.StatusSeeOther)
	case e.Field == "until":
		in.Wrong = nil // the whole date, not one part of it
		refuse(int(e.Outcome), strings.Replace(e.Message, "until must", "The date you want your place back must", 1))
	default:
		s.pageError(w, r, e)
	}
}

// resumeSubmit gives a trainee their paused place back at once.
func (s *Site) resumeSubmit(w http.ResponseWriter, r *http.Request) {
	sess, _ := currentSession(r)
	_, err := s.App.Resume(r.Context(), sess.Principal, sess.Subject, pipeline.Given(struct{}{}), formKey(r))
	switch e := pipeline.AsError(err); {
	case e == nil:
		http.Redirect(w, r, "/my-referral?resumed=1", http.StatusSeeOther)
	case e.Outcome == pipeline.Conflict:
		http.Redirect(w, r, "/my-referral", http.StatusSeeOther)
	default:
		s.pageError(w, r, e)
	}
}
