package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/wmtna/referrals/internal/letters"
	"github.com/wmtna/referrals/internal/postgres"
	"github.com/wmtna/referrals/internal/referral"
)

// Sign-in links: staff and trainees ask for one by email address and get a
// one-time link that lasts SignInLinkTTL. A self-referral's address gets a
// link to confirm it that lasts ConfirmLinkTTL: long enough for a weekend,
// short enough that what was typed by someone who never confirms is soon
// deleted.
const (
	SignInLinkTTL  = 30 * time.Minute
	ConfirmLinkTTL = 72 * time.Hour
	// SessionTTL is how long a browser stays signed in.
	SessionTTL = 12 * time.Hour
)

// Authenticate resolves a token (a bearer token, or a browser session's)
// to its principal; an unknown, expired or revoked one is Unauthenticated.
func (s *Service) Authenticate(ctx context.Context, token string) (referral.Principal, error) {
	if token == "" || len(token) > 200 {
		return referral.Principal{}, ErrUnauthenticated
	}
	p, err := s.DB.Authenticate(ctx, token)
	switch {
	case errors.Is(err, referral.ErrNotFound):
		return p, ErrUnauthenticated
	case err != nil:
		return p, s.failed(ctx, "authenticate", "", err)
	}
	return p, nil
}

// Home is where a person's pages start.
func Home(p referral.Principal) string {
	switch p.Role {
	case referral.RoleTrainee:
		return "/my-referral"
	case referral.RoleCommittee:
		return "/committee"
	case referral.RoleTherapist:
		return "/therapist"
	}
	return "/"
}

// NextFor returns where to go after signing in: next, if it is a page of
// p's own area (so a link cannot send anyone off-site, or to another
// person's pages), else p's home.
//
// The prefix is checked on the path as a browser will resolve it, so dot
// segments ("/committee/../../x") are refused rather than trusted, and so is
// anything a browser could turn into one or into another host: encoded dots,
// slashes and backslashes (WHATWG URL parsing treats "%2e%2e" as ".."),
// backslashes, "//", and tabs, line breaks or other bytes outside printable
// ASCII (browsers silently drop tabs and line breaks from URLs). The links
// the service makes itself never contain any of these.
func NextFor(p referral.Principal, next string) string {
	home := Home(p)
	for i := 0; i < len(next); i++ {
		if next[i] <= ' ' || next[i] >= 0x7f || next[i] == '\\' {
			return home
		}
	}
	lower := strings.ToLower(next)
	for _, bad := range []string{"//", "%2e", "%2f", "%5c"} {
		if strings.Contains(lower, bad) {
			return home
		}
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" || u.RawPath != "" {
		return home
	}
	if path.Clean(u.Path) != u.Path {
		return home
	}
	if u.Path != home && !strings.HasPrefix(u.Path, home+"/") {
		return home
	}
	return next
}

// CheckSignInAddress is RequestSignIn's check of the address asked for, for
// a form to show beside its field. A look-alike ("therapİst") is refused
// before any lookup, and an address is found only by its exact key, so it
// cannot reach the account of the address it imitates (referral.EmailKey).
func CheckSignInAddress(email string) *Error {
	addr, err := referral.ParseEmail(email)
	switch {
	case errors.Is(err, referral.ErrEmailNotASCII):
		return FieldError("email", "Enter your email address in plain letters (a to z), digits and punctuation, such as name@nhs.net")
	case err != nil || addr != email:
		return FieldError("email", "Enter your email address, such as name@nhs.net")
	}
	return nil
}

// SignInLinkGap is the least time between two sign-in links emailed to one
// account, whoever asks and from wherever, so nobody can have a person
// mailed over and over (at most one in SignInLinkGap). It is on the
// account, not on the asker's address (many people share an NHS egress
// address), and it locks nobody out: a request inside the gap is answered
// the same and sends nothing, and the owner's inbox already holds a link
// from at most SignInLinkGap ago, which lasts SignInLinkTTL.
const SignInLinkGap = 2 * time.Minute

// RequestSignIn records a request for a one-time sign-in link to each
// account with the address, and answers it after this returns
// (AnswerSignInRequests). The request does the same work, one insert,
// whether there is an account or not, so neither its answer nor its timing
// can be used to learn who is a trainee, a therapist or on the committee.
// next is where the link leads after signing in, within the person's own
// area.
//
// A recorded request is durable: if the process dies before answering it,
// the next sweep (AnswerSignInRequests, every minute) does.
func (s *Service) RequestSignIn(ctx context.Context, email, next string) error {
	if err := CheckSignInAddress(email); err != nil {
		return err
	}
	if err := s.DB.RecordSignInRequest(ctx, email, next); err != nil {
		return s.failed(ctx, "record sign-in request", "", err)
	}
	s.signIns.kick(s.answerSignIns)
	s.Logger.InfoContext(ctx, "sign-in link requested")
	return nil
}

// AnswerSignInRequests answers recorded sign-in requests every interval
// until ctx ends: those a crash left, or whose answer failed. New requests
// are answered at once without waiting for it.
func (s *Service) AnswerSignInRequests(ctx context.Context, interval time.Duration) {
	every(ctx, interval, func() { s.signIns.kick(s.answerSignIns) })
}

// signInAnswerer runs the answering of sign-in requests off the request
// path, one run at a time per process; a kick during a run makes it go
// round again, so no request waits for the sweep.
type signInAnswerer struct {
	mu             sync.Mutex
	running, again bool
}

func (a *signInAnswerer) kick(run func()) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.running {
		a.again = true
		return
	}
	a.running = true
	go func() {
		for {
			run()
			a.mu.Lock()
			if !a.again {
				a.running = false
				a.mu.Unlock()
				return
			}
			a.again = false
			a.mu.Unlock()
		}
	}()
}

// answerSignIns answers every waiting sign-in request. It runs detached
// from any request: its time is nobody's answer.
func (s *Service) answerSignIns() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sent, failures := 0, 0
	for ctx.Err() == nil && failures < 3 {
		links := 0
		found, err := s.DB.AnswerSignInRequest(ctx, func(ctx context.Context, req postgres.SignInRequest) ([]postgres.SignInLink, error) {
			who, err := s.DB.SignInCandidates(ctx, req.Email)
			if err != nil {
				return nil, err
			}
			var out []postgres.SignInLink
			for _, p := range who {
				n, err := s.DB.RecentSignInLinks(ctx, p, SignInLinkGap)
				if err != nil {
					return nil, err
				}
				if n > 0 {
					s.Logger.InfoContext(ctx, "sign-in link not sent: the account had one moments ago", "role", p.Role)
					continue
				}
				letter := letters.SignIn
				if p.Role == referral.RoleTrainee {
					letter = letters.TraineeSignIn // with the crisis wording, as every letter to a trainee
				}
				out = append(out, s.signInLink(p, req.Email, SignInLinkTTL, req.Next, letter))
			}
			links = len(out)
			return out, nil
		})
		if err != nil {
			s.Logger.ErrorContext(ctx, "answer sign-in request", "err", err)
			if !found {
				break // the store is not answering: the sweep tries again
			}
			failures++
			continue // that request is put off; the next may still go
		}
		if !found {
			break
		}
		sent += links
		s.Logger.InfoContext(ctx, "sign-in request answered", "links", links)
	}
	if sent > 0 {
		s.dispatch(ctx)
	}
}

// dispatch starts the delivery of what a use case has just written to the
// outbox.
func (s *Service) dispatch(ctx context.Context) {
	if s.Postman == nil {
		return
	}
	if err := s.Postman.Dispatch(ctx); err != nil {
		// Written and committed: the worker's sweep delivers it.
		s.Logger.WarnContext(ctx, "dispatch email", "err", err)
	}
}

// signInLink is the link to make for p and the letter that carries it.
func (s *Service) signInLink(p referral.Principal, email string, ttl time.Duration, next, letter string) postgres.SignInLink {
	query, home := "", Home(p)
	if next = NextFor(p, next); next != home {
		query = "?next=" + url.QueryEscape(next)
	}
	referralID := ""
	if p.Role == referral.RoleTrainee {
		referralID = p.Subject
	}
	return postgres.SignInLink{For: p, TTL: ttl, ReferralID: referralID, Message: func(secret string) (postgres.Message, error) {
		l, err := letters.Render(letter, letters.Data{
			Link: strings.TrimRight(s.PublicURL, "/") + "/sign-in/" + secret + query, Lasts: HumanDuration(ttl),
		})
		h := sha256.Sum256([]byte(secret))
		return postgres.Message{
			Key:       "sign-in/" + hex.EncodeToString(h[:12]),
			Recipient: email, Kind: "sign-in." + string(p.Role), Subject: l.Subject, Body: l.Body,
		}, err
	}}
}

// HumanDuration says how long a link works, in words: "30 minutes".
func HumanDuration(d time.Duration) string {
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%d days", d/(24*time.Hour))
	case d >= 2*time.Hour:
		return fmt.Sprintf("%d hours", d/time.Hour)
	}
	return fmt.Sprintf("%d minutes", d/time.Minute)
}

// ErrLinkUsed refuses a sign-in link that has expired or was used.
var ErrLinkUsed = &Error{Outcome: NotFound, Code: "link_used", Message: "That sign-in link has expired or has already been used."}

// UseSignInLink spends a one-time sign-in link and returns whom it signs in.
func (s *Service) UseSignInLink(ctx context.Context, secret string) (referral.Principal, error) {
	if len(secret) > 100 {
		return referral.Principal{}, ErrLinkUsed
	}
	p, err := s.DB.UseSignInLink(ctx, secret)
	switch {
	case errors.Is(err, referral.ErrNotFound):
		return p, ErrLinkUsed
	case err != nil:
		return p, s.failed(ctx, "use sign-in link", "", err)
	}
	s.Logger.InfoContext(ctx, "signed in", "role", p.Role, "subject", p.Subject)
	return p, nil
}

// StartSession issues the short-lived token of a browser session for p.
func (s *Service) StartSession(ctx context.Context, p referral.Principal) (string, error) {
	expires := time.Now().Add(SessionTTL)
	token, err := s.DB.IssueToken(ctx, p.Role, p.Subject, &expires)
	if err != nil {
		return "", s.failed(ctx, "start session", "", err)
	}
	return token, nil
}

// SignOut ends a session (or revokes any one token).
func (s *Service) SignOut(ctx context.Context, token string) error {
	if err := s.DB.RevokeToken(ctx, token); err != nil {
		return s.failed(ctx, "sign out", "", err)
	}
	return nil
}
