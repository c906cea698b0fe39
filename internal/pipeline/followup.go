package pipeline

import (
	"context"
	"errors"

	"github.com/wmtna/referrals/internal/referral"
	"github.com/wmtna/referrals/workflows"
)

// A former client's follow-ups are answered through the emailed link
// alone. Nothing here logs, audits or returns the referral a link belongs
// to: the answers are anonymous, and a log line at the time of an answer
// naming its referral would undo that.

// FollowUp says what a follow-up link asks (referral.FollowUp*), or
// ErrNotFound when it was used, has expired or never was.
func (s *Service) FollowUp(ctx context.Context, p referral.Principal, secret string) (string, error) {
	if err := allowed(p, ActFollowUp); err != nil {
		return "", err
	}
	kind, err := s.DB.Invitation(ctx, secret)
	if err != nil {
		return "", s.failed(ctx, "load follow-up", "", err)
	}
	return kind, nil
}

// GiveFeedback stores a former client's feedback, anonymously, and spends
// its link.
func (s *Service) GiveFeedback(ctx context.Context, p referral.Principal, secret string, in Input[referral.Feedback]) error {
	if err := allowed(p, ActFollowUp); err != nil {
		return err
	}
	f, err := in()
	if err != nil {
		return err
	}
	if problem := f.Check(); problem != nil {
		return FieldError(problem.Field, "%s", problem.Message)
	}
	if err := s.DB.GiveFeedback(ctx, secret, f); err != nil {
		return s.failed(ctx, "store feedback", "", err)
	}
	return nil
}

// AnswerStayed stores whether a former client still works or trains in an
// NHS psychology role, anonymously, and spends its link.
func (s *Service) AnswerStayed(ctx context.Context, p referral.Principal, secret, answer string) error {
	if err := allowed(p, ActFollowUp); err != nil {
		return err
	}
	if !referral.ValidStayed(answer) {
		return FieldError("answer", "answer must be %s, %s or %s", referral.StayedYes, referral.StayedNo, referral.StayedRatherNotSay)
	}
	if err := s.DB.AnswerStayed(ctx, secret, answer); err != nil {
		return s.failed(ctx, "store answer", "", err)
	}
	return nil
}

// StopFollowUps stops every follow-up of the link's referral at once: no
// link of it works any more, and its follow-up workflow is cancelled.
func (s *Service) StopFollowUps(ctx context.Context, p referral.Principal, secret string) error {
	if err := allowed(p, ActFollowUp); err != nil {
		return err
	}
	id, err := s.DB.StopFollowUps(ctx, secret)
	if err != nil {
		return s.failed(ctx, "stop follow-ups", "", err)
	}
	// The store refuses any further invitation already; cancelling ends
	// the timers too, so the operator's view agrees.
	if err := s.Temporal.CancelWorkflow(context.WithoutCancel(ctx), workflows.FollowUpWorkflowID(id), ""); err != nil && !errors.Is(err, context.Canceled) {
		s.logger(id).WarnContext(ctx, "cancel follow-ups", "err", err)
	}
	return nil
}

// Feedback is what former clients whose therapy ended in year said: the
// summary of their answers, every figure through the small-number rule
// and secondary suppression, and their comments, alone and in
// alphabetical order, with no programme, quarter or answer beside them.
func (s *Service) Feedback(ctx context.Context, p referral.Principal, year int) (sum referral.FeedbackSummary, comments []string, err error) {
	if err := allowed(p, ActFeedbackComments); err != nil {
		return sum, nil, err
	}
	if year < 2000 || year > 9999 {
		return sum, nil, FieldError("year", "year must be a year such as 2026")
	}
	q := referral.YearQuarters(year)
	if sum, err = s.DB.FeedbackSummary(ctx, q); err != nil {
		return sum, nil, s.failed(ctx, "load feedback", "", err)
	}
	if comments, err = s.DB.FeedbackComments(ctx, q); err != nil {
		return sum, nil, s.failed(ctx, "load feedback comments", "", err)
	}
	return sum, comments, nil
}
