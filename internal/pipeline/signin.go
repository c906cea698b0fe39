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

// RequestSignIn emails a one-time sign-in link to each account with the
// address and says nothing of whether there is one, so it cannot be used to
// learn who is a trainee, a therapist or on the committee. next is where
// the link leads after signing in, within the person's own area.
func (s *Service) RequestSignIn(ctx context.Context, email, next string) error {
	if err := CheckSignInAddress(email); err != nil {
		return err
	}
	who, err := s.DB.SignInCandidates(ctx, email)
	if err != nil {
		return s.failed(ctx, "find sign-in accounts", "", err)
	}
	for _, p := range who {
		if err := s.EmailSignInLink(ctx, p, email, SignInLinkTTL, next, letters.SignIn); err != nil {
			return s.failed(ctx, "email sign-in link", "", err)
		}
	}
	s.Logger.InfoContext(ctx, "sign-in link requested", "links", len(who))
	return nil
}

// EmailSignInLink makes a one-time link for p and writes the letter that
// carries it (letters.SignIn); the postman delivers it.
func (s *Service) EmailSignInLink(ctx context.Context, p referral.Principal, email string, ttl time.Duration, next, letter string) error {
	query, home := "", Home(p)
	if next = NextFor(p, next); next != home {
		query = "?next=" + url.QueryEscape(next)
	}
	referralID := ""
	if p.Role == referral.RoleTrainee {
		referralID = p.Subject
	}
	err := s.DB.CreateSignInLink(ctx, p, ttl, referralID, func(secret string) (postgres.Message, error) {
		l, err := letters.Render(letter, letters.Data{
			Link: strings.TrimRight(s.PublicURL, "/") + "/sign-in/" + secret + query, Lasts: HumanDuration(ttl),
		})
		h := sha256.Sum256([]byte(secret))
		return postgres.Message{
			Key:       "sign-in/" + hex.EncodeToString(h[:12]),
			Recipient: email, Kind: "sign-in." + string(p.Role), Subject: l.Subject, Body: l.Body,
		}, err
	})
	if err != nil {
		return err
	}
	s.dispatch(ctx)
	return nil
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
