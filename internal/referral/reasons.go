package referral

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
