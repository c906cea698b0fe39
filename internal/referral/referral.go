// Package referral holds the domain of the WMTNA referral pipeline: statuses,
// the people who act on a referral, and the rules that decide eligibility.
// It depends on nothing but the standard library, so the workflow, the store
// and the HTTP API all speak the same language.
package referral

import (
	"fmt"
	"time"
)

// Status is where a referral is in its lifecycle.
type Status string

const (
	StatusSubmitted      Status = "submitted"
	StatusIneligible     Status = "ineligible"
	StatusAwaitingReview Status = "awaiting_review"
	// StatusAwaitingInformation is a referral the committee has asked its
	// trainee a question about, instead of declining it; the answer sends
	// it back for review.
	StatusAwaitingInformation Status = "awaiting_information"
	StatusDeclined            Status = "declined"
	StatusMatching            Status = "matching"
	StatusOffered             Status = "offered"
	StatusWaitlisted          Status = "waitlisted"
	StatusMatched             Status = "matched"
	StatusEnded               Status = "ended"
	StatusWithdrawn           Status = "withdrawn"
	StatusLapsed              Status = "lapsed"
	// StatusClosedNoResponse ends a waiting referral whose trainee did not
	// answer a check-in in time.
	StatusClosedNoResponse Status = "closed_no_response"
)

// Statuses lists every status in lifecycle order.
var Statuses = []Status{
	StatusSubmitted, StatusIneligible, StatusAwaitingReview, StatusAwaitingInformation, StatusDeclined,
	StatusMatching, StatusOffered, StatusWaitlisted, StatusMatched,
	StatusEnded, StatusWithdrawn, StatusLapsed, StatusClosedNoResponse,
}

// Valid reports whether s is one of the known statuses.
func (s Status) Valid() bool {
	for _, k := range Statuses {
		if s == k {
			return true
		}
	}
	return false
}

// Terminal reports whether a referral in status s is finished: nothing more
// can happen to it and its workflow has completed.
func (s Status) Terminal() bool {
	switch s {
	case StatusIneligible, StatusDeclined, StatusEnded, StatusWithdrawn, StatusLapsed, StatusClosedNoResponse:
		return true
	}
	return false
}

// Role is the kind of person (or process) acting on the pipeline.
type Role string

const (
	RoleTrainee   Role = "trainee"
	RoleCommittee Role = "committee"
	RoleTherapist Role = "therapist"
	RoleOperator  Role = "operator"
	RoleSystem    Role = "system"
)

// Actor names who did something, for the events table. It carries an ID,
// never a name, so it is safe in workflow histories and logs.
type Actor struct {
	Role Role   `json:"role"`
	ID   string `json:"id,omitempty"`
}

// System is the actor for transitions the pipeline makes by itself.
var System = Actor{Role: RoleSystem}

func (a Actor) String() string {
	if a.ID == "" {
		return string(a.Role)
	}
	return string(a.Role) + ":" + a.ID
}

// Programmes are the seven HCPC Practitioner Psychologist domains. A trainee
// on any other programme is not someone the network exists for.
var Programmes = []string{
	"clinical", "counselling", "educational", "forensic", "health", "occupational", "sport_exercise",
}

var programmeNames = map[string]string{
	"clinical": "Clinical", "counselling": "Counselling", "educational": "Educational", "forensic": "Forensic",
	"health": "Health", "occupational": "Occupational", "sport_exercise": "Sport and exercise",
}

// ProgrammeName names a programme as people read it: "Clinical
// psychology"; an unknown code is shown as it is.
func ProgrammeName(code string) string {
	if n, ok := programmeNames[code]; ok {
		return n + " psychology"
	}
	return code
}

// KnownProgramme reports whether p is one of Programmes.
func KnownProgramme(p string) bool {
	for _, k := range Programmes {
		if p == k {
			return true
		}
	}
	return false
}

// CommitteeRoles are the offices a committee member may hold.
var CommitteeRoles = []string{"chair", "secretary", "treasurer", "member"}

// London is the zone in which dates (cut-offs, referral dates) are read:
// a trainee's "1 July" is a UK calendar day.
var London = mustLoad("Europe/London")

func mustLoad(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		// The zone database is embedded below (time/tzdata), so this only
		// fails if the binary was built without it.
		panic(fmt.Sprintf("load time zone %s: %v", name, err))
	}
	return loc
}

// Date is a calendar day with no time of day or zone.
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// DateOf is the UK calendar day on which t falls.
func DateOf(t time.Time) Date {
	y, m, d := t.In(London).Date()
	return Date{y, m, d}
}

// ParseDate reads YYYY-MM-DD and refuses impossible dates such as 2025-02-30.
func ParseDate(s string) (Date, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return Date{}, fmt.Errorf("%q is not a date of the form YYYY-MM-DD", s)
	}
	return DateOf(time.Date(t.Year(), t.Month(), t.Day(), 12, 0, 0, 0, London)), nil
}

// ParseMonth reads YYYY-MM as the first day of that month.
func ParseMonth(s string) (Date, error) {
	t, err := time.Parse("2006-01", s)
	if err != nil {
		return Date{}, fmt.Errorf("%q is not a month of the form YYYY-MM", s)
	}
	return Date{t.Year(), t.Month(), 1}, nil
}

func (d Date) String() string { return fmt.Sprintf("%04d-%02d-%02d", d.Year, d.Month, d.Day) }

// IsZero reports whether d is unset.
func (d Date) IsZero() bool { return d == Date{} }

// Start is the first instant of d in the UK.
func (d Date) Start() time.Time { return time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, London) }

// Before reports whether d is an earlier day than o.
func (d Date) Before(o Date) bool { return d.Start().Before(o.Start()) }

// AddDays is the day n days after d (before, for negative n).
func (d Date) AddDays(n int) Date {
	return DateOf(time.Date(d.Year, d.Month, d.Day+n, 12, 0, 0, 0, London))
}

// AddMonths moves d by n calendar months, clamping the day to the end of a
// shorter month (31 May - 3 months is 28 or 29 February, not 3 March).
func (d Date) AddMonths(n int) Date {
	first := time.Date(d.Year, d.Month+time.Month(n), 1, 12, 0, 0, 0, time.UTC)
	last := first.AddDate(0, 1, -1).Day()
	day := d.Day
	if day > last {
		day = last
	}
	return Date{first.Year(), first.Month(), day}
}

// Cutoff is the day from which a trainee can no longer be referred: three
// months before they are due to qualify. Without an expected qualification date it is
// 1 July of their third year of training, that is the first 1 July on or after
// two years from the start (an autumn 2024 start gives 1 July 2027).
func Cutoff(trainingStart Date, expectedQualification *Date) Date {
	if expectedQualification != nil && !expectedQualification.IsZero() {
		return expectedQualification.AddMonths(-3)
	}
	third := trainingStart.AddMonths(24)
	july := Date{third.Year, time.July, 1}
	if july.Before(third) {
		july.Year++
	}
	return july
}

// Reasons an eligibility check can fail; stable codes the API and the
// workflow carry instead of prose.
const (
	ReasonUnknownEmployer  = CodeIneligibleEmployer
	ReasonUnknownProgramme = CodeIneligibleProgramme
	ReasonPastCutoff       = CodeIneligibleCutoff
)

// Eligibility is the outcome of checking a referral against the rules.
type Eligibility struct {
	Eligible bool   `json:"eligible"`
	Reason   string `json:"reason,omitempty"`
	Cutoff   string `json:"cutoff"` // YYYY-MM-DD
}

// CheckEligibility applies the network's three rules to a referral made on
// day referred. employerRegistered says whether the employer is an active
// entry in the operators' register of West Midlands NHS and NHS-contracted
// organisations.
func CheckEligibility(referred Date, programme string, employerRegistered bool, trainingStart Date, expectedQualification *Date) Eligibility {
	cutoff := Cutoff(trainingStart, expectedQualification)
	e := Eligibility{Eligible: true, Cutoff: cutoff.String()}
	switch {
	case !employerRegistered:
		e.Eligible, e.Reason = false, ReasonUnknownEmployer
	case !KnownProgramme(programme):
		e.Eligible, e.Reason = false, ReasonUnknownProgramme
	case !referred.Before(cutoff):
		e.Eligible, e.Reason = false, ReasonPastCutoff
	}
	return e
}

// ReasonText explains an eligibility reason code in plain words.
func ReasonText(code string) string {
	switch code {
	case ReasonUnknownEmployer:
		return "Your employer is not on our register of West Midlands NHS and NHS-contracted services."
	case ReasonUnknownProgramme:
		return "The network supports trainees on HCPC Practitioner Psychologist training programmes only."
	case ReasonPastCutoff:
		return "Referrals close three months before you are due to qualify, and that date has passed."
	}
	return code
}
