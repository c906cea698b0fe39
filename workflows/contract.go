// Package workflows holds the referral workflow: one durable run per
// referral, from submission to a matched therapist or an honest end. It is
// pure orchestration: every side effect is an activity (package activities),
// time comes from workflow.Now and timers, and its inputs, results, queries
// and search attributes carry IDs and statuses only — never a name, an email
// or a word of what the trainee wants help with.
package workflows

import (
	"encoding/json"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/wmtna/referrals/internal/referral"
)

// TaskQueue is where referral workflows and their activities run.
const TaskQueue = "wmtna-referrals"

// WorkflowName is the registered name of the referral workflow; it is
// part of every running referral's history, so it never changes.
const WorkflowName = "Referral"

// WorkflowID is the ID of a referral's workflow. One referral, one ID, so a
// second start of the same referral is refused by Temporal itself.
func WorkflowID(referralID string) string { return "referral-" + referralID }

// Messages a referral workflow accepts.
const (
	UpdateReview       = "review"
	UpdateWithdraw     = "withdraw"
	UpdateAcceptOffer  = "accept-offer"
	UpdateDeclineOffer = "decline-offer"
	UpdateEndTherapy   = "end-therapy"
	// UpdateCheckIn is a waiting trainee's answer to "do you still want a
	// place?".
	UpdateCheckIn = "check-in"
	// UpdatePause pauses a waiting trainee's place until a date, and
	// UpdateResume gives it back early.
	UpdatePause  = "pause"
	UpdateResume = "resume"
	// UpdateAsk is the committee asking the trainee a question about a
	// referral awaiting review, instead of declining it; UpdateAnswer is
	// the trainee's answer.
	UpdateAsk    = "ask"
	UpdateAnswer = "answer"
	// SignalPlaceFreed nudges a waiting referral: a place may have been
	// offered to it. It carries nothing; the workflow asks Postgres.
	SignalPlaceFreed = "place-freed"
	QueryStatus      = "status"
)

// Activity names, registered by package worker from package activities.
// The workflows call them only through the typed calls in calls.go.
const (
	ActivityCheckEligibility = "CheckEligibility"
	ActivityRecordTransition = "RecordTransition"
	ActivityRemindCommittee  = "RemindCommittee"
	ActivityEnqueue          = "Enqueue"
	ActivityCloseOffer       = "CloseOffer"
	ActivityAcceptOffer      = "AcceptOffer"
	ActivityLeave            = "Leave"
	ActivityReconcile        = "Reconcile"
	ActivityAskCheckIn       = "AskCheckIn"
	ActivityWarnLapse        = "WarnLapse"
	ActivityPause            = "Pause"
	ActivityResume           = "Resume"
	ActivityRemindPauseEnds  = "RemindPauseEnds"
	ActivityRemindQuestion   = "RemindQuestion"
)

// Search attributes set at every transition so operators can filter
// referrals in the Temporal UI. Register them on the namespace before
// starting workflows (see SearchAttributes).
var (
	StatusKey    = temporal.NewSearchAttributeKeyKeyword("ReferralStatus")
	TherapistKey = temporal.NewSearchAttributeKeyKeyword("ReferralTherapistID")
)

// Error types carried by application errors, so the API can answer 409 or
// 422 without parsing messages.
const (
	ErrTypeInvalidState   = "InvalidState"
	ErrTypeInvalidRequest = "InvalidRequest"
	ErrTypeConflict       = "Conflict"
)

// Timings are the durations that shape a referral's life. They are part of
// the workflow's input, not read from the environment by the workflow, so
// replaying a history always sees the values it started with.
type Timings struct {
	ReviewReminder  time.Duration `json:"review_reminder"`
	OfferTTL        time.Duration `json:"offer_ttl"`
	WaitlistRecheck time.Duration `json:"waitlist_recheck"`
	// HistoryLimit is the number of events after which a long wait continues
	// as new; 0 uses the server's suggestion alone.
	HistoryLimit int `json:"history_limit,omitempty"`
	// CheckInInterval is how often a waiting trainee is asked whether they
	// still want a place, and CheckInGrace how long they have to answer
	// before the referral closes as closed_no_response. LapseWarning is how
	// long before the cut-off a waiting trainee is warned that their
	// eligibility ends. Zero turns each off (referrals started before they
	// existed carry zeros).
	CheckInInterval time.Duration `json:"check_in_interval,omitempty"`
	CheckInGrace    time.Duration `json:"check_in_grace,omitempty"`
	LapseWarning    time.Duration `json:"lapse_warning,omitempty"`
	// PauseLimit is the longest a waiting trainee may pause their place
	// (zero: DefaultPauseLimit, for referrals started before pauses
	// existed), and PauseReminder how long before a pause ends they are
	// reminded (zero: no reminder).
	PauseLimit    time.Duration `json:"pause_limit,omitempty"`
	PauseReminder time.Duration `json:"pause_reminder,omitempty"`
	// AnswerWithin is how long a trainee has to answer the committee's
	// question before the referral closes as incomplete, and
	// AnswerReminder how often they are reminded meanwhile. Zero:
	// DefaultAnswerWithin and DefaultAnswerReminder (referrals started
	// before questions existed carry zeros).
	AnswerWithin   time.Duration `json:"answer_within,omitempty"`
	AnswerReminder time.Duration `json:"answer_reminder,omitempty"`
	// The follow-ups once therapy ends (FollowUpTimings; zeros take its
	// defaults).
	FeedbackReminder time.Duration `json:"feedback_reminder,omitempty"`
	StayedFirst      time.Duration `json:"stayed_first,omitempty"`
	StayedSecond     time.Duration `json:"stayed_second,omitempty"`
	FollowUpLinkTTL  time.Duration `json:"follow_up_link_ttl,omitempty"`
}

// FollowUps are the timings of a referral's follow-ups.
func (t Timings) FollowUps() FollowUpTimings {
	return FollowUpTimings{Reminder: t.FeedbackReminder, First: t.StayedFirst, Second: t.StayedSecond, LinkTTL: t.FollowUpLinkTTL}.orDefaults()
}

// Four weeks to answer the committee's question, reminded weekly.
const (
	DefaultAnswerWithin   = 28 * 24 * time.Hour
	DefaultAnswerReminder = 7 * 24 * time.Hour
)

// AnswerTime is how long a referral with these timings gives its trainee
// to answer a question, and how often it reminds them.
func (t Timings) AnswerTime() (within, remindEvery time.Duration) {
	within, remindEvery = t.AnswerWithin, t.AnswerReminder
	if within <= 0 {
		within = DefaultAnswerWithin
	}
	if remindEvery <= 0 {
		remindEvery = DefaultAnswerReminder
	}
	return within, remindEvery
}

// DefaultPauseLimit is how long a place may be paused when the timings say
// nothing: twelve weeks, a placement or a term.
const DefaultPauseLimit = 12 * 7 * 24 * time.Hour

// MaxPause is the longest a referral with these timings may pause.
func (t Timings) MaxPause() time.Duration {
	if t.PauseLimit > 0 {
		return t.PauseLimit
	}
	return DefaultPauseLimit
}

// timingsJSON is Timings as JSON: each duration as Go writes it ("72h0m0s"),
// which an operator reading a workflow's input in the Temporal UI can read,
// where time.Duration's own encoding is nanoseconds (259200000000000).
type timingsJSON struct {
	ReviewReminder   jsonDuration `json:"review_reminder"`
	OfferTTL         jsonDuration `json:"offer_ttl"`
	WaitlistRecheck  jsonDuration `json:"waitlist_recheck"`
	HistoryLimit     int          `json:"history_limit,omitempty"`
	CheckInInterval  jsonDuration `json:"check_in_interval,omitempty"`
	CheckInGrace     jsonDuration `json:"check_in_grace,omitempty"`
	LapseWarning     jsonDuration `json:"lapse_warning,omitempty"`
	PauseLimit       jsonDuration `json:"pause_limit,omitempty"`
	PauseReminder    jsonDuration `json:"pause_reminder,omitempty"`
	AnswerWithin     jsonDuration `json:"answer_within,omitempty"`
	AnswerReminder   jsonDuration `json:"answer_reminder,omitempty"`
	FeedbackReminder jsonDuration `json:"feedback_reminder,omitempty"`
	StayedFirst      jsonDuration `json:"stayed_first,omitempty"`
	StayedSecond     jsonDuration `json:"stayed_second,omitempty"`
	FollowUpLinkTTL  jsonDuration `json:"follow_up_link_ttl,omitempty"`
}

// MarshalJSON writes each duration as a string such as "72h0m0s".
func (t Timings) MarshalJSON() ([]byte, error) {
	return json.Marshal(timingsJSON{
		ReviewReminder: jsonDuration(t.ReviewReminder), OfferTTL: jsonDuration(t.OfferTTL),
		WaitlistRecheck: jsonDuration(t.WaitlistRecheck), HistoryLimit: t.HistoryLimit,
		CheckInInterval: jsonDuration(t.CheckInInterval), CheckInGrace: jsonDuration(t.CheckInGrace),
		LapseWarning: jsonDuration(t.LapseWarning),
		PauseLimit:   jsonDuration(t.PauseLimit), PauseReminder: jsonDuration(t.PauseReminder),
		AnswerWithin: jsonDuration(t.AnswerWithin), AnswerReminder: jsonDuration(t.AnswerReminder),
		FeedbackReminder: jsonDuration(t.FeedbackReminder), StayedFirst: jsonDuration(t.StayedFirst),
		StayedSecond: jsonDuration(t.StayedSecond), FollowUpLinkTTL: jsonDuration(t.FollowUpLinkTTL),
	})
}

// UnmarshalJSON reads durations written either way: as strings, and as the
// nanoseconds of every referral started before, still running and in the
// histories they replay.
func (t *Timings) UnmarshalJSON(b []byte) error {
	var j timingsJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*t = Timings{
		ReviewReminder: time.Duration(j.ReviewReminder), OfferTTL: time.Duration(j.OfferTTL),
		WaitlistRecheck: time.Duration(j.WaitlistRecheck), HistoryLimit: j.HistoryLimit,
		CheckInInterval: time.Duration(j.CheckInInterval), CheckInGrace: time.Duration(j.CheckInGrace),
		LapseWarning: time.Duration(j.LapseWarning),
		PauseLimit:   time.Duration(j.PauseLimit), PauseReminder: time.Duration(j.PauseReminder),
		AnswerWithin: time.Duration(j.AnswerWithin), AnswerReminder: time.Duration(j.AnswerReminder),
		FeedbackReminder: time.Duration(j.FeedbackReminder), StayedFirst: time.Duration(j.StayedFirst),
		StayedSecond: time.Duration(j.StayedSecond), FollowUpLinkTTL: time.Duration(j.FollowUpLinkTTL),
	}
	return nil
}

// jsonDuration is a duration in JSON as a string, read from a string or a
// number of nanoseconds.
type jsonDuration time.Duration

func (d jsonDuration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

func (d *jsonDuration) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("duration %q: %w", s, err)
		}
		*d = jsonDuration(v)
		return nil
	}
	var ns int64
	if err := json.Unmarshal(b, &ns); err != nil {
		return fmt.Errorf("duration %s: want a string such as \"72h0m0s\" or nanoseconds", b)
	}
	*d = jsonDuration(ns)
	return nil
}

// DefaultTimings suit production: committee reminders every 3 days, a week
// for a therapist to answer, a daily backstop check of the waitlist, a
// check-in every 12 weeks (NHS England's waiting-list validation practice)
// with two weeks to answer, a warning 4 weeks before the cut-off, and a
// place paused for up to 12 weeks with a reminder a week before it ends,
// and four weeks to answer a question from the committee, reminded weekly.
func DefaultTimings() Timings {
	return Timings{ReviewReminder: 72 * time.Hour, OfferTTL: 7 * 24 * time.Hour, WaitlistRecheck: 24 * time.Hour, HistoryLimit: 2000,
		CheckInInterval: 12 * 7 * 24 * time.Hour, CheckInGrace: 14 * 24 * time.Hour, LapseWarning: 4 * 7 * 24 * time.Hour,
		PauseLimit: DefaultPauseLimit, PauseReminder: 7 * 24 * time.Hour,
		AnswerWithin: DefaultAnswerWithin, AnswerReminder: DefaultAnswerReminder}
}

// Validate refuses timings a workflow could not run with.
func (t Timings) Validate() error {
	for _, c := range []struct {
		name string
		d    time.Duration
	}{{"review reminder", t.ReviewReminder}, {"offer TTL", t.OfferTTL}, {"waitlist recheck", t.WaitlistRecheck}} {
		if c.d <= 0 {
			return fmt.Errorf("%s must be positive, got %s", c.name, c.d)
		}
	}
	return nil
}

// Input starts a referral workflow. Resume is set only when a long-running
// referral continues as new.
type Input struct {
	ReferralID string  `json:"referral_id"`
	Timings    Timings `json:"timings"`
	Resume     *State  `json:"resume,omitempty"`
}

// State is what a referral workflow carries across continue-as-new.
type State struct {
	Status        referral.Status `json:"status"`
	Seq           int             `json:"seq"`
	Cutoff        string          `json:"cutoff,omitempty"`
	Offer         *referral.Offer `json:"offer,omitempty"`
	OfferDeadline time.Time       `json:"offer_deadline,omitzero"`
	Reminders     int             `json:"reminders,omitempty"`
	// Waiting well: when the next check-in is due, the deadline of the one
	// asked (zero when none is open), how many were asked, and whether the
	// lapse warning has gone out.
	NextCheckIn     time.Time `json:"next_check_in,omitzero"`
	CheckInDeadline time.Time `json:"check_in_deadline,omitzero"`
	CheckIns        int       `json:"check_ins,omitempty"`
	LapseWarned     bool      `json:"lapse_warned,omitempty"`
	// A pause: when it ends (zero when the place is not paused), how many
	// were taken, and whether the reminder of this one's end has gone out.
	PausedUntil   time.Time `json:"paused_until,omitzero"`
	Pauses        int       `json:"pauses,omitempty"`
	PauseReminded bool      `json:"pause_reminded,omitempty"`
	// A question from the committee: how many were asked, when the open
	// one was, and how many reminders of it have gone.
	Questions       int       `json:"questions,omitempty"`
	AskedAt         time.Time `json:"asked_at,omitzero"`
	AnswerReminders int       `json:"answer_reminders,omitempty"`
}

// StatusView answers the status query and every update.
type StatusView struct {
	Status      referral.Status `json:"status"`
	OfferID     string          `json:"offer_id,omitempty"`
	TherapistID string          `json:"therapist_id,omitempty"`
	// PausedUntil is when a paused place is the trainee's again.
	PausedUntil time.Time `json:"paused_until,omitzero"`
}

// Result is how a referral workflow ends.
type Result struct {
	Status referral.Status `json:"status"`
}

// ReviewRequest is a committee member's decision. NoteID points at the free
// text reason stored in Postgres.
type ReviewRequest struct {
	Decision string         `json:"decision"` // approve or decline
	Actor    referral.Actor `json:"actor"`
	NoteID   int64          `json:"note_id,omitempty"`
	// ReasonCode is one of referral.CommitteeDeclineCodes, for a decline.
	ReasonCode string `json:"reason_code,omitempty"`
}

// Review decisions.
const (
	DecisionApprove = referral.DecisionApprove
	DecisionDecline = referral.DecisionDecline
)

// OfferAnswer is a therapist's accept or decline of an offer, or their
// report that therapy has ended.
type OfferAnswer struct {
	OfferID string         `json:"offer_id,omitempty"`
	Actor   referral.Actor `json:"actor"`
	NoteID  int64          `json:"note_id,omitempty"`
	// ReasonCode is one of referral.TherapistDeclineCodes, for a decline.
	ReasonCode string `json:"reason_code,omitempty"`
}

// CheckInAnswer is a waiting trainee's answer to a check-in.
type CheckInAnswer struct {
	StillWaiting bool           `json:"still_waiting"`
	Actor        referral.Actor `json:"actor"`
}

// CheckInInput asks a waiting trainee whether they still want a place.
type CheckInInput struct {
	ReferralID string    `json:"referral_id"`
	N          int       `json:"n"`
	Deadline   time.Time `json:"deadline"`
}

// LapseWarningInput warns a waiting trainee that their eligibility ends.
type LapseWarningInput struct {
	ReferralID string `json:"referral_id"`
	Cutoff     string `json:"cutoff"`
}

// PauseRequest is a waiting trainee pausing their place until a date
// (YYYY-MM-DD, in London): on that day it is theirs again.
type PauseRequest struct {
	Until string         `json:"until"`
	Actor referral.Actor `json:"actor"`
}

// ResumeRequest is a trainee taking their paused place back early.
type ResumeRequest struct {
	Actor referral.Actor `json:"actor"`
}

// PauseInput takes a waiting referral out of the offers, keeping its
// position, from At until Until.
type PauseInput struct {
	ReferralID string    `json:"referral_id"`
	At         time.Time `json:"at"`
	Until      time.Time `json:"until"`
}

// ResumeInput puts a paused referral back among those offered places.
type ResumeInput struct {
	ReferralID string    `json:"referral_id"`
	At         time.Time `json:"at"`
}

// PauseReminderInput tells a trainee that their pause number N ends at
// Until.
type PauseReminderInput struct {
	ReferralID string    `json:"referral_id"`
	N          int       `json:"n"`
	Until      time.Time `json:"until"`
}

// AskRequest is a committee member's question to the trainee, and
// AnswerRequest the trainee's answer; NoteID points at the text, stored in
// PostgreSQL.
type AskRequest struct {
	Actor  referral.Actor `json:"actor"`
	NoteID int64          `json:"note_id"`
}

type AnswerRequest struct {
	Actor  referral.Actor `json:"actor"`
	NoteID int64          `json:"note_id"`
}

// QuestionReminderInput reminds a trainee, for the Kth time, of question N,
// to be answered by Deadline.
type QuestionReminderInput struct {
	ReferralID string    `json:"referral_id"`
	N          int       `json:"n"`
	K          int       `json:"k"`
	Deadline   time.Time `json:"deadline"`
}

// WithdrawRequest is the trainee withdrawing.
type WithdrawRequest struct {
	Actor  referral.Actor `json:"actor"`
	NoteID int64          `json:"note_id,omitempty"`
}

// CloseOfferInput closes an open offer as declined or expired.
type CloseOfferInput struct {
	OfferID string `json:"offer_id"`
	Outcome string `json:"outcome"`
	// ReasonCode is the therapist's coded reason, for a decline.
	ReasonCode string `json:"reason_code,omitempty"`
}

// ReminderInput asks the committee again to review a referral.
type ReminderInput struct {
	ReferralID string `json:"referral_id"`
	N          int    `json:"n"`
}
