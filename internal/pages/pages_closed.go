package pages

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/wmtna/referrals/internal/pipeline"
	"github.com/wmtna/referrals/internal/referral"
)

// employerNames names the employers of the register by code, so the
// committee reads "Birmingham and Solihull Mental Health NHS Foundation
// Trust", not "RXT".
type employerNames map[string]string

// Name is the employer's name, or its code when the register has none
// (an entry since removed, say): a code is better than nothing.
func (e employerNames) Name(code string) string {
	if code == "" {
		return "A service not on the employer register"
	}
	if n, ok := e[code]; ok {
		return n
	}
	return code
}

// Of is a referral's employer: the register's name, or the service the
// trainee named because it is not on the register.
func (e employerNames) Of(r referral.Referral) string {
	if r.EmployerName != "" {
		return r.EmployerName + " (not on the employer register)"
	}
	return e.Name(r.Employer)
}

func (s *Site) employerNames(r *http.Request) (employerNames, error) {
	sess, _ := currentSession(r)
	orgs, err := s.App.Organisations(r.Context(), sess.Principal)
	if err != nil {
		return nil, err
	}
	names := make(employerNames, len(orgs))
	for _, o := range orgs {
		names[o.Code] = o.Name
	}
	return names, nil
}

// closedPageSize is how many closed referrals a page lists (a variable
// so that a test can page through a few).
var closedPageSize = 25

// closedStatuses are the statuses a closed referral can have, for the
// filter, in the order of referral.Statuses.
var closedStatuses = func() []referral.Status {
	var out []referral.Status
	for _, st := range referral.Statuses {
		if st.Terminal() {
			out = append(out, st)
		}
	}
	return out
}()

type closedView struct {
	Referrals []referral.Referral
	Employers employerNames
	Statuses  []referral.Status
	Status    referral.Status
	// Reference is what was typed into the search box.
	Reference string
	// Older is the link to the next page, when there is one; Newest is
	// set on every page after the first.
	Older  string
	Newest string
}

// closedPage lists finished referrals (not eligible, declined, withdrawn,
// ended, lapsed, closed after no answer), newest first, a page at a time,
// of one status or all.
func (s *Site) closedPage(w http.ResponseWriter, r *http.Request) {
	s.showClosed(w, r, http.StatusOK, "", nil)
}

var errClosedLink = &pipeline.Error{Outcome: pipeline.Malformed, Code: "invalid_parameter",
	Message: "This link to a page of closed referrals is not one this site made. Go back to the committee page and open Closed referrals again."}

func (s *Site) showClosed(w http.ResponseWriter, r *http.Request, status int, reference string, problems []*pipeline.Error) {
	sess, _ := currentSession(r)
	q := r.URL.Query()
	v := closedView{Statuses: closedStatuses, Status: referral.Status(q.Get("status")), Reference: reference}
	f := pipeline.Query{Closed: true, Status: v.Status, Limit: closedPageSize + 1}
	if v.Status != "" && !slices.Contains(closedStatuses, v.Status) {
		s.pageError(w, r, errClosedLink)
		return
	}
	if c := q.Get("after"); c != "" {
		after, ok := parsePageCursor(c)
		if !ok {
			s.pageError(w, r, errClosedLink)
			return
		}
		f.After = after
		v.Newest = "/committee/closed"
		if v.Status != "" {
			v.Newest += "?status=" + url.QueryEscape(string(v.Status))
		}
	}
	refs, err := s.App.Referrals(r.Context(), sess.Principal, f)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	if len(refs) > closedPageSize {
		refs = refs[:closedPageSize]
		last := refs[len(refs)-1]
		older := url.Values{"after": {pageCursor(last)}}
		if v.Status != "" {
			older.Set("status", string(v.Status))
		}
		v.Older = "/committee/closed?" + older.Encode()
	}
	v.Referrals = refs
	if v.Employers, err = s.employerNames(r); err != nil {
		s.pageError(w, r, err)
		return
	}
	title := "Closed referrals"
	s.render(w, r, status, "committee-closed", page{Title: title, Errors: problems, Data: v})
}

// pageCursor is where a page of referrals ended, as the API writes its
// cursors: the submission time and ID of the last one.
func pageCursor(ref referral.Referral) string {
	return base64.RawURLEncoding.EncodeToString([]byte(ref.SubmittedAt.Format(time.RFC3339Nano) + "|" + ref.ID))
}

func parsePageCursor(c string) (*pipeline.Cursor, bool) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return nil, false
	}
	ts, id, ok := strings.Cut(string(b), "|")
	t, err := time.Parse(time.RFC3339Nano, ts)
	if !ok || err != nil || !pipeline.ValidID(id) {
		return nil, false
	}
	return &pipeline.Cursor{SubmittedAt: t, ID: id}, true
}

// findReferral goes from a reference (a referral's ID, as the trainee's
// page shows it) to the referral's page. A reference that names no
// referral is answered on the search page itself, with a 404, so the
// committee member can check it and try again.
func (s *Site) findReferral(w http.ResponseWriter, r *http.Request) {
	sess, _ := currentSession(r)
	typed := strings.TrimSpace(r.URL.Query().Get("reference"))
	// People copy references from emails and pages: ignore case and any
	// spaces or quotes around it.
	id := strings.ToLower(strings.Trim(typed, " \"'“”‘’."))
	if id == "" {
		s.showClosed(w, r, http.StatusUnprocessableEntity, typed, []*pipeline.Error{{Outcome: pipeline.Invalid, Code: "invalid_field", Field: "reference",
			Message: "Enter the reference of the referral you are looking for"}})
		return
	}
	if pipeline.ValidID(id) {
		_, err := s.App.Referral(r.Context(), sess.Principal, id)
		if err == nil {
			http.Redirect(w, r, "/committee/referrals/"+id, http.StatusSeeOther)
			return
		}
		if e := pipeline.AsError(err); e.Outcome != pipeline.NotFound {
			s.pageError(w, r, err)
			return
		}
	}
	s.showClosed(w, r, http.StatusNotFound, typed, []*pipeline.Error{{Outcome: pipeline.NotFound, Code: "not_found", Field: "reference",
		Message: "No referral has the reference " + typed + ". Check you copied all of it: a reference is 36 letters, numbers and dashes."}})
}

type approveView struct {
	Referral  pipeline.Case
	Key       string
	Employers employerNames
}

// approvePage asks "are you sure?" before a referral is approved: approving
// offers it to a therapist or puts it on the waiting list, and cannot be
// undone.
func (s *Site) approvePage(w http.ResponseWriter, r *http.Request) {
	s.showApprove(w, r, newFormKey())
}

func (s *Site) showApprove(w http.ResponseWriter, r *http.Request, key string) {
	sess, _ := currentSession(r)
	c, err := s.App.Referral(r.Context(), sess.Principal, chi.URLParam(r, "id"))
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	if c.Status != referral.StatusAwaitingReview {
		s.showReview(w, r, http.StatusConflict, reviewPage{Key: newFormKey()}, []*pipeline.Error{alreadyReviewed(c.Status)})
		return
	}
	v := approveView{Referral: c, Key: key}
	if v.Employers, err = s.employerNames(r); err != nil {
		s.pageError(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "committee-approve", page{Title: "Are you sure you want to approve this referral?", Data: v})
}

func alreadyReviewed(now referral.Status) *pipeline.Error {
	return &pipeline.Error{Outcome: pipeline.Conflict, Code: "conflict", Current: now,
		Message: "This referral has already been reviewed: it is now " + strings.ToLower(statusLabel(now)) + "."}
}
