package workflows

import (
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/wmtna/referrals/internal/referral"
)

// command is a human decision accepted by an update's validator, waiting for
// the main loop. Decisions are applied one at a time by the main loop, never
// by the handlers themselves, so a decision and a timer (an offer expiring,
// a cut-off passing) can never act on the referral at the same moment.
type command struct {
	name    string
	review  ReviewRequest
	answer  OfferAnswer
	checkIn CheckInAnswer
	pause   PauseRequest
	actor   referral.Actor
	noteID  int64

	done bool
	err  error
	view StatusView
}

type referralWorkflow struct {
	in      Input
	state   State
	pending []*command
	nudges  int // place-freed signals received
	// looked is nudges as of the last look for an offer. A nudge can arrive
	// while the referral is still on its way to the waitlist (its place was
	// filled between Enqueue and the waitlisted transition), so it is kept
	// here, not reset on entering the wait.
	looked int
}

// ReferralWorkflow runs one referral from submission to its end.
func ReferralWorkflow(ctx workflow.Context, in Input) (Result, error) {
	w := &referralWorkflow{in: in}
	if in.Resume != nil {
		w.state = *in.Resume
		workflow.SetCurrentDetails(ctx, w.details())
	}
	if err := w.register(ctx); err != nil {
		return Result{}, err
	}
	err := w.run(ctx)
	// Whatever ended the run, tell every caller still waiting, and let their
	// handlers return before the workflow completes.
	for _, c := range w.pending {
		c.finish(w, invalidState(w.state.Status, c.name))
	}
	w.pending = nil
	if werr := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); werr != nil && err == nil {
		err = werr
	}
	return Result{Status: w.state.Status}, err
}

func (w *referralWorkflow) register(ctx workflow.Context) error {
	if err := workflow.SetQueryHandler(ctx, QueryStatus, func() (StatusView, error) { return w.view(), nil }); err != nil {
		return err
	}
	updates := []struct {
		name     string
		handler  any
		validate any
	}{
		{UpdateReview,
			func(ctx workflow.Context, r ReviewRequest) (StatusView, error) {
				return w.submit(ctx, &command{name: UpdateReview, review: r, actor: r.Actor, noteID: r.NoteID})
			},
			func(ctx workflow.Context, r ReviewRequest) error {
				if r.Actor.Role != referral.RoleCommittee {
					return temporal.NewApplicationError("only the committee reviews referrals", ErrTypeInvalidRequest)
				}
				if p := referral.CheckReview(r.Decision, r.ReasonCode); p != nil {
					return temporal.NewApplicationError(p.Message, ErrTypeInvalidRequest)
				}
				return w.acceptable(UpdateReview, referral.StatusAwaitingReview)
			}},
		{UpdateWithdraw,
			func(ctx workflow.Context, r WithdrawRequest) (StatusView, error) {
				return w.submit(ctx, &command{name: UpdateWithdraw, actor: r.Actor, noteID: r.NoteID})
			},
			func(ctx workflow.Context, r WithdrawRequest) error {
				if w.state.Status.Terminal() {
					return invalidState(w.state.Status, UpdateWithdraw)
				}
				return w.acceptable(UpdateWithdraw, w.state.Status)
			}},
		{UpdateAcceptOffer,
			func(ctx workflow.Context, a OfferAnswer) (StatusView, error) {
				return w.submit(ctx, &command{name: UpdateAcceptOffer, answer: a, actor: a.Actor})
			},
			func(ctx workflow.Context, a OfferAnswer) error { return w.validateAnswer(UpdateAcceptOffer, a) }},
		{UpdateDeclineOffer,
			func(ctx workflow.Context, a OfferAnswer) (StatusView, error) {
				return w.submit(ctx, &command{name: UpdateDeclineOffer, answer: a, actor: a.Actor, noteID: a.NoteID})
			},
			func(ctx workflow.Context, a OfferAnswer) error {
				if p := referral.CheckTherapistDecline(a.ReasonCode); p != nil {
					return temporal.NewApplicationError(p.Message, ErrTypeInvalidRequest)
				}
				return w.validateAnswer(UpdateDeclineOffer, a)
			}},
		{UpdateCheckIn,
			func(ctx workflow.Context, a CheckInAnswer) (StatusView, error) {
				return w.submit(ctx, &command{name: UpdateCheckIn, checkIn: a, actor: a.Actor})
			},
			func(ctx workflow.Context, a CheckInAnswer) error {
				if err := w.acceptable(UpdateCheckIn, referral.StatusWaitlisted); err != nil {
					return err
				}
				if w.state.CheckInDeadline.IsZero() {
					return temporal.NewApplicationError("no check-in is open for this referral", ErrTypeInvalidState, w.view())
				}
				return nil
			}},
		{UpdateEndTherapy,
			func(ctx workflow.Context, a OfferAnswer) (StatusView, error) {
				return w.submit(ctx, &command{name: UpdateEndTherapy, answer: a, actor: a.Actor, noteID: a.NoteID})
			},
			func(ctx workflow.Context, a OfferAnswer) error {
				if err := w.acceptable(UpdateEndTherapy, referral.StatusMatched); err != nil {
					return err
				}
				if w.state.Offer == nil || a.Actor.Role != referral.RoleTherapist || a.Actor.ID != w.state.Offer.TherapistID {
					return temporal.NewApplicationError("only the matched therapist can end therapy", ErrTypeInvalidRequest)
				}
				return nil
			}},
		{UpdateAsk,
			func(ctx workflow.Context, r AskRequest) (StatusView, error) {
				return w.submit(ctx, &command{name: UpdateAsk, actor: r.Actor, noteID: r.NoteID})
			},
			func(ctx workflow.Context, r AskRequest) error {
				if r.Actor.Role != referral.RoleCommittee {
					return temporal.NewApplicationError("only the committee asks the trainee a question", ErrTypeInvalidRequest)
				}
				if r.NoteID == 0 {
					return temporal.NewApplicationError("a question needs its text", ErrTypeInvalidRequest)
				}
				return w.acceptable(UpdateAsk, referral.StatusAwaitingReview)
			}},
		{UpdateAnswer,
			func(ctx workflow.Context, r AnswerRequest) (StatusView, error) {
				return w.submit(ctx, &command{name: UpdateAnswer, actor: r.Actor, noteID: r.NoteID})
			},
			func(ctx workflow.Context, r AnswerRequest) error {
				if r.Actor.Role != referral.RoleTrainee {
					return temporal.NewApplicationError("only the trainee answers the committee's question", ErrTypeInvalidRequest)
				}
				if r.NoteID == 0 {
					return temporal.NewApplicationError("an answer needs its text", ErrTypeInvalidRequest)
				}
				return w.acceptable(UpdateAnswer, referral.StatusAwaitingInformation)
			}},
		{UpdatePause,
			func(ctx workflow.Context, r PauseRequest) (StatusView, error) {
				return w.submit(ctx, &command{name: UpdatePause, pause: r, actor: r.Actor})
			},
			func(ctx workflow.Context, r PauseRequest) error {
				if r.Actor.Role != referral.RoleTrainee {
					return temporal.NewApplicationError("only the trainee can pause their place", ErrTypeInvalidRequest)
				}
				if err := w.acceptable(UpdatePause, referral.StatusWaitlisted); err != nil {
					return err
				}
				if !w.state.PausedUntil.IsZero() {
					return temporal.NewApplicationError("the place is already paused", ErrTypeInvalidState, w.view())
				}
				cutoff, _ := referral.ParseDate(w.state.Cutoff)
				if _, p := referral.CheckPause(workflow.Now(ctx), r.Until, w.in.Timings.MaxPause(), cutoff); p != nil {
					return temporal.NewApplicationError(p.Message, ErrTypeInvalidRequest)
				}
				return nil
			}},
		{UpdateResume,
			func(ctx workflow.Context, r ResumeRequest) (StatusView, error) {
				return w.submit(ctx, &command{name: UpdateResume, actor: r.Actor})
			},
			func(ctx workflow.Context, r ResumeRequest) error {
				if r.Actor.Role != referral.RoleTrainee {
					return temporal.NewApplicationError("only the trainee can resume their place", ErrTypeInvalidRequest)
				}
				if err := w.acceptable(UpdateResume, referral.StatusWaitlisted); err != nil {
					return err
				}
				if w.state.PausedUntil.IsZero() {
					return temporal.NewApplicationError("the place is not paused", ErrTypeInvalidState, w.view())
				}
				return nil
			}},
	}
	for _, u := range updates {
		if err := workflow.SetUpdateHandlerWithOptions(ctx, u.name, u.handler, workflow.UpdateHandlerOptions{Validator: u.validate}); err != nil {
			return err
		}
	}
	signals := workflow.GetSignalChannel(ctx, SignalPlaceFreed)
	workflow.Go(ctx, func(ctx workflow.Context) {
		for signals.Receive(ctx, nil) {
			w.nudges++
		}
	})
	return nil
}

// acceptable refuses a decision unless the referral is in the status it
// needs and no other decision is already waiting to be applied.
func (w *referralWorkflow) acceptable(name string, need referral.Status) error {
	if w.state.Status != need {
		return invalidState(w.state.Status, name)
	}
	if len(w.pending) > 0 {
		return temporal.NewApplicationError("another decision on this referral is being applied", ErrTypeInvalidState, w.view())
	}
	return nil
}

func (w *referralWorkflow) validateAnswer(name string, a OfferAnswer) error {
	if err := w.acceptable(name, referral.StatusOffered); err != nil {
		return err
	}
	if w.state.Offer == nil || a.OfferID != w.state.Offer.ID {
		return temporal.NewApplicationError("that offer is no longer open", ErrTypeInvalidState, w.view())
	}
	if a.Actor.Role != referral.RoleTherapist || a.Actor.ID != w.state.Offer.TherapistID {
		return temporal.NewApplicationError("only the therapist offered can answer an offer", ErrTypeInvalidRequest)
	}
	return nil
}

func invalidState(s referral.Status, name string) error {
	return temporal.NewApplicationError(name+" is not possible while the referral is "+string(s), ErrTypeInvalidState, StatusView{Status: s})
}

// submit hands a validated decision to the main loop and waits for it to be
// applied, so the caller learns the real outcome.
func (w *referralWorkflow) submit(ctx workflow.Context, c *command) (StatusView, error) {
	w.pending = append(w.pending, c)
	if err := workflow.Await(ctx, func() bool { return c.done }); err != nil {
		return StatusView{}, err
	}
	return c.view, c.err
}

func (c *command) finish(w *referralWorkflow, err error) {
	c.done, c.err, c.view = true, err, w.view()
}

func (w *referralWorkflow) view() StatusView {
	v := StatusView{Status: w.state.Status}
	if w.state.Offer != nil {
		v.OfferID, v.TherapistID = w.state.Offer.ID, w.state.Offer.TherapistID
	}
	v.PausedUntil = w.state.PausedUntil
	return v
}

func (w *referralWorkflow) next() *command {
	c := w.pending[0]
	w.pending = w.pending[1:]
	return c
}

func (w *referralWorkflow) run(ctx workflow.Context) error {
	if w.in.Resume == nil {
		if err := w.start(ctx); err != nil {
			return err
		}
	}
	for !w.state.Status.Terminal() {
		var err error
		switch w.state.Status {
		case referral.StatusAwaitingReview:
			err = w.awaitReview(ctx)
		case referral.StatusAwaitingInformation:
			err = w.awaitInformation(ctx)
		case referral.StatusMatching:
			err = w.match(ctx)
		case referral.StatusOffered:
			err = w.awaitAnswer(ctx)
		case referral.StatusWaitlisted:
			err = w.wait(ctx)
		case referral.StatusMatched:
			err = w.awaitEnd(ctx)
		default:
			err = temporal.NewNonRetryableApplicationError("referral in unexpected status "+string(w.state.Status), ErrTypeInvalidState, nil)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// start records the submission and decides eligibility.
func (w *referralWorkflow) start(ctx workflow.Context) error {
	if err := w.transition(ctx, referral.StatusSubmitted, referral.Actor{Role: referral.RoleTrainee}, "", 0); err != nil {
		return err
	}
	e, err := checkEligibility(activityCtx(ctx), w.in.ReferralID)
	if err != nil {
		return err
	}
	w.state.Cutoff = e.Cutoff
	if !e.Eligible {
		return w.transition(ctx, referral.StatusIneligible, referral.System, e.Reason, 0)
	}
	return w.transition(ctx, referral.StatusAwaitingReview, referral.System, referral.CodeEligible, 0)
}

func (w *referralWorkflow) awaitReview(ctx workflow.Context) error {
	for w.state.Status == referral.StatusAwaitingReview {
		if err := w.continueAsNewIfLong(ctx); err != nil {
			return err
		}
		summary := fmt.Sprintf("Review reminder %d for referral %s", w.state.Reminders+1, w.in.ReferralID)
		got, err := awaitTimer(ctx, w.in.Timings.ReviewReminder, summary, func() bool { return len(w.pending) > 0 })
		if err != nil {
			return err
		}
		if !got {
			w.state.Reminders++
			if err := remindCommittee(activityCtx(ctx), ReminderInput{ReferralID: w.in.ReferralID, N: w.state.Reminders}); err != nil {
				return err
			}
			continue
		}
		c := w.next()
		switch c.name {
		case UpdateReview:
			if c.review.Decision == DecisionDecline {
				code := c.review.ReasonCode
				if code == "" {
					code = referral.CodeCommitteeDeclined
				}
				err = w.transition(ctx, referral.StatusDeclined, c.actor, code, c.noteID)
			} else if err = w.transition(ctx, referral.StatusMatching, c.actor, referral.CodeApproved, c.noteID); err == nil {
				// Matching is quick (one allocation), so the committee member
				// learns whether the referral was offered or waitlisted.
				err = w.match(ctx)
			}
		case UpdateAsk:
			now := workflow.Now(ctx)
			w.state.Questions++
			w.state.AskedAt, w.state.AnswerReminders = now, 0
			err = w.transition(ctx, referral.StatusAwaitingInformation, c.actor, referral.CodeInformationRequested, c.noteID)
		case UpdateWithdraw:
			err = w.withdraw(ctx, c)
		default:
			err = invalidState(w.state.Status, c.name)
		}
		if done := w.settle(c, err); done != nil {
			return done
		}
	}
	return nil
}

// awaitInformation waits for the trainee's answer to the committee's
// question, reminding them at intervals; the answer sends the referral back
// for review, and no answer by the deadline closes it as incomplete.
func (w *referralWorkflow) awaitInformation(ctx workflow.Context) error {
	within, every := w.in.Timings.AnswerTime()
	for w.state.Status == referral.StatusAwaitingInformation {
		if err := w.continueAsNewIfLong(ctx); err != nil {
			return err
		}
		now := workflow.Now(ctx)
		deadline := w.state.AskedAt.Add(within)
		if len(w.pending) == 0 && !now.Before(deadline) {
			return w.transition(ctx, referral.StatusClosedNoResponse, referral.System, referral.CodeIncomplete, 0)
		}
		remindAt := w.state.AskedAt.Add(time.Duration(w.state.AnswerReminders+1) * every)
		if len(w.pending) == 0 && remindAt.Before(deadline) && !now.Before(remindAt) {
			w.state.AnswerReminders++
			in := QuestionReminderInput{ReferralID: w.in.ReferralID, N: w.state.Questions, K: w.state.AnswerReminders, Deadline: deadline}
			if err := remindQuestion(activityCtx(ctx), in); err != nil {
				return err
			}
			continue
		}
		next := deadline
		if remindAt.Before(deadline) {
			next = remindAt
		}
		summary := fmt.Sprintf("Referral %s waits for the trainee's answer to question %d", w.in.ReferralID, w.state.Questions)
		got, err := awaitTimer(ctx, next.Sub(now), summary, func() bool { return len(w.pending) > 0 })
		if err != nil {
			return err
		}
		if !got {
			continue
		}
		c := w.next()
		switch c.name {
		case UpdateAnswer:
			w.state.Reminders = 0 // the committee is reminded afresh
			err = w.transition(ctx, referral.StatusAwaitingReview, c.actor, referral.CodeInformationGiven, c.noteID)
		case UpdateWithdraw:
			err = w.withdraw(ctx, c)
		default:
			err = invalidState(w.state.Status, c.name)
		}
		if done := w.settle(c, err); done != nil {
			return done
		}
	}
	return nil
}

// awaitTimer waits until cond holds or d passes, whichever is first, and
// reports whether cond held. Its timer carries summary, which the Temporal
// UI shows in place of the SDK's "AwaitWithTimeout", so it names IDs only.
// When cond wins, the timer is cancelled: otherwise it stays pending in the
// history until it fires unheeded, and an operator reading a matched
// referral sees a review reminder and an offer expiry still to come.
// Histories from before the cancellation replay as they ran.
func awaitTimer(ctx workflow.Context, d time.Duration, summary string, cond func() bool) (bool, error) {
	opts := workflow.AwaitOptions{Timeout: d, TimerOptions: workflow.TimerOptions{Summary: summary}}
	if workflow.GetVersion(ctx, "cancel-unneeded-timers", workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return workflow.AwaitWithOptions(ctx, opts, cond)
	}
	tctx, cancel := workflow.WithCancel(ctx)
	defer cancel() // after the timer fired, a no-op
	return workflow.AwaitWithOptions(tctx, opts, cond)
}

// settle completes a command. A refusal (invalid state, conflict) goes back
// to the caller and the workflow carries on; anything else is the workflow's
// own failure and is returned.
func (w *referralWorkflow) settle(c *command, err error) error {
	var appErr *temporal.ApplicationError
	if err != nil && !(errors.As(err, &appErr) && (appErr.Type() == ErrTypeInvalidState || appErr.Type() == ErrTypeConflict)) {
		c.finish(w, err)
		return err
	}
	c.finish(w, err)
	return nil
}

// match looks for a free therapist for the referral, which joins the queue
// in the order it was approved.
func (w *referralWorkflow) match(ctx workflow.Context) error {
	offer, err := enqueue(activityCtx(ctx), w.in.ReferralID)
	if err != nil {
		return err
	}
	return w.offerOrWait(ctx, offer)
}

func (w *referralWorkflow) offerOrWait(ctx workflow.Context, offer *referral.Offer) error {
	if offer == nil {
		w.state.Offer = nil
		return w.transition(ctx, referral.StatusWaitlisted, referral.System, referral.CodeNoFreePlace, 0)
	}
	w.state.Offer = offer
	w.state.OfferDeadline = workflow.Now(ctx).Add(w.in.Timings.OfferTTL)
	return w.transition(ctx, referral.StatusOffered, referral.System, referral.CodePlaceReserved, 0)
}

func (w *referralWorkflow) awaitAnswer(ctx workflow.Context) error {
	for w.state.Status == referral.StatusOffered {
		remaining := w.state.OfferDeadline.Sub(workflow.Now(ctx))
		got := len(w.pending) > 0
		if !got && remaining > 0 {
			var err error
			summary := fmt.Sprintf("Offer %s to therapist %s lapses unless answered", w.state.Offer.ID, w.state.Offer.TherapistID)
			if got, err = awaitTimer(ctx, remaining, summary, func() bool { return len(w.pending) > 0 }); err != nil {
				return err
			}
		}
		if !got {
			if err := w.closeOffer(ctx, referral.OfferExpired, referral.System, referral.CodeOfferExpired, 0); err != nil {
				return err
			}
			continue
		}
		c := w.next()
		var err error
		switch {
		case w.stale(ctx, c):
			// Its validator saw its offer open, but the offer expired
			// before the answer's turn came, and the referral has been
			// offered again: the answer is to an offer that is gone, and
			// must not act on the new one, which another therapist holds.
			err = temporal.NewApplicationError("that offer is no longer open", ErrTypeInvalidState, StatusView{Status: w.state.Status})
		case c.name == UpdateAcceptOffer:
			err = acceptOffer(activityCtx(ctx), w.state.Offer.ID)
			if err == nil {
				err = w.transition(ctx, referral.StatusMatched, c.actor, referral.CodeOfferAccepted, 0)
			}
		case c.name == UpdateDeclineOffer:
			err = w.closeOffer(ctx, referral.OfferDeclined, c.actor, c.answer.ReasonCode, c.noteID)
		case c.name == UpdateWithdraw:
			err = w.withdraw(ctx, c)
		default:
			err = invalidState(w.state.Status, c.name)
		}
		if done := w.settle(c, err); done != nil {
			return done
		}
	}
	return nil
}

// stale reports whether c answers an offer other than the open one.
// Histories from before the check applied such an answer to the open
// offer; they replay as they ran.
func (w *referralWorkflow) stale(ctx workflow.Context, c *command) bool {
	if (c.name != UpdateAcceptOffer && c.name != UpdateDeclineOffer) || c.answer.OfferID == w.state.Offer.ID {
		return false
	}
	return workflow.GetVersion(ctx, "answer-own-offer", workflow.DefaultVersion, 1) >= 1
}

// closeOffer ends the open offer (declined or expired), records the
// referral going back to matching, and takes the next offer or waits.
func (w *referralWorkflow) closeOffer(ctx workflow.Context, outcome string, actor referral.Actor, reason string, noteID int64) error {
	in := CloseOfferInput{OfferID: w.state.Offer.ID, Outcome: outcome, ReasonCode: reason}
	next, err := closeOffer(activityCtx(ctx), in)
	if err != nil {
		return err
	}
	if err := w.transition(ctx, referral.StatusMatching, actor, reason, noteID); err != nil {
		return err
	}
	return w.offerOrWait(ctx, next)
}

// wait keeps a referral on the waitlist until a place is offered to it, the
// trainee withdraws, or their cut-off passes. Places are offered by
// whichever process frees them (see postgres.DB.Leave, CloseOffer); the
// signal only wakes this loop early, and the periodic recheck repairs a
// nudge lost to a crash.
func (w *referralWorkflow) wait(ctx workflow.Context) error {
	cutoff, err := referral.ParseDate(w.state.Cutoff)
	if err != nil {
		return temporal.NewNonRetryableApplicationError("referral has no valid cut-off", ErrTypeInvalidState, err)
	}
	// Check-ins and the lapse warning came after the first referrals were
	// already waiting; their histories replay without them.
	well := workflow.GetVersion(ctx, "waiting-well", workflow.DefaultVersion, 1) >= 1
	// A paused place is asked no check-in; its resumption sets the next.
	if well && w.in.Timings.CheckInInterval > 0 && w.state.NextCheckIn.IsZero() && w.state.CheckInDeadline.IsZero() && w.state.PausedUntil.IsZero() {
		w.state.NextCheckIn = workflow.Now(ctx).Add(w.in.Timings.CheckInInterval)
	}
	// A run that continued as new may have been nudged just before: look
	// once straight away rather than wait for the next nudge or recheck.
	lookNow := w.in.Resume != nil
	for w.state.Status == referral.StatusWaitlisted {
		if err := w.continueAsNewIfLong(ctx); err != nil {
			return err
		}
		now := workflow.Now(ctx)
		untilCutoff := cutoff.Start().Sub(now)
		if untilCutoff <= 0 {
			return w.leave(ctx, referral.StatusLapsed, referral.System, referral.CodeEligibilityLapsed, 0)
		}
		timeout := min(w.in.Timings.WaitlistRecheck, untilCutoff)
		paused := !w.state.PausedUntil.IsZero()
		if paused {
			due, next, err := w.pausing(ctx, now)
			if err != nil {
				return err
			}
			if due {
				continue
			}
			timeout = min(timeout, next.Sub(now))
		}
		if well {
			due, next, err := w.waitingWell(ctx, now, cutoff)
			if err != nil || due {
				if err != nil {
					return err
				}
				continue
			}
			if !next.IsZero() {
				timeout = min(timeout, next.Sub(now))
			}
		}
		got := lookNow
		if !lookNow {
			summary := fmt.Sprintf("Referral %s looks at the waitlist again", w.in.ReferralID)
			// A paused place is offered nothing, so a nudge does not wake it.
			if got, err = awaitTimer(ctx, timeout, summary, func() bool { return len(w.pending) > 0 || (!paused && w.nudges != w.looked) }); err != nil {
				return err
			}
		}
		lookNow = false
		if len(w.pending) > 0 {
			c := w.next()
			switch {
			case c.name == UpdateWithdraw:
				err = w.withdraw(ctx, c)
			case c.name == UpdateCheckIn && !c.checkIn.StillWaiting:
				err = w.leave(ctx, referral.StatusWithdrawn, c.actor, referral.CodeWithdrawnByTrainee, 0)
			case c.name == UpdateCheckIn:
				// Still waiting: the place in the queue, taken at approval,
				// is kept; the next check-in is an interval from now.
				w.state.CheckInDeadline = time.Time{}
				w.state.NextCheckIn = workflow.Now(ctx).Add(w.in.Timings.CheckInInterval)
				err = w.transition(ctx, referral.StatusWaitlisted, c.actor, referral.CodeStillWaiting, 0)
			case c.name == UpdatePause:
				err = w.pause(ctx, c)
			case c.name == UpdateResume:
				err = w.resume(ctx, c.actor, referral.CodeResumed)
			default:
				err = invalidState(w.state.Status, c.name)
			}
			if done := w.settle(c, err); done != nil {
				return done
			}
			continue
		}
		if paused {
			w.looked = w.nudges // its resumption looks for a place
			continue
		}
		if got {
			w.looked = w.nudges
		} else if !workflow.Now(ctx).Before(cutoff.Start()) || (well && w.wellDue(workflow.Now(ctx), cutoff)) {
			continue // the loop's top acts on it
		}
		offer, err := reconcile(activityCtx(ctx), w.in.ReferralID)
		if err != nil {
			return err
		}
		if offer != nil {
			w.state.CheckInDeadline, w.state.NextCheckIn = time.Time{}, time.Time{}
			if err := w.offerOrWait(ctx, offer); err != nil {
				return err
			}
		}
	}
	return nil
}

// pause takes the place out of the offers until the date asked, keeping
// its position. A place offered before the pause was applied stands, and
// the pause is refused.
func (w *referralWorkflow) pause(ctx workflow.Context, c *command) error {
	until, err := referral.ParseDate(c.pause.Until)
	if err != nil { // the validator read it; a history from elsewhere did not
		return temporal.NewApplicationError("until must be a date such as 2027-03-01", ErrTypeInvalidState, w.view())
	}
	now := workflow.Now(ctx)
	offer, err := pause(activityCtx(ctx), PauseInput{ReferralID: w.in.ReferralID, At: now, Until: until.Start()})
	if err != nil {
		return err
	}
	if offer != nil {
		w.state.CheckInDeadline, w.state.NextCheckIn = time.Time{}, time.Time{}
		if err := w.offerOrWait(ctx, offer); err != nil {
			return err
		}
		return temporal.NewApplicationError("a place has just been offered, so the referral was not paused", ErrTypeInvalidState, w.view())
	}
	t := w.in.Timings
	w.state.Pauses++
	w.state.PausedUntil = until.Start()
	// A pause no longer than the reminder's notice needs no reminder.
	w.state.PauseReminded = t.PauseReminder <= 0 || w.state.PausedUntil.Sub(now) <= t.PauseReminder
	// Pausing answers an open check-in: the trainee still wants a place.
	w.state.CheckInDeadline, w.state.NextCheckIn = time.Time{}, time.Time{}
	return w.transition(ctx, referral.StatusWaitlisted, c.actor, referral.CodePaused, 0)
}

// resume puts a paused place back in line, early (the trainee asked) or
// because the pause ran out, and takes a free place at once if one is
// there for it.
func (w *referralWorkflow) resume(ctx workflow.Context, actor referral.Actor, reason string) error {
	now := workflow.Now(ctx)
	offer, err := resume(activityCtx(ctx), ResumeInput{ReferralID: w.in.ReferralID, At: now})
	if err != nil {
		return err
	}
	w.state.PausedUntil, w.state.PauseReminded = time.Time{}, false
	if t := w.in.Timings; t.CheckInInterval > 0 {
		w.state.NextCheckIn = now.Add(t.CheckInInterval)
	}
	if err := w.transition(ctx, referral.StatusWaitlisted, actor, reason, 0); err != nil {
		return err
	}
	if offer == nil {
		return nil
	}
	w.state.NextCheckIn = time.Time{}
	return w.offerOrWait(ctx, offer)
}

// pausing does what is due for a paused place at now: end the pause, or
// remind the trainee that it ends soon. due says it acted; next is when
// the next of these falls due.
func (w *referralWorkflow) pausing(ctx workflow.Context, now time.Time) (due bool, next time.Time, err error) {
	if !now.Before(w.state.PausedUntil) {
		return true, next, w.resume(ctx, referral.System, referral.CodePauseEnded)
	}
	if w.state.PauseReminded {
		return false, w.state.PausedUntil, nil
	}
	at := w.state.PausedUntil.Add(-w.in.Timings.PauseReminder)
	if now.Before(at) {
		return false, at, nil
	}
	w.state.PauseReminded = true
	in := PauseReminderInput{ReferralID: w.in.ReferralID, N: w.state.Pauses, Until: w.state.PausedUntil}
	return true, next, remindPauseEnds(activityCtx(ctx), in)
}

// waitingWell does what is due for a waiting trainee at now: close the
// referral when a check-in went unanswered, ask a check-in, or warn that the
// cut-off is near. due says it acted (the caller loops); next is when the
// next of these falls due, zero when none will.
func (w *referralWorkflow) waitingWell(ctx workflow.Context, now time.Time, cutoff referral.Date) (due bool, next time.Time, err error) {
	t := w.in.Timings
	switch {
	case !w.state.CheckInDeadline.IsZero() && !now.Before(w.state.CheckInDeadline):
		return true, next, w.leave(ctx, referral.StatusClosedNoResponse, referral.System, referral.CodeNoResponse, 0)
	case w.state.CheckInDeadline.IsZero() && !w.state.NextCheckIn.IsZero() && !now.Before(w.state.NextCheckIn):
		w.state.CheckIns++
		w.state.NextCheckIn, w.state.CheckInDeadline = time.Time{}, now.Add(t.CheckInGrace)
		in := CheckInInput{ReferralID: w.in.ReferralID, N: w.state.CheckIns, Deadline: w.state.CheckInDeadline}
		return true, next, askCheckIn(activityCtx(ctx), in)
	case t.LapseWarning > 0 && !w.state.LapseWarned && !now.Before(cutoff.Start().Add(-t.LapseWarning)):
		w.state.LapseWarned = true
		in := LapseWarningInput{ReferralID: w.in.ReferralID, Cutoff: w.state.Cutoff}
		return true, next, warnLapse(activityCtx(ctx), in)
	}
	for _, at := range []time.Time{w.state.CheckInDeadline, w.state.NextCheckIn} {
		if !at.IsZero() && (next.IsZero() || at.Before(next)) {
			next = at
		}
	}
	if t.LapseWarning > 0 && !w.state.LapseWarned {
		if at := cutoff.Start().Add(-t.LapseWarning); next.IsZero() || at.Before(next) {
			next = at
		}
	}
	return false, next, nil
}

// wellDue reports whether waitingWell has something to do at now.
func (w *referralWorkflow) wellDue(now time.Time, cutoff referral.Date) bool {
	t := w.in.Timings
	return (!w.state.CheckInDeadline.IsZero() && !now.Before(w.state.CheckInDeadline)) ||
		(w.state.CheckInDeadline.IsZero() && !w.state.NextCheckIn.IsZero() && !now.Before(w.state.NextCheckIn)) ||
		(t.LapseWarning > 0 && !w.state.LapseWarned && !now.Before(cutoff.Start().Add(-t.LapseWarning)))
}

func (w *referralWorkflow) awaitEnd(ctx workflow.Context) error {
	for w.state.Status == referral.StatusMatched {
		if err := workflow.Await(ctx, func() bool { return len(w.pending) > 0 }); err != nil {
			return err
		}
		c := w.next()
		var err error
		switch c.name {
		case UpdateEndTherapy:
			if err = w.leave(ctx, referral.StatusEnded, c.actor, referral.CodeTherapyEnded, c.noteID); err == nil {
				err = w.startFollowUps(ctx)
			}
		case UpdateWithdraw:
			err = w.withdraw(ctx, c)
		default:
			err = invalidState(w.state.Status, c.name)
		}
		if done := w.settle(c, err); done != nil {
			return done
		}
	}
	return nil
}

func (w *referralWorkflow) withdraw(ctx workflow.Context, c *command) error {
	return w.leave(ctx, referral.StatusWithdrawn, c.actor, referral.CodeWithdrawnByTrainee, c.noteID)
}

// leave takes the referral out of the queue for good, freeing any place it
// held for the next in line, then records its end.
func (w *referralWorkflow) leave(ctx workflow.Context, to referral.Status, actor referral.Actor, reason string, noteID int64) error {
	if err := leave(activityCtx(ctx), w.in.ReferralID); err != nil {
		return err
	}
	if err := w.transition(ctx, to, actor, reason, noteID); err != nil {
		return err
	}
	// The therapist was told by the transition; the ended referral no
	// longer names them to anyone who asks its status.
	w.state.Offer = nil
	return nil
}

// transition moves the referral to a new status: in the workflow's own
// state, in Postgres (event, status, and the messages it causes, exactly
// once) and in its search attributes.
func (w *referralWorkflow) transition(ctx workflow.Context, to referral.Status, actor referral.Actor, reason string, noteID int64) error {
	t := referral.Transition{
		ReferralID: w.in.ReferralID,
		Seq:        w.state.Seq + 1,
		At:         workflow.Now(ctx),
		Actor:      actor,
		From:       w.state.Status,
		To:         to,
		Reason:     reason,
		NoteID:     noteID,
	}
	if w.state.Offer != nil {
		t.OfferID, t.TherapistID = w.state.Offer.ID, w.state.Offer.TherapistID
		if to == referral.StatusOffered {
			t.OfferExpiresAt = w.state.OfferDeadline
		}
	}
	// The workflow moves first: a decision arriving while the transition is
	// being recorded is judged against the status the referral is entering,
	// and queued until the record is written. Recording never gives up (it
	// is retried until Postgres answers), so the two cannot disagree for
	// long.
	w.state.Seq, w.state.Status = t.Seq, to
	if err := recordTransition(activityCtx(ctx), t); err != nil {
		return err
	}
	therapist := ""
	if w.state.Offer != nil && (to == referral.StatusOffered || to == referral.StatusMatched) {
		therapist = w.state.Offer.TherapistID
	}
	// Not a command: the UI asks for it, so old histories replay unchanged.
	workflow.SetCurrentDetails(ctx, w.details())
	return workflow.UpsertTypedSearchAttributes(ctx, StatusKey.ValueSet(string(to)), TherapistKey.ValueSet(therapist))
}

// details is what the Temporal UI shows as the referral's current details:
// its status, and the offer and therapist it concerns, by ID only.
func (w *referralWorkflow) details() string {
	d := fmt.Sprintf("Referral %s is %s.", w.in.ReferralID, w.state.Status)
	if o := w.state.Offer; o != nil {
		switch w.state.Status {
		case referral.StatusOffered:
			d += fmt.Sprintf(" Offer %s to therapist %s lapses at %s unless answered.", o.ID, o.TherapistID,
				w.state.OfferDeadline.UTC().Format("2006-01-02 15:04 UTC"))
		case referral.StatusMatched:
			d += fmt.Sprintf(" Matched with therapist %s (offer %s).", o.TherapistID, o.ID)
		}
	}
	if w.state.Status == referral.StatusWaitlisted && !w.state.PausedUntil.IsZero() {
		d += " Paused until " + referral.DateOf(w.state.PausedUntil).String() + "."
	}
	return d
}

// continueAsNewIfLong starts a fresh run carrying the state when the history
// has grown long, so a referral that waits for months stays cheap to replay.
func (w *referralWorkflow) continueAsNewIfLong(ctx workflow.Context) error {
	info := workflow.GetInfo(ctx)
	long := info.GetContinueAsNewSuggested() || (w.in.Timings.HistoryLimit > 0 && info.GetCurrentHistoryLength() >= w.in.Timings.HistoryLimit)
	if !long || len(w.pending) > 0 || !workflow.AllHandlersFinished(ctx) {
		return nil
	}
	state := w.state
	next := Input{ReferralID: w.in.ReferralID, Timings: w.in.Timings, Resume: &state}
	return workflow.NewContinueAsNewError(ctx, WorkflowName, next)
}

// activityCtx sets the options every referral activity runs with: retried
// until it succeeds (Postgres may be down for a while; every activity is
// idempotent), except for refusals that retrying cannot change.
func activityCtx(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        time.Second,
			BackoffCoefficient:     2,
			MaximumInterval:        time.Minute,
			NonRetryableErrorTypes: []string{ErrTypeConflict, ErrTypeInvalidState, ErrTypeInvalidRequest},
		},
	})
}
