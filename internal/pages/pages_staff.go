package pages

import (
	"cmp"
	"net/http"
	"slices"
	"strconv"

	"github.com/go-chi/chi/v5"

	"github.com/wmtna/referrals/internal/pipeline"
	"github.com/wmtna/referrals/internal/referral"
)

// waitlistPageSize is how many of the waiting list the committee's page
// shows at a time (a variable so that tests page through a few).
var waitlistPageSize = 50

type committeeDashboard struct {
	Awaiting []pipeline.Case
	// Asked are the referrals whose trainees the committee has asked a
	// question, waiting for the answer.
	Asked    []referral.Referral
	Waitlist []referral.Waiting
	// WaitingAfter is the queue position the shown page follows (0 for the
	// head of the queue); NextAfter, when more wait, the next page's.
	WaitingAfter, NextAfter int64
	Therapists              []referral.Therapist
	Employers               employerNames
}

// committeePage is the committee's dashboard: referrals to review, oldest
// first; the waitlist in the order places go; the therapist register.
func (s *Site) committeePage(w http.ResponseWriter, r *http.Request) {
	sess, _ := currentSession(r)
	ctx, p := r.Context(), sess.Principal
	var d committeeDashboard
	awaiting, err := s.App.Referrals(ctx, p, pipeline.Query{Status: referral.StatusAwaitingReview, Limit: 200})
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	for _, ref := range awaiting {
		d.Awaiting = append(d.Awaiting, pipeline.Case{Referral: ref})
	}
	if d.Asked, err = s.App.Referrals(ctx, p, pipeline.Query{Status: referral.StatusAwaitingInformation, Limit: 200}); err != nil {
		s.pageError(w, r, err)
		return
	}
	// An unreadable position is the head of the queue: a stale or
	// mistyped link still shows the list.
	d.WaitingAfter, _ = strconv.ParseInt(r.URL.Query().Get("waiting_after"), 10, 64)
	if d.Waitlist, err = s.App.Waitlist(ctx, p, d.WaitingAfter, waitlistPageSize+1); err != nil {
		s.pageError(w, r, err)
		return
	}
	if len(d.Waitlist) > waitlistPageSize {
		d.Waitlist = d.Waitlist[:waitlistPageSize]
		d.NextAfter = d.Waitlist[waitlistPageSize-1].QueuePosition
	}
	if d.Therapists, err = s.App.Therapists(ctx, p); err != nil {
		s.pageError(w, r, err)
		return
	}
	if d.Employers, err = s.employerNames(r); err != nil {
		s.pageError(w, r, err)
		return
	}
	slices.Reverse(d.Awaiting) // listed newest first; review oldest first
	// Same-day referrals (the trainee said they are at risk) lead, each
	// group oldest first.
	slices.SortStableFunc(d.Awaiting, func(a, b pipeline.Case) int {
		switch {
		case a.Urgent() == b.Urgent():
			return 0
		case a.Urgent():
			return -1
		}
		return 1
	})
	notice := ""
	switch r.URL.Query().Get("done") {
	case referral.DecisionApprove:
		notice = "Referral approved."
	case referral.DecisionDecline:
		notice = "Referral declined."
	case "ask":
		notice = "Question sent. The trainee has been emailed that there is a question for them; the referral comes back to this list when they answer."
	}
	s.render(w, r, http.StatusOK, "committee", page{Title: "Committee", Notice: notice, Data: d})
}

type reviewPage struct {
	Referral    pipeline.Case
	Employers   employerNames
	Key         string
	DeclineCode string
	Reason      string
	// Question is a question to the trainee as typed, and AnswerWithin how
	// long they have to answer it, in words.
	Question     string
	AnswerWithin string
	Codes        []string
	CanReview    bool
}

func (s *Site) committeeReferralPage(w http.ResponseWriter, r *http.Request) {
	s.showReview(w, r, http.StatusOK, reviewPage{Key: newFormKey()}, nil)
}

func (s *Site) showReview(w http.ResponseWriter, r *http.Request, status int, rp reviewPage, problems []*pipeline.Error) {
	sess, _ := currentSession(r)
	var err error
	if rp.Referral, err = s.App.Referral(r.Context(), sess.Principal, chi.URLParam(r, "id")); err != nil {
		s.pageError(w, r, err)
		return
	}
	if rp.Employers, err = s.employerNames(r); err != nil {
		s.pageError(w, r, err)
		return
	}
	slices.Reverse(rp.Referral.Events)
	rp.Codes = referral.CommitteeDeclineCodes
	rp.CanReview = rp.Referral.Status == referral.StatusAwaitingReview
	within, _ := s.App.Timings.AnswerTime()
	rp.AnswerWithin = referral.Weeks(within)
	title := "Referral from " + rp.Referral.Name
	s.render(w, r, status, "review", page{Title: title, Errors: problems, Data: rp})
}

func (s *Site) reviewSubmit(w http.ResponseWriter, r *http.Request) {
	sess, _ := currentSession(r)
	id := chi.URLParam(r, "id")
	q := pipeline.Review{Decision: r.PostForm.Get("decision"), Reason: r.PostForm.Get("reason"), ReasonCode: r.PostForm.Get("reason_code")}
	if q.Decision == referral.DecisionApprove {
		q.Reason, q.ReasonCode = "", ""
	}
	if !pipeline.ValidID(id) {
		s.pageError(w, r, pipeline.ErrNotFound)
		return
	}
	// Approving cannot be undone: a post that has not been through the
	// "are you sure?" page (an old copy of the review page, say) is
	// shown that page, carrying its key, and approves nothing.
	if q.Decision == referral.DecisionApprove && r.PostForm.Get("confirmed") != "yes" {
		s.showApprove(w, r, cmp.Or(formKey(r), newFormKey()))
		return
	}
	if _, err := s.App.Review(r.Context(), sess.Principal, id, pipeline.Given(q), formKey(r)); err != nil {
		s.reviewRefused(w, r, err, reviewPage{DeclineCode: q.ReasonCode, Reason: q.Reason})
		return
	}
	http.Redirect(w, r, "/committee?done="+q.Decision, http.StatusSeeOther)
}

// reviewRefused shows the review page again, as typed in rp, with why a
// decision on it (a review, a question) was refused: a referral another
// member has dealt with says where it now stands.
func (s *Site) reviewRefused(w http.ResponseWriter, r *http.Request, err error, rp reviewPage) {
	e := pipeline.AsError(err)
	switch e.Outcome {
	case pipeline.NotFound:
		s.pageError(w, r, e)
		return
	case pipeline.Conflict:
		e = alreadyReviewed(e.Current)
	}
	rp.Key = newFormKey()
	s.showReview(w, r, int(e.Outcome), rp, formProblems([]*pipeline.Error{e}))
}

type therapistDashboard struct {
	// Standing says whether they are offered referrals, and why not.
	Standing string
	Offers   []pipeline.OfferSummary
	Clients  []pipeline.Case
	// Past are their past clients: reference, programme and dates only.
	Past  []pipeline.OfferSummary
	Codes []string
}

// therapistPage shows a therapist their open offers, to accept or decline
// before they expire, their current clients, and their past ones.
func (s *Site) therapistPage(w http.ResponseWriter, r *http.Request) {
	s.showTherapist(w, r, http.StatusOK, therapistNotices[r.URL.Query().Get("done")], nil)
}

func (s *Site) showTherapist(w http.ResponseWriter, r *http.Request, status int, notice string, problems []*pipeline.Error) {
	sess, _ := currentSession(r)
	ctx, p := r.Context(), sess.Principal
	open, err := s.App.Offers(ctx, p, referral.OfferOpen)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	accepted, err := s.App.Offers(ctx, p, referral.OfferAccepted)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	me, err := s.App.Therapist(ctx, p, sess.Subject)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	past, err := s.App.Offers(ctx, p, referral.OfferEnded)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	d := therapistDashboard{Standing: ownStatus(me), Offers: open, Past: past, Codes: referral.TherapistDeclineCodes}
	for _, o := range accepted {
		c, err := s.App.Referral(ctx, p, o.ReferralID)
		if err != nil {
			s.pageError(w, r, err)
			return
		}
		d.Clients = append(d.Clients, c)
	}
	s.render(w, r, status, "therapist", page{Title: "Your offers and clients", Notice: notice, Errors: problems, Data: d})
}

func (s *Site) offerSubmit(w http.ResponseWriter, r *http.Request) {
	sess, _ := currentSession(r)
	id, answer := chi.URLParam(r, "id"), chi.URLParam(r, "answer")
	var err error
	if answer == "decline" {
		q := pipeline.Decline{ReasonCode: r.PostForm.Get("reason_code"), Reason: r.PostForm.Get("reason")}
		_, err = s.App.Decline(r.Context(), sess.Principal, id, pipeline.Given(q), formKey(r))
	} else {
		_, err = s.App.Accept(r.Context(), sess.Principal, id, pipeline.Given(struct{}{}), formKey(r))
	}
	if err != nil {
		e := pipeline.AsError(err)
		switch {
		case e.Outcome == pipeline.Conflict || e.Outcome == pipeline.NotFound:
			// One wording for an offer never made to them and one they no
			// longer have, and none names where the referral is now.
			e = &pipeline.Error{Outcome: e.Outcome, Code: e.Code, Message: "This offer is no longer open: it may have expired or been withdrawn."}
		case e.Field == "reason_code":
			e = &pipeline.Error{Outcome: e.Outcome, Code: e.Code, Field: "reason_code-" + id, Message: "Choose why you are declining"}
		}
		s.showTherapist(w, r, int(e.Outcome), "", []*pipeline.Error{e})
		return
	}
	http.Redirect(w, r, "/therapist?done="+answer, http.StatusSeeOther)
}

func (s *Site) endSubmit(w http.ResponseWriter, r *http.Request) {
	sess, _ := currentSession(r)
	id := chi.URLParam(r, "id")
	if _, err := s.App.EndTherapy(r.Context(), sess.Principal, id, pipeline.Given(r.PostForm.Get("reason")), formKey(r)); err != nil {
		s.showTherapist(w, r, int(pipeline.AsError(err).Outcome), "", []*pipeline.Error{pipeline.AsError(err)})
		return
	}
	http.Redirect(w, r, "/therapist?done=end", http.StatusSeeOther)
}

var therapistNotices = map[string]string{
	"accept":       "Thank you: you have accepted the referral. Its details are under your clients.",
	"decline":      "Thank you: you have declined the offer. It will go to another therapist.",
	"end":          "Thank you: the therapy is recorded as ended, and your place is free again.",
	"availability": "Your availability is saved.",
}
