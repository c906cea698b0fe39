package httpapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"net/url"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/wmtna/referrals/internal/postgres"
	"github.com/wmtna/referrals/internal/referral"
)

// Sign-in links: staff and trainees ask for one by email address and get a
// one-time link that lasts signInLinkTTL; a trainee who has just referred
// themselves gets one that lasts traineeLinkTTL, to come back with.
const (
	signInLinkTTL  = 30 * time.Minute
	traineeLinkTTL = 7 * 24 * time.Hour
)

type signInForm struct {
	Email string
	Next  string
	Sent  bool
}

// nextFor returns where to go after signing in: next, if it is a page of
// p's own area (so a link cannot send anyone off-site), else p's home.
func nextFor(p referral.Principal, next string) string {
	home := session{Principal: p}.Home()
	if next == home || strings.HasPrefix(next, home+"/") {
		if u, err := url.Parse(next); err == nil && u.Host == "" && u.Scheme == "" && !strings.Contains(next, "//") && !strings.Contains(next, `\`) {
			return next
		}
	}
	return home
}

// cleanNext keeps a next path only if it is a plain path on this site.
func cleanNext(next string) string {
	if len(next) > 200 || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, `\?#`) {
		return ""
	}
	return next
}

func (s *Server) signInPage(w http.ResponseWriter, r *http.Request) {
	if sess, ok := currentSession(r); ok {
		http.Redirect(w, r, sess.Home(), http.StatusSeeOther)
		return
	}
	s.render(w, r, http.StatusOK, "sign-in", page{Title: "Sign in", Data: signInForm{Next: cleanNext(r.URL.Query().Get("next"))}})
}

// signInRequest emails a sign-in link to each account with the address,
// and answers the same whether there is one or not, so the form cannot be
// used to learn who is a trainee, a therapist or on the committee.
func (s *Server) signInRequest(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if err := r.ParseForm(); err != nil {
		s.pageError(w, r, &apiError{Status: http.StatusBadRequest, Code: "malformed_form", Message: "The form could not be read."})
		return
	}
	email, next := strings.TrimSpace(r.PostForm.Get("email")), cleanNext(r.PostForm.Get("next"))
	if addr, err := mail.ParseAddress(email); err != nil || addr.Address != email || len(email) > 254 {
		s.render(w, r, http.StatusUnprocessableEntity, "sign-in", page{Title: "Error: Sign in", Data: signInForm{Email: email, Next: next},
			Errors: []*apiError{badField("email", "Enter your email address, such as name@nhs.net")}})
		return
	}
	if submits, _ := s.limits(); !submits.allow(r) {
		s.pageError(w, r, &apiError{Status: http.StatusTooManyRequests, Code: "rate_limited", Message: "Too many requests from your address. Please wait a minute and try again."})
		return
	}
	ctx := r.Context()
	who, err := s.DB.SignInCandidates(ctx, email)
	if err != nil {
		s.Logger.ErrorContext(ctx, "find sign-in accounts", "err", err)
		s.pageError(w, r, errUnavailable)
		return
	}
	for _, p := range who {
		if err := s.emailSignInLink(ctx, p, email, signInLinkTTL, next, "Your sign-in link"); err != nil {
			s.Logger.ErrorContext(ctx, "email sign-in link", "role", p.Role, "err", err)
			s.pageError(w, r, errUnavailable)
			return
		}
	}
	s.Logger.InfoContext(ctx, "sign-in link requested", "links", len(who))
	s.render(w, r, http.StatusOK, "sign-in", page{Title: "Check your email", Data: signInForm{Sent: true}})
}

// emailSignInLink makes a one-time link for p and writes the email that
// carries it; the postman delivers it.
func (s *Server) emailSignInLink(ctx context.Context, p referral.Principal, email string, ttl time.Duration, next, subject string) error {
	query, home := "", (session{Principal: p}).Home()
	if next = nextFor(p, next); next != home {
		query = "?next=" + url.QueryEscape(next)
	}
	referralID := ""
	if p.Role == referral.RoleTrainee {
		referralID = p.Subject
	}
	err := s.DB.CreateSignInLink(ctx, p, ttl, referralID, func(secret string) postgres.Message {
		h := sha256.Sum256([]byte(secret))
		return postgres.Message{
			Key:       "sign-in/" + hex.EncodeToString(h[:12]),
			Recipient: email, Kind: "sign-in." + string(p.Role), Subject: subject,
			Body: "Hello,\n\nUse this link to sign in to the West Midlands Therapy Network Association's referral service. " +
				"It works once, for " + humanDuration(ttl) + ":\n\n" + strings.TrimRight(s.PublicURL, "/") + "/sign-in/" + secret + query +
				"\n\nIf you did not ask for it, you can ignore this email.\n\nWest Midlands Therapy Network Association",
		}
	})
	if err != nil {
		return err
	}
	if s.Postman != nil {
		if err := s.Postman.Dispatch(ctx); err != nil {
			// Written and committed: the worker's sweep delivers it.
			s.Logger.WarnContext(ctx, "dispatch sign-in email", "err", err)
		}
	}
	return nil
}

func humanDuration(d time.Duration) string {
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%d days", d/(24*time.Hour))
	case d >= 2*time.Hour:
		return fmt.Sprintf("%d hours", d/time.Hour)
	}
	return fmt.Sprintf("%d minutes", d/time.Minute)
}

// signInLinkPage asks for a click before spending the link: mail scanners
// open links in emails, and must not use them up.
func (s *Server) signInLinkPage(w http.ResponseWriter, r *http.Request) {
	action := "/sign-in/" + url.PathEscape(chi.URLParam(r, "secret"))
	if next := cleanNext(r.URL.Query().Get("next")); next != "" {
		action += "?next=" + url.QueryEscape(next)
	}
	s.render(w, r, http.StatusOK, "sign-in-link", page{Title: "Sign in", Data: action})
}

func (s *Server) signInWithLink(w http.ResponseWriter, r *http.Request) {
	secret := chi.URLParam(r, "secret")
	_, failures := s.limits()
	if failures.exhausted(r) {
		s.pageError(w, r, &apiError{Status: http.StatusTooManyRequests, Code: "rate_limited", Message: "Too many attempts from your address. Please wait a minute and try again."})
		return
	}
	ctx := r.Context()
	p, err := s.DB.UseSignInLink(ctx, secret)
	if errors.Is(err, referral.ErrNotFound) || len(secret) > 100 {
		failures.allow(r)
		s.render(w, r, http.StatusGone, "sign-in", page{Title: "That link has expired", Data: signInForm{},
			Notice: "That sign-in link has expired or has already been used. Enter your email address to get a new one."})
		return
	}
	if err != nil {
		s.Logger.ErrorContext(ctx, "use sign-in link", "err", err)
		s.pageError(w, r, errUnavailable)
		return
	}
	if old, ok := currentSession(r); ok {
		_ = s.DB.RevokeToken(ctx, old.token)
	}
	if err := s.startSession(w, r, p); err != nil {
		s.Logger.ErrorContext(ctx, "start session", "role", p.Role, "err", err)
		s.pageError(w, r, errUnavailable)
		return
	}
	s.Logger.InfoContext(ctx, "signed in", "role", p.Role, "subject", p.Subject)
	http.Redirect(w, r, nextFor(p, cleanNext(r.URL.Query().Get("next"))), http.StatusSeeOther)
}

func (s *Server) signOut(w http.ResponseWriter, r *http.Request) {
	sess, _ := currentSession(r)
	if err := s.DB.RevokeToken(r.Context(), sess.token); err != nil {
		s.Logger.ErrorContext(r.Context(), "sign out", "err", err)
		s.pageError(w, r, errUnavailable)
		return
	}
	s.setSessionCookie(w, r, "", -1)
	http.Redirect(w, r, "/?signed-out=1", http.StatusSeeOther)
}
