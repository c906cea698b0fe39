package workflows

import (
	"reflect"
	"slices"

	"go.temporal.io/sdk/workflow"

	"github.com/wmtna/referrals/internal/referral"
)

// The workflows call every activity through a typed function below, never
// workflow.ExecuteActivity with a bare name: the SDK takes the argument as
// any and decodes the result into whatever pointer it is given, so a wrong
// argument or result type would otherwise surface only when a full-stack
// test ran the activity. Each activity is declared once, with its name and
// types; the typed function and ActivityContract are both built from that
// declaration, so the contract a test checks against the worker is the one
// the workflows really use. This package cannot import package activities
// (the activities import it), which is why the check lives in a test.
//
// The calls change nothing in a history: the same activity type name, the
// same options (the caller's ctx carries them, as before) and the same
// commands in the same order.

// ActivitySignature is what the workflows expect of one activity: it is
// registered as Name, takes a context and one argument of type Arg, and
// returns a Result and an error, or only an error when Result is nil.
type ActivitySignature struct {
	Name   string
	Arg    reflect.Type
	Result reflect.Type
}

// contract collects the declarations below as the package initialises.
var contract []ActivitySignature

// ActivityContract lists every activity the workflows call, for tests that
// hold the worker's registrations to it.
func ActivityContract() []ActivitySignature { return slices.Clone(contract) }

// activity is an activity taking A and returning R.
type activity[A, R any] struct{ name string }

// action is an activity taking A and returning only an error.
type action[A any] struct{ name string }

func declare[A, R any](name string) activity[A, R] {
	contract = append(contract, ActivitySignature{Name: name, Arg: reflect.TypeFor[A](), Result: reflect.TypeFor[R]()})
	return activity[A, R]{name}
}

func declareAction[A any](name string) action[A] {
	contract = append(contract, ActivitySignature{Name: name, Arg: reflect.TypeFor[A]()})
	return action[A]{name}
}

// run executes the activity with the options ctx carries and waits for its
// result.
func (a activity[A, R]) run(ctx workflow.Context, arg A) (R, error) {
	return a.start(ctx, arg).get(ctx)
}

// start schedules the activity without waiting, for activities run side by
// side.
func (a activity[A, R]) start(ctx workflow.Context, arg A) future[R] {
	return future[R]{workflow.ExecuteActivity(ctx, a.name, arg)}
}

func (a action[A]) run(ctx workflow.Context, arg A) error {
	return workflow.ExecuteActivity(ctx, a.name, arg).Get(ctx, nil)
}

// future is a started activity whose result is an R.
type future[R any] struct{ f workflow.Future }

func (f future[R]) get(ctx workflow.Context) (R, error) {
	var r R
	err := f.f.Get(ctx, &r)
	return r, err
}

// Declarations, one per activity name. The names are in recorded histories
// and never change.
var (
	checkEligibilityActivity = declare[string, referral.Eligibility](ActivityCheckEligibility)
	recordTransitionActivity = declareAction[referral.Transition](ActivityRecordTransition)
	remindCommitteeActivity  = declareAction[ReminderInput](ActivityRemindCommittee)
	enqueueActivity          = declare[string, *referral.Offer](ActivityEnqueue)
	closeOfferActivity       = declare[CloseOfferInput, *referral.Offer](ActivityCloseOffer)
	acceptOfferActivity      = declareAction[string](ActivityAcceptOffer)
	leaveActivity            = declareAction[string](ActivityLeave)
	reconcileActivity        = declare[string, *referral.Offer](ActivityReconcile)
	askCheckInActivity       = declareAction[CheckInInput](ActivityAskCheckIn)
	warnLapseActivity        = declareAction[LapseWarningInput](ActivityWarnLapse)
	pauseActivity            = declare[PauseInput, *referral.Offer](ActivityPause)
	resumeActivity           = declare[ResumeInput, *referral.Offer](ActivityResume)
	remindPauseEndsActivity  = declareAction[PauseReminderInput](ActivityRemindPauseEnds)
	remindQuestionActivity   = declareAction[QuestionReminderInput](ActivityRemindQuestion)

	expiredReferralsActivity = declare[RetentionInput, []string](ActivityExpiredReferrals)
	eraseReferralActivity    = declare[EraseInput, bool](ActivityEraseReferral)

	deliverMessagesActivity = declareAction[[]int64](ActivityDeliverMessages)
	giveUpMessagesActivity  = declareAction[[]int64](ActivityGiveUpMessages)
)

// checkEligibility decides whether the referral meets the network's rules.
func checkEligibility(ctx workflow.Context, referralID string) (referral.Eligibility, error) {
	return checkEligibilityActivity.run(ctx, referralID)
}

// recordTransition records a transition and the messages it causes.
func recordTransition(ctx workflow.Context, t referral.Transition) error {
	return recordTransitionActivity.run(ctx, t)
}

// remindCommittee asks the committee again to review a referral.
func remindCommittee(ctx workflow.Context, in ReminderInput) error {
	return remindCommitteeActivity.run(ctx, in)
}

// enqueue puts an approved referral in the queue and returns its offer, nil
// if no therapist was free.
func enqueue(ctx workflow.Context, referralID string) (*referral.Offer, error) {
	return enqueueActivity.run(ctx, referralID)
}

// closeOffer closes an open offer and returns the referral's next one, if
// any.
func closeOffer(ctx workflow.Context, in CloseOfferInput) (*referral.Offer, error) {
	return closeOfferActivity.run(ctx, in)
}

// acceptOffer records a therapist's acceptance.
func acceptOffer(ctx workflow.Context, offerID string) error {
	return acceptOfferActivity.run(ctx, offerID)
}

// leave takes a referral out of the queue for good.
func leave(ctx workflow.Context, referralID string) error {
	return leaveActivity.run(ctx, referralID)
}

// reconcile fills free places from the queue and returns the referral's
// open offer, if it now has one.
func reconcile(ctx workflow.Context, referralID string) (*referral.Offer, error) {
	return reconcileActivity.run(ctx, referralID)
}

// askCheckIn asks a waiting trainee whether they still want a place.
func askCheckIn(ctx workflow.Context, in CheckInInput) error {
	return askCheckInActivity.run(ctx, in)
}

// warnLapse warns a waiting trainee that their eligibility ends soon.
func warnLapse(ctx workflow.Context, in LapseWarningInput) error {
	return warnLapseActivity.run(ctx, in)
}

// pause takes a waiting referral out of the offers until in.Until. It
// returns the referral's offer instead when a place was offered to it
// first: then it is not paused.
func pause(ctx workflow.Context, in PauseInput) (*referral.Offer, error) {
	return pauseActivity.run(ctx, in)
}

// resume puts a paused referral back in line, in its old position, and
// returns its offer if a free place could be offered to it at once.
func resume(ctx workflow.Context, in ResumeInput) (*referral.Offer, error) {
	return resumeActivity.run(ctx, in)
}

// remindPauseEnds tells a trainee that their pause ends soon.
func remindPauseEnds(ctx workflow.Context, in PauseReminderInput) error {
	return remindPauseEndsActivity.run(ctx, in)
}

// remindQuestion reminds a trainee of the committee's question.
func remindQuestion(ctx workflow.Context, in QuestionReminderInput) error {
	return remindQuestionActivity.run(ctx, in)
}

// expiredReferrals lists a batch of finished referrals past retention.
func expiredReferrals(ctx workflow.Context, in RetentionInput) ([]string, error) {
	return expiredReferralsActivity.run(ctx, in)
}

// eraseReferral erases one referral and reports whether anything was
// erased.
func eraseReferral(ctx workflow.Context, in EraseInput) (bool, error) {
	return eraseReferralActivity.run(ctx, in)
}

// startEraseReferral is eraseReferral without the wait, for a batch erased
// side by side.
func startEraseReferral(ctx workflow.Context, in EraseInput) future[bool] {
	return eraseReferralActivity.start(ctx, in)
}

// deliverMessages sends a batch of outbox messages.
func deliverMessages(ctx workflow.Context, outboxIDs []int64) error {
	return deliverMessagesActivity.run(ctx, outboxIDs)
}

// giveUpMessages records a batch's unsent messages as failed.
func giveUpMessages(ctx workflow.Context, outboxIDs []int64) error {
	return giveUpMessagesActivity.run(ctx, outboxIDs)
}
