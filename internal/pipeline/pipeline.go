// Package pipeline is what people can ask of the referral pipeline: submit
// a referral and follow it, review it, withdraw it, answer an offer, end
// therapy, check in while waiting, sign in, keep the registers, erase, and
// report. Each use case takes the signed-in principal, checks the access
// table and ownership, writes what it must to PostgreSQL, starts or updates
// the referral's workflow, and records the audit entry. It knows nothing of
// HTTP: the JSON API (package httpapi) and the web pages (package pages)
// both call it.
package pipeline

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/wmtna/referrals/internal/postgres"
	"github.com/wmtna/referrals/internal/referral"
	"github.com/wmtna/referrals/workflows"
)

// Service holds what the use cases need.
type Service struct {
	DB        *postgres.DB
	Temporal  client.Client
	Announcer Announcer
	// Postman, when set, starts delivery of the messages the use cases write
	// to the outbox themselves (sign-in links); the worker's sweep is the
	// backstop.
	Postman        Postman
	Timings        workflows.Timings
	TraineeLinkTTL time.Duration
	// PublicURL is where people reach the pages: the base of emailed links.
	PublicURL string
	Logger    *slog.Logger
	// Clock is the service's calendar (config.Config.Clock): it checks and
	// stamps submissions and sets a report's default period. Nil is
	// time.Now. Workflow time is Temporal's and never reads it.
	Clock func() time.Time

	signIns signInAnswerer
}

// Announcer tells waiting referrals about places the store has offered them.
type Announcer interface {
	Announce(ctx context.Context) error
}

// Postman starts the delivery of outbox messages not yet on their way.
type Postman interface {
	Dispatch(ctx context.Context) error
}

func (s *Service) now() time.Time {
	if s.Clock != nil {
		return s.Clock()
	}
	return time.Now()
}

// audit appends an entry for a call of an audited action: who, what, which
// referral, and its outcome, so refused attempts are on record too. The
// call has happened: a failure to record it is logged, never hidden, but
// does not undo the call.
func (s *Service) audit(ctx context.Context, p referral.Principal, a Action, referralID string, outcome Outcome) {
	if !access[a].audited {
		return
	}
	actor := "anonymous"
	switch p.Role {
	case "":
	case referral.RoleTrainee:
		actor = string(referral.RoleTrainee) // the subject is the referral itself
	default:
		actor = referral.Actor{Role: p.Role, ID: p.Subject}.String()
	}
	entry := postgres.AuditEntry{Actor: actor, Action: string(a), ReferralID: referralID, Status: int(outcome)}
	if err := s.DB.Audit(context.WithoutCancel(ctx), entry); err != nil {
		s.logger(referralID).ErrorContext(ctx, "audit log write failed", "action", string(a), "err", err)
	}
}

// logger names the referral a line is about, and its workflow, so an
// operator can go from a line to the workflow and back. IDs only.
func (s *Service) logger(referralID string) *slog.Logger {
	if referralID == "" {
		return s.Logger
	}
	return s.Logger.With("referral_id", referralID, "workflow_id", workflows.WorkflowID(referralID))
}

// failed logs an unexpected error of a use case and returns it; the front
// ends show it as "unavailable" (see AsError).
func (s *Service) failed(ctx context.Context, what, referralID string, err error) error {
	var refusal *Error
	if !errors.As(err, &refusal) && AsError(err).Outcome == Unavailable {
		s.logger(referralID).ErrorContext(ctx, what, "err", err)
	}
	return err
}

// today is the UK calendar day by the service's clock.
func (s *Service) today() referral.Date { return referral.DateOf(s.now()) }
