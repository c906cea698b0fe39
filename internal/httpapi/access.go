package httpapi

import (
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/wmtna/referrals/internal/pipeline"
	"github.com/wmtna/referrals/internal/referral"
)

// route is one operation of the API: the pipeline action it asks for, whose
// roles in the access table (pipeline) are the first gate (401 without a
// token, 403 with another role), before the body is read.
type route struct {
	Method  string
	Pattern string
	Action  pipeline.Action
	Handler func(*Server) http.HandlerFunc
}

// routes are the API's operations. Every route the API serves is built
// from it, and access_test.go walks every route against every role.
var routes = []route{
	{"POST", "/v1/referrals", pipeline.ActSubmit, func(s *Server) http.HandlerFunc { return s.submit }},
	{"POST", "/v1/confirmations", pipeline.ActConfirm, func(s *Server) http.HandlerFunc { return s.confirm }},
	{"GET", "/v1/referrals", pipeline.ActList, func(s *Server) http.HandlerFunc { return s.listReferrals }},
	{"GET", "/v1/referrals/{id}", pipeline.ActRead, func(s *Server) http.HandlerFunc { return s.getReferral }},
	{"POST", "/v1/referrals/{id}/review", pipeline.ActReview, func(s *Server) http.HandlerFunc { return s.review }},
	{"POST", "/v1/referrals/{id}/withdraw", pipeline.ActWithdraw, func(s *Server) http.HandlerFunc { return s.withdraw }},
	{"POST", "/v1/referrals/{id}/check-in", pipeline.ActCheckIn, func(s *Server) http.HandlerFunc { return s.checkIn }},
	{"POST", "/v1/referrals/{id}/question", pipeline.ActAsk, func(s *Server) http.HandlerFunc { return s.ask }},
	{"POST", "/v1/referrals/{id}/answer", pipeline.ActAnswer, func(s *Server) http.HandlerFunc { return s.answer }},
	{"POST", "/v1/referrals/{id}/pause", pipeline.ActPause, func(s *Server) http.HandlerFunc { return s.pause }},
	{"POST", "/v1/referrals/{id}/resume", pipeline.ActResume, func(s *Server) http.HandlerFunc { return s.resume }},
	{"POST", "/v1/referrals/{id}/end", pipeline.ActEnd, func(s *Server) http.HandlerFunc { return s.endTherapy }},
	{"POST", "/v1/referrals/{id}/erase", pipeline.ActErase, func(s *Server) http.HandlerFunc { return s.eraseReferral }},
	{"GET", "/v1/offers", pipeline.ActListOffers, func(s *Server) http.HandlerFunc { return s.listOffers }},
	{"POST", "/v1/offers/{id}/accept", pipeline.ActAccept, func(s *Server) http.HandlerFunc { return s.accept }},
	{"POST", "/v1/offers/{id}/decline", pipeline.ActDecline, func(s *Server) http.HandlerFunc { return s.decline }},
	{"GET", "/v1/waitlist", pipeline.ActWaitlist, func(s *Server) http.HandlerFunc { return s.waitlist }},
	{"GET", "/v1/therapists", pipeline.ActListTherapists, func(s *Server) http.HandlerFunc { return s.listTherapists }},
	{"POST", "/v1/therapists", pipeline.ActAddTherapist, func(s *Server) http.HandlerFunc { return s.createTherapist }},
	{"GET", "/v1/therapists/{id}", pipeline.ActReadTherapist, func(s *Server) http.HandlerFunc { return s.getTherapist }},
	{"PATCH", "/v1/therapists/{id}", pipeline.ActChangeTherapist, func(s *Server) http.HandlerFunc { return s.updateTherapist }},
	{"PATCH", "/v1/therapists/{id}/availability", pipeline.ActSetAvailability, func(s *Server) http.HandlerFunc { return s.setAvailability }},
	{"POST", "/v1/therapists/{id}/retire", pipeline.ActRetireTherapist, func(s *Server) http.HandlerFunc { return s.retireTherapist }},
	{"GET", "/v1/register/history", pipeline.ActRegisterHistory, func(s *Server) http.HandlerFunc { return s.registerHistory }},
	{"GET", "/v1/areas", pipeline.ActListAreas, func(s *Server) http.HandlerFunc { return s.listAreas }},
	{"PUT", "/v1/areas/{code}", pipeline.ActSaveArea, func(s *Server) http.HandlerFunc { return s.saveArea }},
	{"GET", "/v1/committee-members", pipeline.ActListMembers, func(s *Server) http.HandlerFunc { return s.listCommitteeMembers }},
	{"POST", "/v1/committee-members", pipeline.ActAddCommitteeMember, func(s *Server) http.HandlerFunc { return s.createCommitteeMember }},
	{"PATCH", "/v1/committee-members/{id}", pipeline.ActChangeMember, func(s *Server) http.HandlerFunc { return s.changeCommitteeMember }},
	{"DELETE", "/v1/committee-members/{id}", pipeline.ActRemoveMember, func(s *Server) http.HandlerFunc { return s.removeCommitteeMember }},
	{"GET", "/v1/organisations", pipeline.ActListOrganisations, func(s *Server) http.HandlerFunc { return s.listOrganisations }},
	{"POST", "/v1/organisations", pipeline.ActSaveOrganisation, func(s *Server) http.HandlerFunc { return s.upsertOrganisation }},
	{"POST", "/v1/tokens", pipeline.ActIssueToken, func(s *Server) http.HandlerFunc { return s.issueToken }},
	{"DELETE", "/v1/tokens/{role}/{subject}", pipeline.ActRevokeTokens, func(s *Server) http.HandlerFunc { return s.revokeTokens }},
	{"GET", "/v1/reports/summary", pipeline.ActReport, func(s *Server) http.HandlerFunc { return s.report }},
}

// allow refuses callers whose role the action's rule does not list, and
// has the pipeline record the refusal once it is answered.
func (s *Server) allow(rt route) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		if pipeline.Roles(rt.Action) == nil {
			return next
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			referralID := ""
			if strings.HasPrefix(rt.Pattern, "/v1/referrals/{id}") {
				referralID = chi.URLParam(r, "id")
			}
			p := principal(r)
			if err := pipeline.Allowed(p, rt.Action); err != nil {
				writeError(w, err)
				s.App.Refused(r.Context(), p, rt.Action, referralID, pipeline.AsError(err).Outcome)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// RouteInfo describes a route of the API, for tests and docs.
type RouteInfo struct {
	Method, Pattern string
	Action          pipeline.Action
	Roles           []referral.Role
}

// Routes lists the API's routes with the roles the access table gives them.
func Routes() []RouteInfo {
	out := make([]RouteInfo, len(routes))
	for i, rt := range routes {
		out[i] = RouteInfo{rt.Method, rt.Pattern, rt.Action, pipeline.Roles(rt.Action)}
	}
	return out
}
