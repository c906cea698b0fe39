package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/wmtna/referrals/internal/letters"
	"github.com/wmtna/referrals/internal/postgres"
	"github.com/wmtna/referrals/internal/referral"
	"github.com/wmtna/referrals/workflows"
)

// Submitted is a self-referral accepted: an email has gone to its address,
// and the referral is sent only once the address's owner confirms it from
// that email (Confirm). It says nothing else, so that nobody learns from
// it whether the address already has an open referral.
type Submitted struct {
	// Urgent is set when the person said they are at risk: they are shown
	// where to get help now, and once the referral is confirmed the
	// committee is asked to look at it today.
	Urgent bool
	// Replay is set when the same request (same idempotency key and
	// content) had already been accepted; no second email goes.
	Replay bool
}

// SubmissionEmailsPerHour caps the emails submissions send one address in
// an hour. Someone correcting a typo resubmits once or twice; past the cap
// a submission is answered as usual and sends nothing, so the form cannot
// be used to flood a person's inbox.
const SubmissionEmailsPerHour = 5

// Referred is a referral sent to the committee: its address confirmed.
type Referred struct {
	ID     string
	Status referral.Status
	Urgent bool
	// Replay is set when the link had been used already: the same referral.
	Replay bool
}

// Problems refuses a request for every problem with what was typed, in the
// form's order. Its Error is the first.
type Problems []*Error

func (ps Problems) Error() string { return ps[0].Message }

// Check checks a draft against the service's clock, as Submit will.
//
// err is set, and nothing else is, when the check itself could not be
// made (the store is down): the caller answers that, not the person.
func (s *Service) Check(ctx context.Context, d referral.Draft) (referral.Submission, Problems, error) {
	return s.check(ctx, d, s.now())
}

func (s *Service) check(ctx context.Context, d referral.Draft, now time.Time) (referral.Submission, Problems, error) {
	sub, problems := d.Check(referral.DateOf(now))
	if !slices.ContainsFunc(problems, func(p referral.Problem) bool { return p.Field == "preferences.areas" }) {
		// The areas are the committee's list, so only the store knows them.
		if err := s.checkAreas(ctx, "preferences.areas", sub.Preferences.Areas, nil); err != nil {
			e := AsError(err)
			if e.Field == "" {
				return sub, nil, err
			}
			problems = append(problems, referral.Problem{Field: e.Field, Message: e.Message})
		}
	}
	if len(problems) == 0 {
		return sub, nil, nil
	}
	out := make(Problems, len(problems))
	for i, p := range problems {
		out[i] = problem(p)
	}
	return sub, out, nil
}

// Submit accepts a self-referral and emails its address; nothing reaches
// the committee until the address's owner confirms it (Confirm), so nobody
// can refer someone else or have the network write to the committee in
// their name. The answer, and the work behind it, are the same whether or
// not the address already has an open referral: in that case the email
// says so and signs its owner in to it instead. With the same key and
// content it answers as the first time (Replay) and sends nothing. A
// problem with what was typed is Problems.
func (s *Service) Submit(ctx context.Context, p referral.Principal, in Input[referral.Draft], key string) (out Submitted, err error) {
	defer func() { s.audit(ctx, p, ActSubmit, "", OutcomeOf(err, Accepted)) }()
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
	sub, problems, err := s.check(ctx, d, now)
	if err != nil {
		return out, err
	}
	if problems != nil {
		return out, problems
	}
	if len(key) > 200 {
		return out, &Error{Outcome: Malformed, Code: "invalid_header", Field: "Idempotency-Key", Message: "Idempotency-Key must be at most 200 characters"}
	}
	base := strings.TrimRight(s.PublicURL, "/")
	replay, err := s.DB.StoreUnconfirmed(ctx, postgres.Unconfirmed{
		Submission: sub, SubmittedAt: now, IdempotencyKey: key, Fingerprint: fingerprint(sub),
		ConfirmFor: ConfirmLinkTTL, SignInFor: SignInLinkTTL, PerHour: SubmissionEmailsPerHour,
	}, func(open, secret string) (postgres.Message, error) {
		letter, link, lasts, kind := letters.Confirm, base+"/confirm/"+secret, ConfirmLinkTTL, "confirm.trainee"
		if open != "" {
			letter, link, lasts, kind = letters.AlreadyReferred, base+"/sign-in/"+secret, SignInLinkTTL, "sign-in.trainee"
		}
		l, err := letters.Render(letter, letters.Data{Link: link, Lasts: HumanDuration(lasts)})
		return postgres.Message{Recipient: sub.Email, Kind: kind, Subject: l.Subject, Body: l.Body}, err
	})
	if errors.Is(err, referral.ErrConflict) {
		return out, &Error{Outcome: Invalid, Code: "idempotency_key_reused", Field: "Idempotency-Key",
			Message: "this Idempotency-Key was used for a different referral"}
	}
	if err != nil {
		return out, s.failed(ctx, "store unconfirmed referral", "", err)
	}
	out = Submitted{Urgent: sub.AtRisk, Replay: replay}
	if !replay {
		s.dispatch(ctx)
	}
	s.Logger.InfoContext(ctx, "referral submitted, address to confirm", "replay", replay)
	return out, nil
}

// ErrConfirmLinkUsed refuses a link to confirm an address that is unknown
// or has expired.
var ErrConfirmLinkUsed = &Error{Outcome: NotFound, Code: "link_used",
	Message: "That link has expired. Refer yourself again, and we will email you a new one."}

// Confirm spends the link a submission emailed to its address: the
// referral is stored, reaches the committee, and its workflow starts, which
// decides eligibility. A second use answers with the same referral
// (Replay), and starts the workflow if that had failed. When the address
// has had an open referral since, the answer says so: the caller has shown
// they own the address.
func (s *Service) Confirm(ctx context.Context, p referral.Principal, secret string) (out Referred, err error) {
	defer func() { s.audit(ctx, p, ActConfirm, out.ID, OutcomeOf(err, Created)) }()
	if err := allowed(p, ActConfirm); err != nil {
		return out, err
	}
	if secret == "" || len(secret) > 100 {
		return out, ErrConfirmLinkUsed
	}
	ref, created, err := s.DB.ConfirmReferral(ctx, secret)
	switch {
	case errors.Is(err, referral.ErrNotFound):
		return out, ErrConfirmLinkUsed
	case errors.Is(err, referral.ErrDuplicate):
		return out, &Error{Outcome: Conflict, Code: "duplicate_referral", Field: "email",
			Message: "you already have an open referral with this email address; sign in to follow it, or withdraw it first"}
	case err != nil:
		return out, s.failed(ctx, "confirm referral", "", err)
	}
	out = Referred{ID: ref.ID, Status: ref.Status, Urgent: ref.AtRisk, Replay: !created}
	// The row is committed; the workflow start is idempotent (same ID), so a
	// failure here is repaired by using the link again, or by
	// ResumeSubmissions.
	if err := s.startWorkflow(ctx, ref.ID); err != nil {
		s.logger(ref.ID).ErrorContext(ctx, "start referral workflow", "err", err)
		return out, &Error{Outcome: Unavailable, Code: "unavailable",
			Message: "your referral is saved but could not be sent on yet; we will send it on shortly"}
	}
	s.logger(ref.ID).InfoContext(ctx, "referral confirmed", "replay", out.Replay)
	return out, nil
}

// TraineeToken issues the long-lived token an API client follows a newly
// confirmed referral with. A replay gets none: whoever can use a link again
// must not gain access to the referral, nor take it from the trainee by
// revoking theirs. A trainee whose first answer was lost signs in with
// their email address instead.
func (s *Service) TraineeToken(ctx context.Context, ref Referred) (string, error) {
	if ref.Replay {
		return "", nil
	}
	expires := time.Now().Add(s.TraineeLinkTTL)
	token, err := s.DB.IssueToken(ctx, referral.RoleTrainee, ref.ID, &expires)
	if err != nil {
		return "", s.failed(ctx, "issue trainee token", ref.ID, err)
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
		// What the Temporal UI lists the workflow by: its ID, never a name.
		StaticSummary: "Referral " + referralID,
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
