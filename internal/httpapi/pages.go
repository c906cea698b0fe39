package httpapi

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"time"
	_ "time/tzdata" // pages show times in Europe/London on any machine

	"github.com/go-chi/chi/v5"

	"github.com/wmtna/referrals/internal/referral"
)

// The web pages are for the people who will never use curl: trainees,
// committee members and therapists. They are a client of the JSON API,
// called in-process with the signed-in person's token (see callAPI), so
// the access table, validation, audit log and idempotency of the API cover
// every click; the pages add HTML, sessions and CSRF protection.

//go:embed pages
var pageFS embed.FS

// sessionCookie holds a browser session: an ordinary API token, short-lived,
// issued when a one-time sign-in link is used.
const sessionCookie = "wmtna_session"

// sessionTTL is how long a browser stays signed in.
const sessionTTL = 12 * time.Hour

var london = func() *time.Location {
	l, err := time.LoadLocation("Europe/London")
	if err != nil {
		panic(err) // time/tzdata is embedded
	}
	return l
}()

var pageTemplates = func() map[string]*template.Template {
	funcs := template.FuncMap{
		"crisis":     func() string { return referral.CrisisSupport },
		"date":       func(t time.Time) string { return t.In(london).Format("2 January 2006") },
		"datetime":   func(t time.Time) string { return t.In(london).Format("2 January 2006, 15:04") },
		"isodate":    func(t time.Time) string { return t.In(london).Format("2006-01-02") },
		"since":      since,
		"statusText": func(s referral.Status) string { return statusText[s].Headline },
		"nextText":   func(s referral.Status) string { return statusText[s].Next },
		"reasonText": referral.ReasonText,
		"programme":  programmeName,
		"codeText":   func(code string) string { return codeText[code] },
		"free":       func(capacity, used int) int { return max(capacity-used, 0) },
		"label":      statusLabel,
		"day":        day,
	}
	names, err := fs.Glob(pageFS, "pages/*.html")
	if err != nil {
		panic(err)
	}
	out := map[string]*template.Template{}
	for _, n := range names {
		if n == "pages/layout.html" {
			continue
		}
		name := strings.TrimSuffix(strings.TrimPrefix(n, "pages/"), ".html")
		out[name] = template.Must(template.New(name).Funcs(funcs).ParseFS(pageFS, "pages/layout.html", n))
	}
	return out
}()

// page is what every template gets.
type page struct {
	Title   string
	Session *session
	CSRF    string
	Notice  string
	Errors  []*apiError
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
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) {
	t, ok := pageTemplates[name]
	if !ok {
		panic("no page template " + name)
	}
	if sess, ok := currentSession(r); ok {
		p.Session, p.CSRF = &sess, csrfToken(sess.token)
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

// pageRoutes are the pages' routes, on the same router as the API.
// Cross-origin form posts are refused before anything else
// (http.CrossOriginProtection, from the Fetch metadata browsers send); forms
// of a signed-in person carry a token bound to their session as well.
func (s *Server) pageRoutes(r chi.Router) {
	r.Use(pageHeaders, http.NewCrossOriginProtection().Handler, s.withSession)
	r.Get("/", s.homePage)
	r.Get("/static/site.css", serveCSS)
	r.Get("/refer", s.referPage)
	r.Post("/refer", s.referSubmit)
	r.Get("/sign-in", s.signInPage)
	r.Post("/sign-in", s.signInRequest)
	r.Get("/sign-in/{secret}", s.signInLinkPage)
	r.Post("/sign-in/{secret}", s.signInWithLink)
	r.With(s.signedIn()).Post("/sign-out", s.signOut)
	r.With(s.signedIn(referral.RoleTrainee)).Get("/my-referral", s.myReferralPage)
	r.With(s.signedIn(referral.RoleTrainee)).Get("/my-referral/withdraw", s.withdrawPage)
	r.With(s.signedIn(referral.RoleTrainee)).Post("/my-referral/withdraw", s.withdrawSubmit)
	r.With(s.signedIn(referral.RoleTrainee)).Get("/my-referral/check-in", s.checkInPage)
	r.With(s.signedIn(referral.RoleTrainee)).Post("/my-referral/check-in", s.checkInSubmit)
	r.With(s.signedIn(referral.RoleCommittee)).Get("/committee", s.committeePage)
	r.With(s.signedIn(referral.RoleCommittee)).Get("/committee/referrals/{id}", s.committeeReferralPage)
	r.With(s.signedIn(referral.RoleCommittee)).Post("/committee/referrals/{id}/review", s.reviewSubmit)
	r.With(s.signedIn(referral.RoleTherapist)).Get("/therapist", s.therapistPage)
	r.With(s.signedIn(referral.RoleTherapist)).Post("/therapist/offers/{id}/{answer:accept|decline}", s.offerSubmit)
	r.With(s.signedIn(referral.RoleTherapist)).Post("/therapist/referrals/{id}/end", s.endSubmit)
}

func serveCSS(w http.ResponseWriter, _ *http.Request) {
	b, _ := pageFS.ReadFile("pages/site.css")
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
func (s session) Home() string {
	switch s.Role {
	case referral.RoleTrainee:
		return "/my-referral"
	case referral.RoleCommittee:
		return "/committee"
	case referral.RoleTherapist:
		return "/therapist"
	}
	return "/"
}

type sessionKey struct{}

// withSession resolves the session cookie, when there is one, to a session.
// An unknown or expired cookie is cleared.
func (s *Server) withSession(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie(sessionCookie)
		if err != nil || c.Value == "" || len(c.Value) > 200 {
			next.ServeHTTP(w, r)
			return
		}
		p, err := s.DB.Authenticate(r.Context(), c.Value)
		switch {
		case errors.Is(err, referral.ErrNotFound):
			s.setSessionCookie(w, r, "", -1)
			next.ServeHTTP(w, r)
			return
		case err != nil:
			s.Logger.ErrorContext(r.Context(), "authenticate session", "err", err)
			s.pageError(w, r, errUnavailable)
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
func (s *Server) signedIn(roles ...referral.Role) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			sess, ok := currentSession(r)
			if !ok {
				if r.Method == http.MethodGet {
					http.Redirect(w, r, "/sign-in?next="+url.QueryEscape(r.URL.Path), http.StatusSeeOther)
					return
				}
				s.pageError(w, r, &apiError{Status: http.StatusUnauthorized, Code: "unauthenticated", Message: "Your session has ended. Please sign in again."})
				return
			}
			if len(roles) > 0 && !containsRole(roles, sess.Role) {
				s.pageError(w, r, &apiError{Status: http.StatusForbidden, Code: "forbidden", Message: "This page is not for your account."})
				return
			}
			if r.Method == http.MethodPost {
				r.Body = http.MaxBytesReader(w, r.Body, maxBody)
				if err := r.ParseForm(); err != nil {
					s.pageError(w, r, &apiError{Status: http.StatusBadRequest, Code: "malformed_form", Message: "The form could not be read."})
					return
				}
				if subtle.ConstantTimeCompare([]byte(r.PostForm.Get("csrf")), []byte(csrfToken(sess.token))) != 1 {
					s.pageError(w, r, &apiError{Status: http.StatusForbidden, Code: "csrf", Message: "This form has expired. Please go back, reload the page and try again."})
					return
				}
			}
			next.ServeHTTP(w, r)
		})
	}
}

func containsRole(roles []referral.Role, r referral.Role) bool {
	for _, x := range roles {
		if x == r {
			return true
		}
	}
	return false
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
func (s *Server) setSessionCookie(w http.ResponseWriter, r *http.Request, token string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: token, Path: "/", MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteLaxMode,
		Secure: r.TLS != nil || strings.HasPrefix(s.PublicURL, "https://"),
	})
}

// startSession signs the browser in as p with a fresh short-lived token.
func (s *Server) startSession(w http.ResponseWriter, r *http.Request, p referral.Principal) error {
	expires := time.Now().Add(sessionTTL)
	token, err := s.DB.IssueToken(r.Context(), p.Role, p.Subject, &expires)
	if err != nil {
		return err
	}
	s.setSessionCookie(w, r, token, int(sessionTTL/time.Second))
	return nil
}

// pageError shows an error as a page, in plain words.
func (s *Server) pageError(w http.ResponseWriter, r *http.Request, e *apiError) {
	title := "Sorry, there is a problem"
	switch e.Status {
	case http.StatusNotFound:
		title = "Page not found"
	case http.StatusServiceUnavailable:
		title = "Sorry, the service is unavailable"
	}
	s.render(w, r, e.Status, "error", page{Title: title, Data: e})
}

// apiResult is the API's answer to an in-process call.
type apiResult struct {
	Status int
	Body   []byte
}

func (a apiResult) ok() bool { return a.Status >= 200 && a.Status < 300 }

// decode reads a successful answer into v.
func (a apiResult) decode(v any) error { return json.Unmarshal(a.Body, v) }

// err returns the API's error; nil for a success.
func (a apiResult) err() *apiError {
	if a.ok() {
		return nil
	}
	var body struct {
		Error *apiError `json:"error"`
	}
	if json.Unmarshal(a.Body, &body) != nil || body.Error == nil {
		return &apiError{Status: a.Status, Code: "unexpected", Message: "something went wrong on our side"}
	}
	body.Error.Status = a.Status
	return body.Error
}

// callAPI sends one request to the JSON API in-process, as the signed-in
// person (token) from the page request's address, and returns its answer.
func (s *Server) callAPI(r *http.Request, token, method, path string, body any, idempotencyKey string) apiResult {
	var buf bytes.Buffer
	if body != nil {
		if err := json.NewEncoder(&buf).Encode(body); err != nil {
			panic(fmt.Sprintf("encode API request: %v", err))
		}
	}
	// A fresh chi routing context: the page's own would route the call as
	// if it were the page.
	ctx := context.WithValue(r.Context(), chi.RouteCtxKey, (*chi.Context)(nil))
	req, err := http.NewRequestWithContext(ctx, method, path, &buf)
	if err != nil {
		panic(fmt.Sprintf("API request %s %s: %v", method, path, err))
	}
	req.RemoteAddr = r.RemoteAddr
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if idempotencyKey != "" {
		req.Header.Set("Idempotency-Key", idempotencyKey)
	}
	rec := &recorder{header: http.Header{}, status: http.StatusOK}
	s.Handler().ServeHTTP(rec, req)
	return apiResult{Status: rec.status, Body: rec.body.Bytes()}
}

// recorder is the http.ResponseWriter of an in-process API call.
type recorder struct {
	header      http.Header
	status      int
	wroteHeader bool
	body        bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(status int) {
	if !r.wroteHeader {
		r.status, r.wroteHeader = status, true
	}
}
func (r *recorder) Write(b []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return r.body.Write(b)
}

// newFormKey is a random key a form carries, sent as the Idempotency-Key,
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

// day writes a YYYY-MM-DD date as people read it: "1 July 2028".
func day(iso string) string {
	d, err := time.Parse("2006-01-02", iso)
	if err != nil {
		return iso
	}
	return d.Format("2 January 2006")
}

// statusLabel names a status for staff: "awaiting_review" is "Awaiting review".
func statusLabel(s referral.Status) string {
	l := strings.ReplaceAll(string(s), "_", " ")
	if l == "" {
		return l
	}
	return strings.ToUpper(l[:1]) + l[1:]
}

var programmeNames = map[string]string{
	"clinical": "Clinical", "counselling": "Counselling", "educational": "Educational", "forensic": "Forensic",
	"health": "Health", "occupational": "Occupational", "sport_exercise": "Sport and exercise",
}

func programmeName(code string) string {
	if n, ok := programmeNames[code]; ok {
		return n + " psychology"
	}
	return code
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
		"We asked whether you still wanted a place and did not hear back. You are welcome to refer yourself again while you are eligible."},
}

// codeText names the coded reasons people choose from or read.
var codeText = map[string]string{
	referral.CodeCommitteeDeclined:   "The committee declined the referral",
	referral.CodeDuplicate:           "A duplicate of another referral",
	referral.CodeIncomplete:          "Not enough information to decide",
	referral.CodeIneligibleEmployer:  "The employer is not part of the network",
	referral.CodeIneligibleProgramme: "The programme is not one the network serves",
	referral.CodeIneligibleCutoff:    "Too close to qualifying",
	referral.CodeTherapistCapacity:   "I have no capacity for this referral",
	referral.CodeTherapistConflict:   "A conflict of interest (I know, teach, supervise or manage this trainee)",
	referral.CodeWithdrawnByTrainee:  "Withdrawn",
	referral.CodeNoResponse:          "No answer to a check-in",
	referral.CodeEligibilityLapsed:   "Eligibility ended",
	referral.CodeEligible:            "Eligible",
	referral.CodeApproved:            "Approved by the committee",
	referral.CodeNoFreePlace:         "No free place yet",
	referral.CodePlaceReserved:       "A place was reserved with a therapist",
	referral.CodeOfferAccepted:       "A therapist accepted",
	referral.CodeOfferExpired:        "An offer was not answered in time",
	referral.CodeTherapyEnded:        "Therapy ended",
	referral.CodeStillWaiting:        "Still waiting",
}
