package pipeline

import (
	"context"
	"slices"

	"github.com/wmtna/referrals/internal/referral"
)

// Action is one thing a person can ask of the pipeline. Audited actions are
// named in the audit log by their string.
type Action string

const (
	ActSubmit             Action = "submit"
	ActConfirm            Action = "confirm"
	ActList               Action = "list"
	ActRead               Action = "read"
	ActReview             Action = "review"
	ActWithdraw           Action = "withdraw"
	ActCheckIn            Action = "check-in"
	ActPause              Action = "pause"
	ActAsk                Action = "ask"
	ActAnswer             Action = "answer"
	ActResume             Action = "resume"
	ActEnd                Action = "end"
	ActErase              Action = "erase"
	ActListOffers         Action = "list-offers"
	ActAccept             Action = "accept"
	ActDecline            Action = "decline"
	ActWaitlist           Action = "waitlist"
	ActListTherapists     Action = "list-therapists"
	ActAddTherapist       Action = "add-therapist"
	ActChangeTherapist    Action = "change-therapist"
	ActReadTherapist      Action = "read-therapist"
	ActSetAvailability    Action = "set-availability"
	ActRetireTherapist    Action = "retire-therapist"
	ActRegisterHistory    Action = "register-history"
	ActSaveArea           Action = "save-area"
	ActListAreas          Action = "list-areas"
	ActListMembers        Action = "list-committee-members"
	ActAddCommitteeMember Action = "add-committee-member"
	ActChangeMember       Action = "change-committee-member"
	ActRemoveMember       Action = "remove-committee-member"
	ActListOrganisations  Action = "list-organisations"
	ActSaveOrganisation   Action = "save-organisation"
	ActIssueToken         Action = "issue-token"
	ActRevokeTokens       Action = "revoke-tokens"
	ActReport             Action = "report"
	// A former client's follow-ups: the emailed link's secret is the
	// credential, and none is audited, since an audit entry would tie an
	// anonymous answer to a referral and a time.
	ActFollowUp         Action = "follow-up"
	ActFeedbackComments Action = "feedback-comments"
)

var (
	trainee   = referral.RoleTrainee
	committee = referral.RoleCommittee
	therapist = referral.RoleTherapist
	operator  = referral.RoleOperator
)

type rule struct {
	roles   []referral.Role // nil: anyone, no sign-in needed
	audited bool            // every call is in the audit log, refusals included
}

// access is the access table: who may do what to which referral. Every use
// case checks it, whichever front end calls; the API builds its router from
// it, and the access matrix test walks every action against every role.
//
//	trainee:   their own referral only (the token's subject is the referral)
//	committee: every referral, to review; the register of therapists, the
//	           areas and the employers; the committee's own members, which
//	           only the Chair changes (an office, not a role: the use
//	           cases check it); never therapists' tokens
//	therapist: a referral only while it is offered to or matched with them;
//	           its personal details only once they have accepted; their
//	           own entry and availability, no one else's
//	operator:  registers, tokens, erasure, and every referral
//
// Beyond the role, each use case checks that the caller owns the referral
// or offer, answering NotFound rather than Forbidden so that a token cannot
// be used to learn what exists.
var access = map[Action]rule{
	ActSubmit:             {nil, true},
	ActConfirm:            {nil, true}, // the emailed link's secret is the credential
	ActList:               {roles(committee, operator), true},
	ActRead:               {roles(trainee, committee, therapist, operator), true},
	ActReview:             {roles(committee), true},
	ActWithdraw:           {roles(trainee), true},
	ActCheckIn:            {roles(trainee), true},
	ActPause:              {roles(trainee), true},
	ActAsk:                {roles(committee), true},
	ActAnswer:             {roles(trainee), true},
	ActResume:             {roles(trainee), true},
	ActEnd:                {roles(therapist), true},
	ActErase:              {roles(operator), true},
	ActListOffers:         {roles(therapist), true},
	ActAccept:             {roles(therapist), true},
	ActDecline:            {roles(therapist), true},
	ActWaitlist:           {roles(committee, operator), false},
	ActListTherapists:     {roles(committee, operator), false},
	ActAddTherapist:       {roles(committee, operator), false},
	ActChangeTherapist:    {roles(committee, operator), false},
	ActReadTherapist:      {roles(therapist, committee, operator), false},
	ActSetAvailability:    {roles(therapist, committee, operator), false},
	ActRetireTherapist:    {roles(committee, operator), false},
	ActRegisterHistory:    {roles(committee, operator), false},
	ActSaveArea:           {roles(committee, operator), false},
	ActListAreas:          {nil, false}, // the referral form offers them to anyone
	ActListMembers:        {roles(committee, operator), false},
	ActAddCommitteeMember: {roles(committee, operator), false}, // of the committee, the Chair only
	ActChangeMember:       {roles(committee, operator), false}, // of the committee, the Chair only
	ActRemoveMember:       {roles(committee, operator), false}, // of the committee, the Chair only
	ActListOrganisations:  {roles(committee, operator), false},
	ActSaveOrganisation:   {roles(committee, operator), false},
	ActIssueToken:         {roles(operator), false},
	ActRevokeTokens:       {roles(operator), false},
	ActReport:             {roles(committee, operator), true},
	ActFollowUp:           {nil, false},
	ActFeedbackComments:   {roles(committee, operator), false},
}

func roles(rs ...referral.Role) []referral.Role { return rs }

// Roles are the roles that may ask for a; nil when anyone may.
func Roles(a Action) []referral.Role {
	r, ok := access[a]
	if !ok {
		panic("pipeline: action " + string(a) + " is not in the access table")
	}
	return r.roles
}

// Actions lists the access table's actions.
func Actions() []Action {
	out := make([]Action, 0, len(access))
	for a := range access {
		out = append(out, a)
	}
	slices.Sort(out)
	return out
}

// Anonymous is the principal of someone who has not signed in.
var Anonymous = referral.Principal{}

// allowed checks the role of p against the access table.
func allowed(p referral.Principal, a Action) error {
	rs := Roles(a)
	switch {
	case rs == nil:
		return nil
	case p.Role == "":
		return ErrUnauthenticated
	case !slices.Contains(rs, p.Role):
		return ErrForbidden
	}
	return nil
}

// Allowed checks the role of p against the access table for a. Front ends
// call it before reading a request's body, so a caller without the right
// role learns no more than that, and record a refusal with Refused; every
// use case checks again.
func Allowed(p referral.Principal, a Action) error { return allowed(p, a) }

// Refused records that a request for an audited action was refused before
// it reached its use case.
func (s *Service) Refused(ctx context.Context, p referral.Principal, a Action, referralID string, outcome Outcome) {
	s.audit(ctx, p, a, referralID, outcome)
}
