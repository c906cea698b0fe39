package pipeline

import (
	"context"
	"errors"
	"strings"
	"time"
	"unicode/utf8"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/wmtna/referrals/internal/referral"
	"github.com/wmtna/referrals/workflows"
)

// Decisions reach a referral's workflow as Temporal updates, so the caller
// learns the real outcome: the new status, or a Conflict with the current
// one when the referral is not in a state that allows it. The workflow's
// validator refuses a wrong decision before it reaches the history. A key
// (the request's Idempotency-Key, or a form's) becomes the update ID, so a
// retried request is applied once.

// Input is the content of a request, read only once the caller is known to
// be entitled to the referral or offer it names: someone else's gets
// NotFound whatever they sent, so how their content would have been judged
// tells them nothing. Its error is the front end's refusal to read it.
type Input[T any] func() (T, error)

// Given is content already read (a form's fields).
func Given[T any](v T) Input[T] { return func() (T, error) { return v, nil } }

// Decided is where a referral stands once a decision is applied: its
// status, and the offer and therapist it names, if any.
type Decided = workflows.StatusView

var errReasonNotText = FieldError("reason", "reason must be plain text, without control characters")

// maxReason bounds the free text that goes with a decision.
const maxReason = 2000

// Review is a committee member's decision on a referral awaiting review.
type Review struct {
	Decision   string // referral.DecisionApprove or referral.DecisionDecline
	Reason     string // required to decline
	ReasonCode string // one of referral.CommitteeDeclineCodes, for a decline
}

func (q Review) check() error {
	p := referral.CheckReview(q.Decision, q.ReasonCode)
	switch {
	case p != nil && p.Field == "decision":
		return problem(*p)
	case q.Decision == referral.DecisionDecline && strings.TrimSpace(q.Reason) == "":
		return FieldError("reason", "a reason is required to decline a referral")
	case utf8.RuneCountInString(q.Reason) > maxReason:
		return FieldError("reason", "reason must be at most 2000 characters")
	case !referral.Typed(q.Reason, true):
		return errReasonNotText
	case p != nil:
		return problem(*p)
	}
	return nil
}

// problem refuses a request for the domain's reason.
func problem(p referral.Problem) *Error {
	return &Error{Outcome: Invalid, Code: "invalid_field", Field: p.Field, Message: p.Message}
}

// Review applies a committee member's decision.
func (s *Service) Review(ctx context.Context, p referral.Principal, id string, in Input[Review], key string) (v Decided, err error) {
	defer s.audited(ctx, p, ActReview, id, &err)
	if err := allowed(p, ActReview); err != nil {
		return v, err
	}
	q, err := in()
	if err != nil {
		return v, err
	}
	if err := q.check(); err != nil {
		return v, err
	}
	if !validID(id) {
		return v, ErrNotFound
	}
	if _, err := s.DB.Referral(ctx, id); err != nil {
		return v, s.failed(ctx, "load referral", id, err)
	}
	actor := referral.Actor{Role: referral.RoleCommittee, ID: p.Subject}
	return s.decide(ctx, id, actor, q.Reason, workflows.UpdateReview, func(noteID int64) any {
		return workflows.ReviewRequest{Decision: q.Decision, Actor: actor, NoteID: noteID, ReasonCode: q.ReasonCode}
	}, key)
}

// Withdraw is the trainee withdrawing their own referral, with an optional
// reason.
func (s *Service) Withdraw(ctx context.Context, p referral.Principal, id string, in Input[string], key string) (v Decided, err error) {
	defer s.audited(ctx, p, ActWithdraw, id, &err)
	if err := allowed(p, ActWithdraw); err != nil {
		return v, err
	}
	if p.Subject != id {
		return v, ErrNotFound
	}
	reason, err := readReason(in)
	if err != nil {
		return v, err
	}
	actor := referral.Actor{Role: referral.RoleTrainee}
	return s.decide(ctx, id, actor, reason, workflows.UpdateWithdraw, func(noteID int64) any {
		return workflows.WithdrawRequest{Actor: actor, NoteID: noteID}
	}, key)
}

// CheckIn is a waiting trainee's answer to "do you still want a place?".
// A nil answer was not given.
func (s *Service) CheckIn(ctx context.Context, p referral.Principal, id string, in Input[*bool], key string) (v Decided, err error) {
	defer s.audited(ctx, p, ActCheckIn, id, &err)
	if err := allowed(p, ActCheckIn); err != nil {
		return v, err
	}
	if p.Subject != id {
		return v, ErrNotFound
	}
	answer, err := in()
	if err != nil {
		return v, err
	}
	if answer == nil {
		return v, FieldError("still_waiting", "still_waiting must be true (keep my place) or false (withdraw)")
	}
	stillWaiting := *answer
	return s.update(ctx, id, workflows.UpdateCheckIn, workflows.CheckInAnswer{StillWaiting: stillWaiting, Actor: referral.Actor{Role: referral.RoleTrainee}}, key)
}

// Ask is a committee member asking the trainee a question about a
// referral awaiting review, instead of declining it. The question is kept
// in PostgreSQL as a note, which the trainee reads on their page; the
// emails only say there is one.
func (s *Service) Ask(ctx context.Context, p referral.Principal, id string, in Input[string], key string) (v Decided, err error) {
	defer s.audited(ctx, p, ActAsk, id, &err)
	if err := allowed(p, ActAsk); err != nil {
		return v, err
	}
	if !validID(id) {
		return v, ErrNotFound
	}
	question, err := readText(in, "question", true)
	if err != nil {
		return v, err
	}
	actor := referral.Actor{Role: referral.RoleCommittee, ID: p.Subject}
	return s.decide(ctx, id, actor, question, workflows.UpdateAsk, func(noteID int64) any {
		return workflows.AskRequest{Actor: actor, NoteID: noteID}
	}, key)
}

// Answer is the trainee's answer to the committee's question, which sends
// the referral back for review.
func (s *Service) Answer(ctx context.Context, p referral.Principal, id string, in Input[string], key string) (v Decided, err error) {
	defer s.audited(ctx, p, ActAnswer, id, &err)
	if err := allowed(p, ActAnswer); err != nil {
		return v, err
	}
	if p.Subject != id {
		return v, ErrNotFound
	}
	answer, err := readText(in, "answer", true)
	if err != nil {
		return v, err
	}
	actor := referral.Actor{Role: referral.RoleTrainee}
	return s.decide(ctx, id, actor, answer, workflows.UpdateAnswer, func(noteID int64) any {
		return workflows.AnswerRequest{Actor: actor, NoteID: noteID}
	}, key)
}

// readText reads a free text, such as a reason, a question or its
// answer: at most maxReason characters, plain text, trimmed; required, it
// may not be blank.
func readText(in Input[string], field string, required bool) (string, error) {
	text, err := in()
	if err != nil {
		return "", err
	}
	switch {
	case utf8.RuneCountInString(text) > maxReason:
		return "", FieldError(field, "%s must be at most %d characters", field, maxReason)
	case !referral.Typed(text, true):
		return "", FieldError(field, "%s must be plain text, without control characters", field)
	}
	text = strings.TrimSpace(text)
	if required && text == "" {
		return "", FieldError(field, "%s is required", field)
	}
	return text, nil
}

// Pause is a waiting trainee pausing their place until a date
// (YYYY-MM-DD), at most Timings.MaxPause from today (by the real clock:
// see LatestPause) and before their cut-off: they keep their position, and are offered nothing and asked no
// check-in until then.
func (s *Service) Pause(ctx context.Context, p referral.Principal, id string, in Input[string], key string) (v Decided, err error) {
	defer s.audited(ctx, p, ActPause, id, &err)
	if err := allowed(p, ActPause); err != nil {
		return v, err
	}
	if p.Subject != id {
		return v, ErrNotFound
	}
	until, err := in()
	if err != nil {
		return v, err
	}
	ref, err := s.DB.Referral(ctx, id)
	if err != nil {
		return v, s.failed(ctx, "load referral", id, err)
	}
	var cutoff referral.Date
	if ref.Cutoff != nil {
		cutoff = *ref.Cutoff
	}
	d, problem := referral.CheckPause(time.Now(), until, s.Timings.MaxPause(), cutoff)
	if problem != nil {
		return v, FieldError(problem.Field, "%s", problem.Message)
	}
	return s.update(ctx, id, workflows.UpdatePause, workflows.PauseRequest{Until: d.String(), Actor: referral.Actor{Role: referral.RoleTrainee}}, key)
}

// Resume gives a trainee their paused place back before the pause ends.
// Its input carries nothing; its error refuses a body that says something.
func (s *Service) Resume(ctx context.Context, p referral.Principal, id string, in Input[struct{}], key string) (v Decided, err error) {
	defer s.audited(ctx, p, ActResume, id, &err)
	if err := allowed(p, ActResume); err != nil {
		return v, err
	}
	if p.Subject != id {
		return v, ErrNotFound
	}
	if _, err := in(); err != nil {
		return v, err
	}
	return s.update(ctx, id, workflows.UpdateResume, workflows.ResumeRequest{Actor: referral.Actor{Role: referral.RoleTrainee}}, key)
}

// LatestPause is the last day a place paused today may be paused until.
// A pause is workflow time (its end is a timer), which is Temporal's, so
// it is judged by the real clock, never the service's calendar (s.Clock,
// which tests move): the workflow's validator judges it again that way.
func (s *Service) LatestPause() referral.Date {
	return referral.DateOf(time.Now().Add(s.Timings.MaxPause()))
}

// Decline is a therapist's decline of an offer: a coded reason (capacity,
// or a conflict of interest, which keeps them from this trainee for good)
// and optional free text for the committee.
type Decline struct {
	ReasonCode string
	Reason     string
}

// Accept accepts an offer on behalf of the therapist it was made to.
// Its input carries nothing; its error refuses a body that says something.
func (s *Service) Accept(ctx context.Context, p referral.Principal, offerID string, in Input[struct{}], key string) (Decided, error) {
	return s.answer(ctx, p, ActAccept, offerID, func() (*Decline, error) { _, err := in(); return nil, err }, key)
}

// Decline declines an offer on behalf of the therapist it was made to.
func (s *Service) Decline(ctx context.Context, p referral.Principal, offerID string, in Input[Decline], key string) (Decided, error) {
	return s.answer(ctx, p, ActDecline, offerID, func() (*Decline, error) { q, err := in(); return &q, err }, key)
}

// theirs reports whether an offer is the therapist's to see and answer:
// made to them (referral.Offer.Made) and still open, or accepted (their
// client).
func theirs(o referral.Offer, therapistID string) bool {
	return o.TherapistID == therapistID && (o.State == referral.OfferAccepted || (o.State == referral.OfferOpen && o.Made()))
}

// answer answers an offer. An offer that is not the therapist's is
// NotFound to them, as someone else's is: one made to another therapist,
// one not yet made, and one they no longer have (it expired, they declined
// it, the trainee withdrew). Refusing those for the referral's state would
// tell the therapist, for as long as they cared to ask, where a referral
// that is no longer theirs had got to.
//
// One exception keeps the Idempotency-Key's promise: an answer of their own
// (a decline, or an accept since ended) retried with its key answers with
// the first attempt's outcome, which they were given then. Any other
// answer to it is NotFound.
func (s *Service) answer(ctx context.Context, p referral.Principal, a Action, offerID string, in Input[*Decline], key string) (v Decided, err error) {
	referralID := ""
	defer func() { s.audited(ctx, p, a, referralID, &err) }()
	if err := allowed(p, a); err != nil {
		return v, err
	}
	if !validID(offerID) {
		return v, ErrNotFound
	}
	o, err := s.DB.Offer(ctx, offerID)
	if err != nil {
		return v, s.failed(ctx, "load offer", "", err)
	}
	referralID = o.ReferralID
	answered := o.State == referral.OfferDeclined || o.State == referral.OfferEnded
	replay := o.TherapistID == p.Subject && answered && key != ""
	if !theirs(o, p.Subject) && !replay {
		return v, ErrNotFound
	}
	decline, err := in()
	if err != nil {
		return v, err
	}
	actor := referral.Actor{Role: referral.RoleTherapist, ID: p.Subject}
	if replay {
		// Only a retry of the same update can succeed; its body is not
		// looked at, so no note is stored for it.
		name, arg := workflows.UpdateAcceptOffer, workflows.OfferAnswer{OfferID: o.ID, Actor: actor}
		if decline != nil {
			name, arg.ReasonCode = workflows.UpdateDeclineOffer, decline.ReasonCode
		}
		v, err = s.update(ctx, o.ReferralID, name, arg, key)
		if refusal := (*Error)(nil); errors.As(err, &refusal) && (refusal.Outcome == Conflict || refusal.Outcome == Invalid) {
			return Decided{}, ErrNotFound
		}
		return v, err
	}
	if decline == nil {
		v, err = s.update(ctx, o.ReferralID, workflows.UpdateAcceptOffer, workflows.OfferAnswer{OfferID: o.ID, Actor: actor}, key)
		return v, s.noLongerTheirs(ctx, o, err)
	}
	if p := referral.CheckTherapistDecline(decline.ReasonCode); p != nil {
		return v, problem(*p)
	}
	if utf8.RuneCountInString(decline.Reason) > maxReason {
		return v, FieldError("reason", "reason must be at most 2000 characters")
	}
	if !referral.Typed(decline.Reason, true) {
		return v, errReasonNotText
	}
	v, err = s.decide(ctx, o.ReferralID, actor, strings.TrimSpace(decline.Reason), workflows.UpdateDeclineOffer, func(noteID int64) any {
		return workflows.OfferAnswer{OfferID: o.ID, Actor: actor, NoteID: noteID, ReasonCode: decline.ReasonCode}
	}, key)
	return v, s.noLongerTheirs(ctx, o, err)
}

// noLongerTheirs turns the workflow's refusal of an answer into NotFound
// when the offer stopped being the therapist's while the answer was on its
// way (it expired, or the trainee withdrew): the refusal names the
// referral's new status, which is no longer theirs to know.
func (s *Service) noLongerTheirs(ctx context.Context, o referral.Offer, err error) error {
	var refusal *Error
	if !errors.As(err, &refusal) || refusal.Outcome != Conflict {
		return err
	}
	now, lerr := s.DB.Offer(ctx, o.ID)
	if lerr != nil {
		return s.failed(ctx, "load offer", o.ReferralID, lerr)
	}
	if !theirs(now, o.TherapistID) {
		return ErrNotFound
	}
	return err
}

// EndTherapy is the matched therapist reporting that therapy has ended,
// with an optional note.
func (s *Service) EndTherapy(ctx context.Context, p referral.Principal, id string, in Input[string], key string) (v Decided, err error) {
	defer s.audited(ctx, p, ActEnd, id, &err)
	if err := allowed(p, ActEnd); err != nil {
		return v, err
	}
	if !validID(id) {
		return v, ErrNotFound
	}
	o, err := s.DB.LiveOffer(ctx, id)
	if err != nil {
		return v, s.failed(ctx, "load offer", id, err)
	}
	if o == nil || o.TherapistID != p.Subject {
		return v, ErrNotFound
	}
	reason, err := readReason(in)
	if err != nil {
		return v, err
	}
	actor := referral.Actor{Role: referral.RoleTherapist, ID: p.Subject}
	return s.decide(ctx, id, actor, reason, workflows.UpdateEndTherapy, func(noteID int64) any {
		return workflows.OfferAnswer{OfferID: o.ID, Actor: actor, NoteID: noteID}
	}, key)
}

// audited records the call of an audited action once it has returned err.
func (s *Service) audited(ctx context.Context, p referral.Principal, a Action, referralID string, err *error) {
	if !validID(referralID) {
		referralID = ""
	}
	s.audit(ctx, p, a, referralID, OutcomeOf(*err, OK))
}

func readReason(in Input[string]) (string, error) { return readText(in, "reason", false) }

// decide sends a decision that may carry a note. The note is free text, so
// it goes to PostgreSQL, where it belongs, and the decision carries only its
// id; it must be stored before the decision is sent. So it is kept only with
// the decision: when the workflow refuses the decision for good, the note
// is discarded. On any other failure (Temporal unreachable, the caller gone)
// the decision may still be applied, and its note is kept.
func (s *Service) decide(ctx context.Context, referralID string, actor referral.Actor, note, name string, arg func(noteID int64) any, key string) (Decided, error) {
	noteID, err := s.note(ctx, referralID, actor, note)
	if err != nil {
		return Decided{}, err
	}
	v, err := s.update(ctx, referralID, name, arg(noteID), key)
	var refusal *Error
	if noteID != 0 && errors.As(err, &refusal) && (refusal.Outcome == Conflict || refusal.Outcome == Invalid || refusal.Outcome == Malformed) {
		if derr := s.DB.DiscardNote(context.WithoutCancel(ctx), noteID); derr != nil {
			s.logger(referralID).ErrorContext(ctx, "discard the note of a refused decision", "note_id", noteID, "err", derr)
		}
	}
	return v, err
}

// note stores free text about a referral and returns its id; none is
// stored for an empty text. An erased referral takes no note, and no
// decision either: it has ended.
func (s *Service) note(ctx context.Context, referralID string, actor referral.Actor, body string) (int64, error) {
	if body == "" {
		return 0, nil
	}
	id, err := s.DB.AddNote(ctx, referralID, actor.String(), body)
	if errors.Is(err, referral.ErrConflict) {
		ref, lerr := s.DB.Referral(ctx, referralID)
		if lerr != nil {
			return 0, s.failed(ctx, "load referral", referralID, lerr)
		}
		return 0, &Error{Outcome: Conflict, Code: "invalid_state", Message: "the referral has ended", Current: ref.Status}
	}
	if err != nil {
		return 0, s.failed(ctx, "store note", referralID, err)
	}
	return id, nil
}

// update sends a decision to a referral's workflow and reports what became
// of it.
func (s *Service) update(ctx context.Context, referralID, name string, arg any, key string) (Decided, error) {
	opts := client.UpdateWorkflowOptions{
		WorkflowID:   workflows.WorkflowID(referralID),
		UpdateName:   name,
		Args:         []any{arg},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	}
	if key != "" {
		if len(key) > 200 {
			return Decided{}, &Error{Outcome: Malformed, Code: "invalid_header", Field: "Idempotency-Key", Message: "Idempotency-Key must be at most 200 characters"}
		}
		opts.UpdateID = name + ":" + key
	}
	var v Decided
	h, err := s.Temporal.UpdateWorkflow(ctx, opts)
	if err == nil {
		err = h.Get(ctx, &v)
	}
	log := s.logger(referralID)
	if err == nil {
		log.InfoContext(ctx, "decision applied", "update", name, "status", v.Status)
		return v, nil
	}
	var appErr *temporal.ApplicationError
	var notFound *serviceerror.NotFound
	switch {
	case errors.As(err, &appErr) && (appErr.Type() == workflows.ErrTypeInvalidState || appErr.Type() == workflows.ErrTypeConflict):
		var current workflows.StatusView
		if appErr.HasDetails() {
			_ = appErr.Details(&current)
		}
		return v, &Error{Outcome: Conflict, Code: "invalid_state", Message: appErr.Message(), Current: current.Status}
	case errors.As(err, &appErr) && appErr.Type() == workflows.ErrTypeInvalidRequest:
		return v, &Error{Outcome: Invalid, Code: "invalid_request", Message: appErr.Message()}
	case errors.As(err, &notFound):
		// The workflow has completed (or never started): the referral has
		// ended, and its status is in PostgreSQL.
		ref, dbErr := s.DB.Referral(ctx, referralID)
		if dbErr != nil {
			return v, s.failed(ctx, "load referral", referralID, dbErr)
		}
		if !ref.Status.Terminal() {
			log.ErrorContext(ctx, "referral workflow missing", "status", ref.Status)
			return v, ErrUnavailable
		}
		return v, &Error{Outcome: Conflict, Code: "invalid_state", Message: "the referral has ended", Current: ref.Status}
	case errors.Is(err, context.Canceled):
		return v, err
	}
	log.ErrorContext(ctx, "update referral workflow", "update", name, "err", err)
	return v, ErrUnavailable
}
