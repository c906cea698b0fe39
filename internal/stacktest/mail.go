package stacktest

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/wmtna/referrals/internal/devmail"
)

// LastEmail waits until the stack's SMTP server has received an email to
// address whose subject contains subject, and returns the newest one's body.
func (s *Stack) LastEmail(ctx context.Context, address, subject string) (string, error) {
	var found *devmail.Message
	_, err := s.Mailbox.Wait(ctx, func(msgs []devmail.Message) bool {
		for i := len(msgs) - 1; i >= 0; i-- {
			if msgs[i].IsTo(address) && strings.Contains(strings.ToLower(msgs[i].Subject), strings.ToLower(subject)) {
				found = &msgs[i]
				return true
			}
		}
		return false
	})
	if err != nil {
		return "", fmt.Errorf("no email to %s about %q: %w", address, subject, err)
	}
	return found.Body, nil
}

var confirmLink = regexp.MustCompile(`/confirm/([A-Za-z0-9_-]+)`)

// ConfirmCode waits until box has received an email to address asking to
// confirm a referral whose code taken does not report as taken, and
// returns that code (the last part of its link).
func ConfirmCode(ctx context.Context, box *devmail.Box, address string, taken func(code string) bool) (string, error) {
	var code string
	_, err := box.Wait(ctx, func(msgs []devmail.Message) bool {
		for _, m := range msgs {
			if !m.IsTo(address) {
				continue
			}
			if c := confirmLink.FindStringSubmatch(m.Body); c != nil && !taken(c[1]) {
				code = c[1]
				return true
			}
		}
		return false
	})
	if err != nil {
		return "", fmt.Errorf("no new email to %s with a link to confirm a referral: %w", address, err)
	}
	return code, nil
}

// Refer refers a trainee as a person does: it submits body, takes the
// link emailed to its address, and confirms it. It returns the
// confirmation's answer (the referral's id and the trainee's token), or an
// error for anything but a 202 and then a 201. Any goroutine may call it.
func (s *Stack) Refer(body map[string]any, headers ...string) (Response, error) {
	r, err := s.Call("POST", "/v1/referrals", "", body, headers...)
	if err != nil {
		return r, fmt.Errorf("submit: %w", err)
	}
	if r.Status != 202 {
		return r, fmt.Errorf("submit: %d %s", r.Status, r.Raw)
	}
	email, _ := body["email"].(string)
	code, err := s.NextConfirmCode(email)
	if err != nil {
		return r, err
	}
	c, err := s.Call("POST", "/v1/confirmations", "", map[string]any{"code": code})
	if err != nil {
		return c, fmt.Errorf("confirm: %w", err)
	}
	if c.Status != 201 || c.Str("id") == "" || c.Str("token") == "" {
		return c, fmt.Errorf("confirm: %d %s", c.Status, c.Raw)
	}
	return c, nil
}

// NextConfirmCode waits up to 30 seconds for an email to address with a
// link to confirm a referral that this function has not returned before.
func (s *Stack) NextConfirmCode(address string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code, err := ConfirmCode(ctx, s.Mailbox, address, func(code string) bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.codes[code]
	})
	if err == nil {
		s.mu.Lock()
		s.codes[code] = true
		s.mu.Unlock()
	}
	return code, err
}

// MustConfirmCode is NextConfirmCode for the test's goroutine: it fails
// the test on error.
func (s *Stack) MustConfirmCode(address string) string {
	s.t.Helper()
	code, err := s.NextConfirmCode(address)
	if err != nil {
		s.t.Fatal(err)
	}
	return code
}

// MustRefer is Refer for the test's goroutine: it fails the test on error.
func (s *Stack) MustRefer(body map[string]any, headers ...string) Response {
	s.t.Helper()
	r, err := s.Refer(body, headers...)
	if err != nil {
		s.t.Fatal(err)
	}
	return r
}

// MustConfirm confirms the newest referral submitted for address from its
// emailed link, as Refer does after submitting, and fails the test unless
// the API answers 201 with the referral.
func (s *Stack) MustConfirm(address string) Response {
	s.t.Helper()
	c := s.Do("POST", "/v1/confirmations", "", map[string]any{"code": s.MustConfirmCode(address)})
	if c.Status != 201 || c.Str("id") == "" || c.Str("token") == "" {
		s.t.Fatalf("confirm: %d %s", c.Status, c.Raw)
	}
	return c
}
