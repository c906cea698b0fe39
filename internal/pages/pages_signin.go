package pages

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/wmtna/referrals/internal/pipeline"
)

type signInForm struct {
	Email string
	Next  string
	Sent  bool
}

// cleanNext keeps a next path only if it is a plain path on this site.
func cleanNext(next string) string {
	if len(next) > 200 || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, `\?#`) {
		return ""
	}
	return next
}

func (s *Site) signInPage(w http.ResponseWriter, r *http.Request) {
	if sess, ok := currentSession(r); ok {
		http.Redirect(w, r, sess.Home(), http.StatusSeeOther)
		return
	}
	s.render(w, r, http.StatusOK, "sign-in", page{Title: "Sign in", Data: signInForm{Next: cleanNext(r.URL.Query().Get("next"))}})
}

// signInRequest asks for a sign-in link to each account with the address
// (sent after the answer, see pipeline.RequestSignIn), and answers the
// same, in the same time, whether there is one or not, so the form cannot
// be used to learn who is a trainee, a therapist or on the committee.
func (s *Site) signInRequest(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if err := r.ParseForm(); err != nil {
		s.pageError(w, r, errMalformedForm)
		return
	}
	email, next := strings.TrimSpace(r.PostForm.Get("email")), cleanNext(r.PostForm.Get("next"))
	if err := pipeline.CheckSignInAddress(email); err != nil {
		s.render(w, r, http.StatusUnprocessableEntity, "sign-in", page{Title: "Sign in", Data: signInForm{Email: email, Next: next},
			Errors: []*pipeline.Error{err}})
		return
	}
	if !s.Limits.Submits().Allow(r) {
		s.pageError(w, r, &pipeline.Error{Outcome: pipeline.TooMany, Code: "rate_limited", Message: "Too many requests from your address. Please wait a minute and try again."})
		return
	}
	if err := s.App.RequestSignIn(r.Context(), email, next); err != nil {
		s.pageError(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "sign-in", page{Title: "Check your email", Data: signInForm{Sent: true}})
}

// signInLinkPage asks for a click before spending the link: mail scanners
// open links in emails, and must not use them up.
func (s *Site) signInLinkPage(w http.ResponseWriter, r *http.Request) {
	action := "/sign-in/" + url.PathEscape(chi.URLParam(r, "secret"))
	if next := cleanNext(r.URL.Query().Get("next")); next != "" {
		action += "?next=" + url.QueryEscape(next)
	}
	s.render(w, r, http.StatusOK, "sign-in-link", page{Title: "Sign in", Data: action})
}

func (s *Site) signInWithLink(w http.ResponseWriter, r *http.Request) {
	secret := chi.URLParam(r, "secret")
	ctx := r.Context()
	// The link is tried first, so a right one works whatever others at the
	// same address sent; only a wrong one is counted, and refused once the
	// address has spent its budget.
	p, err := s.App.UseSignInLink(ctx, secret)
	if err == pipeline.ErrLinkUsed {
		if !s.Limits.AuthFailures().Allow(r) {
			s.pageError(w, r, errTooManyAttempts)
			return
		}
		s.render(w, r, http.StatusGone, "sign-in", page{Title: "That link has expired", Data: signInForm{},
			Notice: "That sign-in link has expired or has already been used. Enter your email address to get a new one."})
		return
	}
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	if err := s.startSession(w, r, p); err != nil {
		s.pageError(w, r, err)
		return
	}
	http.Redirect(w, r, pipeline.NextFor(p, cleanNext(r.URL.Query().Get("next"))), http.StatusSeeOther)
}

func (s *Site) signOut(w http.ResponseWriter, r *http.Request) {
	sess, _ := currentSession(r)
	if err := s.App.SignOut(r.Context(), sess.token); err != nil {
		s.pageError(w, r, err)
		return
	}
	s.setSessionCookie(w, r, "", -1)
	http.Redirect(w, r, "/?signed-out=1", http.StatusSeeOther)
}
