package httpapi

import (
	"net/http"

	"github.com/wmtna/referrals/internal/referral"
	"github.com/wmtna/referrals/workflows"
)

// route is one operation of the API and who may call it. Roles is the first
// gate (401 without a token, 403 with another role); handlers then check
// that the caller owns the referral or offer, answering 404 rather than 403
// so a token cannot be used to learn what exists. Audit names the action
// recorded in the audit log for every call that reaches the handler.
type route struct {
	Method  string
	Pattern string
	Roles   []referral.Role // nil: anyone, no token needed
	Audit   string
	Handler func(*Server) http.HandlerFunc
}

var (
	trainee   = referral.RoleTrainee
	committee = referral.RoleCommittee
	therapist = referral.RoleTherapist
	operator  = referral.RoleOperator
)

// routes is the access table: who may do what to which referral. Every
// route the API serves is built from it, and access_test.go walks every
// route against every role, so a route cannot be added without a rule.
//
//	trainee:   their own referral only (the token's subject is the referral)
//	committee: every referral, to review; never therapists' tokens
//	therapist: a referral only while it is offered to or matched with them;
//	           its personal details only once they have accepted
//	operator:  registers, tokens, erasure, and every referral
var routes = []route{
	{"POST", "/v1/referrals", nil, "submit", func(s *Server) http.HandlerFunc { return s.submit }},
	{"GET", "/v1/referrals", roles(committee, operator), "list", func(s *Server) http.HandlerFunc { return s.listReferrals }},
	{"GET", "/v1/referrals/{id}", roles(trainee, committee, therapist, operator), "read", func(s *Server) http.HandlerFunc { return s.getReferral }},
	{"POST", "/v1/referrals/{id}/review", roles(committee), "review", func(s *Server) http.HandlerFunc { return s.review }},
	{"POST", "/v1/referrals/{id}/withdraw", roles(trainee), "withdraw", func(s *Server) http.HandlerFunc { return s.withdraw }},
	{"POST", "/v1/referrals/{id}/check-in", roles(trainee), "check-in", func(s *Server) http.HandlerFunc { return s.checkIn }},
	{"POST", "/v1/referrals/{id}/end", roles(therapist), "end", func(s *Server) http.HandlerFunc { return s.endTherapy }},
	{"POST", "/v1/referrals/{id}/erase", roles(operator), "erase", func(s *Server) http.HandlerFunc { return s.eraseReferral }},
	{"GET", "/v1/offers", roles(therapist), "list-offers", func(s *Server) http.HandlerFunc { return s.listOffers }},
	{"POST", "/v1/offers/{id}/accept", roles(therapist), "accept", func(s *Server) http.HandlerFunc { return s.answerOffer(workflows.UpdateAcceptOffer) }},
	{"POST", "/v1/offers/{id}/decline", roles(therapist), "decline", func(s *Server) http.HandlerFunc { return s.answerOffer(workflows.UpdateDeclineOffer) }},
	{"GET", "/v1/waitlist", roles(committee, operator), "", func(s *Server) http.HandlerFunc { return s.waitlist }},
	{"GET", "/v1/therapists", roles(committee, operator), "", func(s *Server) http.HandlerFunc { return s.listTherapists }},
	{"POST", "/v1/therapists", roles(operator), "", func(s *Server) http.HandlerFunc { return s.createTherapist }},
	{"PATCH", "/v1/therapists/{id}", roles(operator), "", func(s *Server) http.HandlerFunc { return s.updateTherapist }},
	{"POST", "/v1/committee-members", roles(operator), "", func(s *Server) http.HandlerFunc { return s.createCommitteeMember }},
	{"GET", "/v1/organisations", roles(operator), "", func(s *Server) http.HandlerFunc { return s.listOrganisations }},
	{"POST", "/v1/organisations", roles(operator), "", func(s *Server) http.HandlerFunc { return s.upsertOrganisation }},
	{"POST", "/v1/tokens", roles(operator), "", func(s *Server) http.HandlerFunc { return s.issueToken }},
	{"DELETE", "/v1/tokens/{role}/{subject}", roles(operator), "", func(s *Server) http.HandlerFunc { return s.revokeTokens }},
	{"GET", "/v1/reports/summary", roles(committee, operator), "report", func(s *Server) http.HandlerFunc { return s.report }},
}

func roles(rs ...referral.Role) []referral.Role { return rs }

// allow refuses callers whose role the route does not list.
func allow(rt route) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		if rt.Roles == nil {
			return next
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p, ok := principal(r)
			if !ok {
				writeError(w, errUnauthenticated)
				return
			}
			for _, role := range rt.Roles {
				if p.Role == role {
					next.ServeHTTP(w, r)
					return
				}
			}
			writeError(w, errForbidden)
		})
	}
}

// RouteInfo describes a route of the access table, for tests and docs.
type RouteInfo struct {
	Method, Pattern string
	Roles           []referral.Role
}

// Routes lists the access table.
func Routes() []RouteInfo {
	out := make([]RouteInfo, len(routes))
	for i, rt := range routes {
		out[i] = RouteInfo{rt.Method, rt.Pattern, rt.Roles}
	}
	return out
}
