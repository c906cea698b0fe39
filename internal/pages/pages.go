// Package pages serves the web pages, for the people who will never use
// curl: trainees, committee members and therapists. Each page asks the use
// cases of package pipeline directly, as the signed-in person, so the
// access table, validation, audit log and idempotency cover every click
// exactly as they cover the API; the pages add HTML, sessions and CSRF
// protection. They are served by the API's router (httpapi.Server.Pages).
package pages

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	_ "time/tzdata" // pages show times in Europe/London on any machine

	"github.com/go-chi/chi/v5"

	"github.com/wmtna/referrals/internal/pipeline"
	"github.com/wmtna/referrals/internal/ratelimit"
	"github.com/wmtna/referrals/internal/referral"
)

//go:embed templates
var pageFS embed.FS

// sessionCookie holds a browser session: a short-lived token, issued when
// a one-time sign-in link is used (pipeline.StartSession).
const sessionCookie = "wmtna_session"

// maxBody bounds every form a page posts.
const maxBody = 64 << 10

// Site serves the web pages.
type Site struct {
	App *pipeline.Service
	// Limits are per client address, shared with the API.
	Limits *ratelimit.Limits
	Logger *slog.Logger
	// Contact is where people write to the network (every page's footer
	// and the privacy notice give it); Retention how long personal details
	// are kept after a referral ends, as the privacy notice says.
	Contact   string
	Retention time.Duration
}

var pageTemplates = func() map[string]*template.Template {
	funcs := template.FuncMap{
		"crisis":          func() string { return referral.CrisisSupport },
		"date":            func(t time.Time) string { return t.In(referral.London).Format("2 January 2006") },
		"datetime":        func(t time.Time) string { return t.In(referral.London).Format("2 January 2006, 15:04") },
		"isodate":         func(t time.Time) string { return t.In(referral.London).Format("2006-01-02") },
		"since":           since,
		"ago":             ago,
		"statusText":      func(s referral.Status) string { return statusText[s].Headline },
		"nextText":        func(s referral.Status) string { return statusText[s].Next },
		"reasonText":      referral.ReasonText,
		"programme":       referral.ProgrammeName,
		"codeText":        func(code string) string { return codeText[code] },
		"free":            func(capacity, used int) int { return max(capacity-used, 0) },
		"label":           statusLabel,
		"day":             day,
		"month":           month,
		"waited":          waited,
		"therapistStatus": therapistStatus,
		"split":           strings.Split,
		"inc":             func(i int) int { return i + 1 },
	}
	names, err := fs.Glob(pageFS, "templates/*.html")
	if err != nil {
		panic(err)
	}
	out := map[string]*template.Template{}
	for _, n := range names {
		if n == "templates/layout.html" {
			continue
		}
		name := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		out[name] = template.Must(template.New(name).Funcs(funcs).ParseFS(pageFS, "templates/layout.html", n))
	}
	return out
}()

// page is what every template gets.
type page struct {
	Title   string
	Contact string
	Session *session
	CSRF    string
	Notice  string
	Errors  []*pipeline.Error
	Data    any
}

// ErrorFor returns the message for a form field, or "".
func (p page) ErrorFor(field string) string {
	for _, e := range p.Errors {
		if e.Field == field {
			return e.Message
		}
	}
	return ""
}

// render writes a page. The security headers allow the one stylesheet and
// nothing else: no scripts at all, forms posting only to this site.
func (s *Site) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) {
	t, ok := pageTemplates[name]
	if !ok {
		panic("no page template " + name)
	}
	if sess, ok := currentSession(r); ok {
		p.Session, p.CSRF = &sess, csrfToken(sess.token)
	}
	p.Contact = s.Contact
	if len(p.Errors) > 0 {
		// GOV.UK: a page showing errors says so first in its title, which
		// is the first thing a screen reader reads.
		p.Title = "Error: " + p.Title
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", p); err != nil {
		s.Logger.ErrorContext(r.Context(), "render page", "page", name, "err", err)
		http.Error(w, "something went wrong on our side", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func pageHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		next.ServeHTTP(w, r)
	})
}

// Routes are the pages' routes, on the same router as the API.
// Cross-origin form posts are refused before anything else
// (http.CrossOriginProtection, from the Fetch metadata browsers send); forms
// of a signed-in person carry a token bound to their session as well.
func (s *Site) Routes(r chi.Router) {
	r.Use(pageHeaders, http.NewCrossOriginProtection().Handler, s.withSession)
	r.Get("/", s.homePage)
	r.Get("/privacy", s.privacyPage)
	r.Get("/accessibility", s.accessibilityPage)
	r.Get("/static/site.css", serveCSS)
	r.Get("/refer", s.referPage)
	r.Post("/refer", s.referSubmit)
	r.Get("/refer/sent", s.referSentPage)
	r.Get("/confirm/{secret}", s.confirmLinkPage)
	r.Post("/confirm/{secret}", s.confirmWithLink)
	r.Get("/sign-in", s.signInPage)
	r.Post("/sign-in", s.signInRequest)
	r.Get("/sign-in/{secret}", s.signInLinkPage)
	r.Post("/sign-in/{secret}", s.signInWithLink)
	r.Get("/feedback/{secret}", s.feedbackPage)
	r.Post("/feedback/{secret}", s.feedbackSubmit)
	r.Get("/stayed/{secret}", s.stayedPage)
	r.Post("/stayed/{secret}", s.stayedSubmit)
	r.Get("/follow-ups/stop/{secret}", s.stopFollowUpsPage)
	r.Post("/follow-ups/stop/{secret}", s.stopFollowUpsSubmit)
	r.With(s.signedIn()).Post("/sign-out", s.signOut)
	r.With(s.signedIn(referral.RoleTrainee)).Get("/my-referral", s.myReferralPage)
	r.With(s.signedIn(referral.RoleTrainee)).Get("/my-referral/withdraw", s.withdrawPage)
	r.With(s.signedIn(referral.RoleTrainee)).Post("/my-referral/withdraw", s.withdrawSubmit)
	r.With(s.signedIn(referral.RoleTrainee)).Get("/my-referral/check-in", s.checkInPage)
	r.With(s.signedIn(referral.RoleTrainee)).Post("/my-referral/check-in", s.checkInSubmit)
	r.With(s.signedIn(referral.RoleTrainee)).Get("/my-referral/pause", s.pausePage)
	r.With(s.signedIn(referral.RoleTrainee)).Post("/my-referral/pause", s.pauseSubmit)
	r.With(s.signedIn(referral.RoleTrainee)).Post("/my-referral/resume", s.resumeSubmit)
	r.With(s.signedIn(referral.RoleTrainee)).Post("/my-referral/answer", s.answerSubmit)
	r.With(s.signedIn(referral.RoleCommittee)).Get("/committee", s.committeePage)
	r.With(s.signedIn(referral.RoleCommittee)).Get("/committee/referrals/{id}", s.committeeReferralPage)
	r.With(s.signedIn(referral.RoleCommittee)).Get("/committee/referrals/{id}/approve", s.approvePage)
	r.With(s.signedIn(referral.RoleCommittee)).Post("/committee/referrals/{id}/review", s.reviewSubmit)
	r.With(s.signedIn(referral.RoleCommittee)).Post("/committee/referrals/{id}/question", s.askSubmit)
	r.With(s.signedIn(referral.RoleCommittee)).Get("/committee/feedback", s.feedbackCommentsPage)
	r.With(s.signedIn(referral.RoleCommittee)).Get("/committee/statistics", s.statisticsPage)
	r.With(s.signedIn(referral.RoleCommittee)).Get("/committee/statistics/{year}", s.annualSummaryPage)
	r.With(s.signedIn(referral.RoleCommittee)).Get("/committee/closed", s.closedPage)
	r.With(s.signedIn(referral.RoleCommittee)).Get("/committee/find", s.findReferral)
	r.With(s.signedIn(referral.RoleCommittee)).Get("/committee/areas", s.areasList)
	r.With(s.signedIn(referral.RoleCommittee)).Post("/committee/areas", s.areaSubmit)
	s.committeeRoutes(r)
	r.With(s.signedIn(referral.RoleTherapist)).Get("/therapist", s.therapistPage)
	r.With(s.signedIn(referral.RoleTherapist)).Post("/therapist/offers/{id}/{answer:accept|decline}", s.offerSubmit)
	r.With(s.signedIn(referral.RoleTherapist)).Post("/therapist/referrals/{id}/end", s.endSubmit)
	// The therapist register, kept by the committee, and a therapist's own
	// availability (pages_register.go).
	s.registerRoutes(r)
}

// waited says a wait in weeks (or days, under two weeks), rounded: a
// median of waits is rough, and should read so.
func waited(d time.Duration) string {
	days := int(d.Round(24*time.Hour) / (24 * time.Hour))
	switch {
	case days < 1:
		return "less than a day"
	case days == 1:
		return "1 day"
	case days < 14:
		return fmt.Sprintf("%d days", days)
	}
	return fmt.Sprintf("%d weeks", (days+3)/7)
}

func serveCSS(w http.ResponseWriter, _ *http.Request) {
	b, _ := pageFS.ReadFile("templates/site.css")
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	_, _ = w.Write(b)
}

// session is a signed-in browser: who, and the token its cookie holds.
type session struct {
	referral.Principal
	token string
}

// Home is where the person's pages start.
func (s session) Home() string { return pipeline.Home(s.Principal) }

type sessionKey struct{}

// withSession resolves the session cookie, when there is one, to a session.
// An unknown or expired cookie is cleared, and counts as a wrong credential
// as a wrong bearer token does: past the client's budget the request is
// refused (the cookie still cleared, so a person with a stale one can carry
// on at once). A right cookie is never refused for what others sent.
func (s *Site) withSession(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie(sessionCookie)
		if err != nil || c.Value == "" {
			next.ServeHTTP(w, r)
			return
		}
		p, err := s.App.Authenticate(r.Context(), c.Value)
		if err != nil {
			if pipeline.AsError(err).Outcome == pipeline.Unauthenticated {
				s.setSessionCookie(w, r, "", -1)
				if !s.Limits.AuthFailures().Allow(r) {
					s.pageError(w, r, errTooManyAttempts)
					return
				}
				next.ServeHTTP(w, r)
				return
			}
			s.pageError(w, r, err)
			return
		}
		ctx := context.WithValue(r.Context(), sessionKey{}, session{Principal: p, token: c.Value})
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

func currentSession(r *http.Request) (session, bool) {
	sess, ok := r.Context().Value(sessionKey{}).(session)
	return sess, ok
}

// signedIn sends people who are not signed in (as one of roles, if given)
// to the sign-in page, and checks the CSRF token of every form they post.
func (s *Site) signedIn(roles ...referral.Role) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			sess, ok := currentSession(r)
			if !ok {
				if r.Method == http.MethodGet {
					http.Redirect(w, r, "/sign-in?next="+url.QueryEscape(r.URL.Path), http.StatusSeeOther)
					return
				}
				s.pageError(w, r, &pipeline.Error{Outcome: pipeline.Unauthenticated, Code: "unauthenticated", Message: "Your session has ended. Please sign in again."})
				return
			}
			if len(roles) > 0 && !slices.Contains(roles, sess.Role) {
				s.pageError(w, r, &pipeline.Error{Outcome: pipeline.Forbidden, Code: "forbidden", Message: "This page is not for your account."})
				return
			}
			if r.Method == http.MethodPost {
				r.Body = http.MaxBytesReader(w, r.Body, maxBody)
				if err := r.ParseForm(); err != nil {
					s.pageError(w, r, errMalformedForm)
					return
				}
				if subtle.ConstantTimeCompare([]byte(r.PostForm.Get("csrf")), []byte(csrfToken(sess.token))) != 1 {
					s.pageError(w, r, &pipeline.Error{Outcome: pipeline.Forbidden, Code: "csrf", Message: "This form has expired. Please go back, reload the page and try again."})
					return
				}
			}
			next.ServeHTTP(w, r)
		})
	}
}

// csrfToken is bound to the session: derived from its secret token, so it
// needs no storage and dies with the session.
func csrfToken(sessionToken string) string {
	m := hmac.New(sha256.New, []byte(sessionToken))
	m.Write([]byte("wmtna csrf v1"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// setSessionCookie sets (or, with maxAge < 0, clears) the session cookie:
// HttpOnly, SameSite=Lax, and Secure when the site is served over TLS.
func (s *Site) setSessionCookie(w http.ResponseWriter, r *http.Request, token string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: token, Path: "/", MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteLaxMode,
		Secure: r.TLS != nil || strings.HasPrefix(s.App.PublicURL, "https://"),
	})
}

// startSession signs the browser in as p with a fresh short-lived token.
func (s *Site) startSession(w http.ResponseWriter, r *http.Request, p referral.Principal) error {
	// A browser holds one session: whoever it was signed in as before is
	// signed out.
	if old, ok := currentSession(r); ok {
		_ = s.App.SignOut(r.Context(), old.token)
	}
	token, err := s.App.StartSession(r.Context(), p)
	if err != nil {
		return err
	}
	s.setSessionCookie(w, r, token, int(pipeline.SessionTTL/time.Second))
	return nil
}

var errTooManyAttempts = &pipeline.Error{Outcome: pipeline.TooMany, Code: "rate_limited", Message: "Too many attempts from your address. Please wait a minute and try again."}

var errMalformedForm = &pipeline.Error{Outcome: pipeline.Malformed, Code: "malformed_form", Message: "The form could not be read."}

// pageError shows an error as a page, in plain words: a use case's
// refusal as it is, anything else (which the use case logged) as
// "unavailable".
func (s *Site) pageError(w http.ResponseWriter, r *http.Request, err error) {
	e := pipeline.AsError(err)
	title := "Sorry, there is a problem"
	switch e.Outcome {
	case pipeline.NotFound:
		title = "Page not found"
		if e.Message == pipeline.ErrNotFound.Message {
			// The API's words; a person gets GOV.UK's.
			e = &pipeline.Error{Outcome: e.Outcome, Code: e.Code, Message: "If you typed the web address, check it is correct. If you pasted it, check you copied all of it."}
		}
	case pipeline.Unavailable:
		title = "Sorry, the service is unavailable"
	}
	s.render(w, r, int(e.Outcome), "error", page{Title: title, Data: e})
}

// NotFound is the page for a path nobody serves. It knows who is signed
// in, as every other page does, so its menu is theirs.
func (s *Site) NotFound(w http.ResponseWriter, r *http.Request) {
	pageHeaders(s.withSession(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.pageError(w, r, pipeline.ErrNotFound) }))).ServeHTTP(w, r)
}

// newFormKey is a random key a form carries, the use case's idempotency key,
// so that posting the same form twice (a double click, a resubmit after a
// timeout) acts once.
func newFormKey() string {
	var b [18]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func since(t time.Time) string {
	d := time.Since(t)
	days := int(d.Hours() / 24)
	switch {
	case days >= 14:
		return fmt.Sprintf("%d weeks", days/7)
	case days >= 2:
		return fmt.Sprintf("%d days", days)
	case d >= 2*time.Hour:
		return fmt.Sprintf("%d hours", int(d.Hours()))
	case d >= 2*time.Minute:
		return fmt.Sprintf("%d minutes", int(d.Minutes()))
	}
	return "just now"
}

// ago says how long ago t was: "3 days ago", or "just now" (never "just
// now ago").
func ago(t time.Time) string {
	if s := since(t); s != "just now" {
		return s + " ago"
	}
	return "just now"
}

// day writes a calendar day as people read it: "1 July 2028".
func day(d *referral.Date) string {
	if d == nil {
		return ""
	}
	return d.Start().Format("2 January 2006")
}

// month writes the month of a day as people read it: "October 2025".
func month(d referral.Date) string { return d.Start().Format("January 2006") }

// statusLabel names a status for staff: "awaiting_review" is "Awaiting review".
func statusLabel(s referral.Status) string {
	l := strings.ReplaceAll(string(s), "_", " ")
	if l == "" {
		return l
	}
	return strings.ToUpper(l[:1]) + l[1:]
}

// statusText says where a referral is, and what happens next, in plain
// English for the trainee.
var statusText = map[referral.Status]struct{ Headline, Next string }{
	referral.StatusSubmitted: {"We have received your referral",
		"We are checking it against the network's rules. This usually takes a moment: reload this page."},
	referral.StatusIneligible: {"We cannot offer you a place through the network",
		"Your referral does not meet the network's rules, so it has closed."},
	referral.StatusAwaitingReview: {"Your referral is waiting for the committee",
		"The committee reviews each referral. We will email you when they have decided."},
	referral.StatusAwaitingInformation: {"The committee has a question for you",
		"Before it decides on your referral, the committee would like to know something. Please answer below."},
	referral.StatusDeclined: {"The committee could not offer you a place",
		"Your referral has closed. The committee's reason is in the timeline below."},
	referral.StatusMatching: {"Your referral is approved: we are looking for a therapist",
		"We are offering your referral to a therapist with a free place."},
	referral.StatusOffered: {"Your referral is approved and offered to a therapist",
		"A therapist is deciding whether they can take it. If they cannot, we offer it to the next one."},
	referral.StatusWaitlisted: {"You are on the waiting list",
		"No therapist has a free place just now. Places go in the order referrals were approved. We cannot promise a date, but we will email you as soon as a therapist accepts."},
	referral.StatusMatched: {"Matched: a therapist has accepted your referral",
		"Your therapist will contact you to arrange your first session."},
	referral.StatusEnded: {"Your therapy has ended",
		"We hope it helped. You are welcome to refer yourself again while you are eligible."},
	referral.StatusWithdrawn: {"You have withdrawn your referral",
		"You are welcome to refer yourself again while you are eligible."},
	referral.StatusLapsed: {"Your referral has closed",
		"No place became free before your eligibility ended (three months before you are due to qualify)."},
	referral.StatusClosedNoResponse: {"Your referral has closed",
		"We asked you something and did not hear back in time. You are welcome to refer yourself again while you are eligible."},
}

// codeText names the coded reasons people choose from or read.
var codeText = map[string]string{
	referral.CodeCommitteeDeclined:    "The committee declined the referral",
	referral.CodeDuplicate:            "A duplicate of another referral",
	referral.CodeIncomplete:           "Not enough information to decide",
	referral.CodeIneligibleEmployer:   "The employer is not part of the network",
	referral.CodeIneligibleProgramme:  "The programme is not one the network serves",
	referral.CodeIneligibleCutoff:     "Too close to qualifying",
	referral.CodeTherapistCapacity:    "I have no capacity for this referral",
	referral.CodeTherapistConflict:    "A conflict of interest (I know, teach, supervise or manage this trainee)",
	referral.CodeWithdrawnByTrainee:   "Withdrawn",
	referral.CodeNoResponse:           "No answer to a check-in",
	referral.CodeEligibilityLapsed:    "Eligibility ended",
	referral.CodeEligible:             "Eligible",
	referral.CodeApproved:             "Approved by the committee",
	referral.CodeNoFreePlace:          "No free place yet",
	referral.CodePlaceReserved:        "A place was reserved with a therapist",
	referral.CodeOfferAccepted:        "A therapist accepted",
	referral.CodeOfferExpired:         "An offer was not answered in time",
	referral.CodeTherapyEnded:         "Therapy ended",
	referral.CodeStillWaiting:         "Still waiting",
	referral.CodePaused:               "Place paused",
	referral.CodeResumed:              "Place resumed",
	referral.CodePauseEnded:           "Pause ended",
	referral.CodeInformationRequested: "The committee asked a question",
	referral.CodeInformationGiven:     "The trainee answered",
}
