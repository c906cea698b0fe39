package referral

import (
	"slices"
	"strings"
)

// Coded reasons carried by every ending and refusal, modelled on FHIR Task
// statusReason and the NHS e-Referral Service's rejection reasons. Free
// text, where a person gives it, is kept beside the code as a note.
const (
	CodeDuplicate           = "duplicate"
	CodeIneligibleEmployer  = "ineligible-employer"
	CodeIneligibleProgramme = "ineligible-programme"
	CodeIneligibleCutoff    = "ineligible-cutoff"
	CodeIncomplete          = "incomplete"
	CodeCommitteeDeclined   = "committee-declined"
	CodeWithdrawnByTrainee  = "withdrawn-by-trainee"
	CodeNoResponse          = "no-response"
	CodeEligibilityLapsed   = "eligibility-lapsed"
	CodeTherapistConflict   = "therapist-conflict"
	CodeTherapistCapacity   = "therapist-capacity"
)

// Codes of the steps that are not endings, for the events table.
const (
	CodeEligible      = "eligible"
	CodeApproved      = "approved"
	CodeNoFreePlace   = "no-free-place"
	CodePlaceReserved = "place-reserved"
	CodeOfferAccepted = "offer-accepted"
	CodeOfferExpired  = "offer-expired"
	CodeTherapyEnded  = "therapy-ended"
	CodeStillWaiting  = "still-waiting"
	// A waiting trainee's pause: taken, ended early by them, or run out.
	CodePaused     = "paused"
	CodeResumed    = "resumed"
	CodePauseEnded = "pause-ended"
	// The committee asked the trainee a question, and the trainee answered.
	// Unanswered by the deadline, the referral closes as CodeIncomplete.
	CodeInformationRequested = "information-requested"
	CodeInformationGiven     = "information-given"
)

// CommitteeDeclineCodes are the reasons a committee may give for declining.
var CommitteeDeclineCodes = []string{
	CodeCommitteeDeclined, CodeDuplicate, CodeIncomplete,
	CodeIneligibleEmployer, CodeIneligibleProgramme, CodeIneligibleCutoff,
}

// TherapistDeclineCodes are the reasons a therapist may give for declining
// an offer. A conflict of interest (they taught, supervised, assessed or
// managed the trainee, work in the same team, or know them personally) keeps
// them from that trainee for good; only the committee sees which was given.
var TherapistDeclineCodes = []string{CodeTherapistCapacity, CodeTherapistConflict}

// CrisisSupport is said on every trainee-facing message and response: the
// network is not an emergency service.
const CrisisSupport = "WMTNA is not an emergency service. If your life is at risk, call 999 or go to A&E. " +
	"For urgent mental health help, call NHS 111 and choose option 2 (mental health). " +
	"You can talk to Samaritans any time on 116 123, or text SHOUT to 85258. " +
	"You can also contact your trust's staff support or occupational health service, or your GP."

// A committee member's decisions on a referral awaiting review.
const (
	DecisionApprove = "approve"
	DecisionDecline = "decline"
)

// CheckReview is the rule for a committee member's decision, whoever
// carries it (the use case, the workflow's validator): approve or decline,
// and a coded reason only with a decline, from CommitteeDeclineCodes. The
// free text that may go with it is checked where it is read.
func CheckReview(decision, reasonCode string) *Problem {
	switch {
	case decision != DecisionApprove && decision != DecisionDecline:
		return &Problem{Field: "decision", Message: `decision must be "approve" or "decline"`}
	case reasonCode != "" && (decision != DecisionDecline || !slices.Contains(CommitteeDeclineCodes, reasonCode)):
		return &Problem{Field: "reason_code", Message: "reason_code goes with a decline and must be one of " + strings.Join(CommitteeDeclineCodes, ", ")}
	}
	return nil
}

// CheckTherapistDecline is the rule for a therapist's decline: it needs a
// coded reason from TherapistDeclineCodes.
func CheckTherapistDecline(reasonCode string) *Problem {
	if !slices.Contains(TherapistDeclineCodes, reasonCode) {
		return &Problem{Field: "reason_code", Message: "reason_code must be one of " + strings.Join(TherapistDeclineCodes, ", ")}
	}
	return nil
}
