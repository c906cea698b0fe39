package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/wmtna/referrals/internal/referral"
	"github.com/wmtna/referrals/workflows"
)

// Submitted is a referral accepted for checking.
type Submitted struct {
	ID     string
	Status referral.Status
	// Urgent is set when the trainee said they are at risk: the committee
	// is asked to look at the referral today.
	Urgent bool
	// Replay is set when the same request (same idempotency key and
	// content) had already been accepted.
	Replay bool
}

// Problems refuses a request for every problem with what was typed, in the
// form's order. Its Error is the first.
type Problems []*Error

func (ps Problems) Error() string { return ps[0].Message }

// Check checks a draft against the service's clock, as Submit will.
func (s *Service) Check(d referral.Draft) (referral.Submission, Problems) {
	return s.check(d, s.now())
}

func (s *Service) check(d referral.Draft, now time.Time) (referral.Submission, Problems) {
	sub, problems := d.Check(referral.DateOf(now))
	if len(problems) == 0 {
		return sub, nil
	}
	out := make(Problems, len(problems))
	for i, p := range problems {
		out[i] = problem(p)
	}
	return sub, out
}

// Submit accepts a self-referral: it stores the referral and starts its
// workflow, which decides eligibility. With the same key and content it
// answers as the first time (Replay), and starts the workflow if that had
// failed. A problem with what was typed is Problems.
func (s *Service) Submit(ctx context.Context, p referral.Principal, in Input[referral.Draft], key string) (out Submitted, err error) {
	defer func() { s.audit(ctx, p, ActSubmit, out.ID, OutcomeOf(err, Accepted)) }()
	if err := allowed(p, ActSubmit); err != nil {
		return out, err
	}
	d, err := in()
	if err != nil {
		return out, err
	}
	// One reading of the clock checks the submission and stamps it: its
	// day is the day eligibility is judged on.
	now := s.now()
	sub, problems := s.check(d, now)
	if problems != nil {
		return out, problems
	}
	if len(key) > 200 {
		return out, &Error{Outcome: Malformed, Code: "invalid_header", Field: "Idempotency-Key", Message: "Idempotency-Key must be at most 200 characters"}
	}
	ref, created, err := s.DB.CreateReferral(ctx, sub, now, key, fingerprint(sub))
	switch {
	case errors.Is(err, referral.ErrDuplicate):
		return out, &Error{Outcome: Conflict, Code: "duplicate_referral", Field: "email",
			Message: "a referral for this email address is already open; follow it with the link you were sent, or withdraw it first"}
	case errors.Is(err, referral.ErrConflict):
		return out, &Error{Outcome: Invalid, Code: "idempotency_key_reused", Field: "Idempotency-Key",
			Message: "this Idempotency-Key was used for a different referral"}
	case err != nil:
		return out, s.failed(ctx, "store referral", "", err)
	}
	out = Submitted{ID: ref.ID, Status: ref.Status, Urgent: ref.AtRisk, Replay: !created}
	// The row is committed; the workflow start is idempotent (same ID), so a
	// failure here is repaired by the client retrying with its key, or by
	// ResumeSubmissions.
	if err := s.startWorkflow(ctx, ref.ID); err != nil {
		s.logger(ref.ID).ErrorContext(ctx, "start referral workflow", "err", err)
		return out, &Error{Outcome: Unavailable, Code: "unavailable",
			Message: "your referral is saved but could not be started; retry with the same Idempotency-Key"}
	}
	s.logger(ref.ID).InfoContext(ctx, "referral submitted", "replay", out.Replay)
	return out, nil
}

// TraineeToken issues the long-lived token an API client follows a new
// referral with. A replay gets none: whoever can reproduce a submission and
// its key must not gain access to the referral, nor take it from the
// trainee by revoking theirs. A trainee whose first answer was lost signs
// in with their email address instead.
func (s *Service) TraineeToken(ctx context.Context, sub Submitted) (string, error) {
	if sub.Replay {
		return "", nil
	}
	expires := time.Now().Add(s.TraineeLinkTTL)
	token, err := s.DB.IssueToken(ctx, referral.RoleTrainee, sub.ID, &expires)
	if err != nil {
		return "", s.failed(ctx, "issue trainee token", sub.ID, err)
	}
	return token, nil
}

func fingerprint(s referral.Submission) string {
	b, _ := json.Marshal(s)
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func (s *Service) startWorkflow(ctx context.Context, referralID string) error {
	_, err := s.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       workflows.WorkflowID(referralID),
		TaskQueue:                workflows.TaskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		TypedSearchAttributes:    temporal.NewSearchAttributes(workflows.StatusKey.ValueSet(string(referral.StatusSubmitted))),
	}, workflows.WorkflowName, workflows.Input{ReferralID: referralID, Timings: s.Timings})
	return err
}

// ResumeSubmissions starts the workflow of every referral that was stored
// but never started (Temporal was unreachable when it was submitted), every
// interval until ctx ends. Starting is idempotent, so a workflow that is
// merely slow to record its first transition is left as it is.
func (s *Service) ResumeSubmissions(ctx context.Context, interval time.Duration) {
	every(ctx, interval, func() {
		ids, err := s.DB.StuckSubmissions(ctx, s.now().Add(-interval), 100)
		if err != nil && ctx.Err() == nil {
			s.Logger.ErrorContext(ctx, "find stuck submissions", "err", err)
		}
		for _, id := range ids {
			if err := s.startWorkflow(ctx, id); err != nil {
				s.logger(id).ErrorContext(ctx, "restart referral workflow", "err", err)
				continue
			}
			s.logger(id).InfoContext(ctx, "started workflow of a stuck submission")
		}
	})
}

// PurgeCredentials deletes dead tokens and sign-in links every interval
// until ctx ends.
func (s *Service) PurgeCredentials(ctx context.Context, interval time.Duration) {
	every(ctx, interval, func() {
		if n, err := s.DB.PurgeCredentials(ctx); err != nil && ctx.Err() == nil {
			s.Logger.ErrorContext(ctx, "purge credentials", "err", err)
		} else if n > 0 {
			s.Logger.InfoContext(ctx, "purged dead tokens and sign-in links", "count", n)
		}
	})
}

// every runs job now and then every interval until ctx ends.
func every(ctx context.Context, interval time.Duration, job func()) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		job()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
