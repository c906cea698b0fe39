package stacktest

import (
	"context"
	"fmt"
	"strings"

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
