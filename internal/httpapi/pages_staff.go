package httpapi

import (
	"net/http"
	"slices"

	"github.com/go-chi/chi/v5"

	"github.com/wmtna/referrals/internal/postgres"
	"github.com/wmtna/referrals/internal/referral"
	"github.com/wmtna/referrals/workflows"
)

type committeeDashboard struct {
	Awaiting   []referralView
	Waitlist   []postgres.WaitingReferral
	Therapists []referral.Therapist
}

// committeePage is the committee's dashboard: referrals to review, oldest
// first; the waitlist in the order places go; the therapist register.
func (s *Server) committeePage(w http.ResponseWriter, r *http.Request) {
	sess, _ := currentSession(r)
	var d committeeDashboard
	var list listResponse
	var waiting struct {
		Waitlist []postgres.WaitingReferral `json:"waitlist"`
	}
	var register struct {
		Therapists []referral.Therapist `json:"therapists"`
	}
	for _, call := range []struct {
		path string
		into any
	}{
		{"/v1/referrals?status=awaiting_review&limit=200", &list},
		{"/v1/waitlist", &waiting},
		{"/v1/therapists", &register},
	} {
		res := s.callAPI(r, sess.token, http.MethodGet, call.path, nil, "")
		if e := res.err(); e != nil || res.decode(call.into) != nil {
			s.pageError(w, r, orUnavailable(e))
			return
		}
	}
	d.Awaiting, d.Waitlist, d.Therapists = list.Referrals, waiting.Waitlist, register.Therapists
	slices.Reverse(d.Awaiting) // the API lists newest first; review oldest first
	notice := ""
	switch r.URL.Query().Get("done") {
	case workflows.DecisionApprove:
		notice = "Referral approved."
	case workflows.DecisionDecline:
		notice = "Referral declined."
	}
	s.render(w, r, http.StatusOK, "committee", page{Title: "Committee", Notice: notice, Data: d})
}

type reviewPage struct {
	Referral    referralView
	Key         string
	DeclineCode string
	Reason      string
	Codes       []string
	CanReview   bool
}

func (s *Server) committeeReferralPage(w http.ResponseWriter, r *http.Request) {
	s.showReview(w, r, http.StatusOK, reviewPage{Key: newFormKey()}, nil)
}

func (s *Server) showReview(w http.ResponseWriter, r *http.Request, status int, rp reviewPage, problems []*apiError) {
	sess, _ := currentSession(r)
	id := chi.URLParam(r, "id")
	if !validID(id) {
		s.pageError(w, r, errNotFound)
		return
	}
	res := s.callAPI(r, sess.token, http.MethodGet, "/v1/referrals/"+id, nil, "")
	if e := res.err(); e != nil || res.decode(&rp.Referral) != nil {
		s.pageError(w, r, orUnavailable(e))
		return
	}
	slices.Reverse(rp.Referral.Events)
	rp.Codes = referral.CommitteeDeclineCodes
	rp.CanReview = rp.Referral.Status == referral.StatusAwaitingReview
	title := "Referral from " + rp.Referral.Name
	if len(problems) > 0 {
		title = "Error: " + title
	}
	s.render(w, r, status, "review", page{Title: title, Errors: problems, Data: rp})
}

func (s *Server) reviewSubmit(w http.ResponseWriter, r *http.Request) {
	sess, _ := currentSession(r)
	id := chi.URLParam(r, "id")
	decision := r.PostForm.Get("decision")
	q := reviewRequest{Decision: &decision, Reason: r.PostForm.Get("reason"), ReasonCode: r.PostForm.Get("reason_code")}
	if decision == workflows.DecisionApprove {
		q.Reason, q.ReasonCode = "", ""
	}
	res := s.callAPI(r, sess.token, http.MethodPost, "/v1/referrals/"+id+"/review", q, formKey(r))
	if e := res.err(); e != nil {
		if e.Status == http.StatusNotFound {
			s.pageError(w, r, e)
			return
		}
		if e.Status == http.StatusConflict {
			e.Message = "This referral has already been reviewed: it is now " + string(referral.Status(e.Current)) + "."
		}
		s.showReview(w, r, e.Status, reviewPage{Key: newFormKey(), DeclineCode: q.ReasonCode, Reason: q.Reason}, formProblems([]*apiError{e}))
		return
	}
	http.Redirect(w, r, "/committee?done="+decision, http.StatusSeeOther)
}

type therapistDashboard struct {
	Offers  []offerView
	Clients []referralView
	Codes   []string
}

// therapistPage shows a therapist their open offers, to accept or decline
// before they expire, and their current clients.
func (s *Server) therapistPage(w http.ResponseWriter, r *http.Request) {
	s.showTherapist(w, r, http.StatusOK, therapistNotices[r.URL.Query().Get("done")], nil)
}

func (s *Server) showTherapist(w http.ResponseWriter, r *http.Request, status int, notice string, problems []*apiError) {
	sess, _ := currentSession(r)
	var open, accepted struct {
		Offers []offerView `json:"offers"`
	}
	for _, call := range []struct {
		path string
		into any
	}{{"/v1/offers", &open}, {"/v1/offers?state=accepted", &accepted}} {
		res := s.callAPI(r, sess.token, http.MethodGet, call.path, nil, "")
		if e := res.err(); e != nil || res.decode(call.into) != nil {
			s.pageError(w, r, orUnavailable(e))
			return
		}
	}
	d := therapistDashboard{Offers: open.Offers, Codes: referral.TherapistDeclineCodes}
	for _, o := range accepted.Offers {
		res := s.callAPI(r, sess.token, http.MethodGet, "/v1/referrals/"+o.ReferralID, nil, "")
		var v referralView
		if e := res.err(); e != nil || res.decode(&v) != nil {
			s.pageError(w, r, orUnavailable(e))
			return
		}
		d.Clients = append(d.Clients, v)
	}
	s.render(w, r, status, "therapist", page{Title: "Your offers and clients", Notice: notice, Errors: problems, Data: d})
}

func (s *Server) offerSubmit(w http.ResponseWriter, r *http.Request) {
	sess, _ := currentSession(r)
	id, answer := chi.URLParam(r, "id"), chi.URLParam(r, "answer")
	var body any
	if answer == "decline" {
		body = declineRequest{ReasonCode: r.PostForm.Get("reason_code"), Reason: r.PostForm.Get("reason")}
	}
	res := s.callAPI(r, sess.token, http.MethodPost, "/v1/offers/"+id+"/"+answer, body, formKey(r))
	if e := res.err(); e != nil {
		if e.Status == http.StatusConflict {
			e.Message = "This offer is no longer open: it may have expired or been withdrawn."
		}
		if e.Field == "reason_code" {
			e.Field = "reason_code-" + id
			e.Message = "Choose why you are declining"
		}
		s.showTherapist(w, r, e.Status, "", []*apiError{e})
		return
	}
	http.Redirect(w, r, "/therapist?done="+answer, http.StatusSeeOther)
}

func (s *Server) endSubmit(w http.ResponseWriter, r *http.Request) {
	sess, _ := currentSession(r)
	id := chi.URLParam(r, "id")
	res := s.callAPI(r, sess.token, http.MethodPost, "/v1/referrals/"+id+"/end", reasonRequest{Reason: r.PostForm.Get("reason")}, formKey(r))
	if e := res.err(); e != nil {
		s.showTherapist(w, r, e.Status, "", []*apiError{e})
		return
	}
	http.Redirect(w, r, "/therapist?done=end", http.StatusSeeOther)
}

var therapistNotices = map[string]string{
	"accept":  "Thank you: you have accepted the referral. Its details are under your clients.",
	"decline": "Thank you: you have declined the offer. It will go to another therapist.",
	"end":     "Thank you: the therapy is recorded as ended, and your place is free again.",
}
