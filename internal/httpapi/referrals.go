package httpapi

import (
	"encoding/base64"
	"errors"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/wmtna/referrals/internal/pipeline"
	"github.com/wmtna/referrals/internal/referral"
)

// submissionRequest is a self-referral as the API takes it.
type submissionRequest struct {
	Name                  *string          `json:"name"`
	Email                 *string          `json:"email"`
	Programme             *string          `json:"programme"`
	Employer              *string          `json:"employer"`
	EmployerName          *string          `json:"employer_name"`
	TrainingStart         *string          `json:"training_start"`
	ExpectedQualification *string          `json:"expected_qualification"`
	Concerns              *string          `json:"concerns"`
	Preferences           *preferencesJSON `json:"preferences"`
	Consent               *bool            `json:"consent"`
	// AtRisk answers "are you currently at risk of harming yourself?".
	AtRisk *bool `json:"at_risk"`
}

// preferencesJSON is how the trainee can meet a therapist (meeting: online,
// in_person or either; areas: codes from GET /v1/areas, for in person) and
// what they would like (same_discipline; note, their own words for the
// committee).
type preferencesJSON struct {
	Meeting        string   `json:"meeting"`
	Areas          []string `json:"areas"`
	SameDiscipline bool     `json:"same_discipline"`
	Note           string   `json:"note"`
}

func prefsJSON(p referral.Preferences) preferencesJSON {
	return preferencesJSON{Meeting: string(p.Meeting), Areas: orEmpty(p.Areas), SameDiscipline: p.SameDiscipline, Note: p.Note}
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (q submissionRequest) draft() referral.Draft {
	str := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	d := referral.Draft{
		Name: str(q.Name), Email: str(q.Email), Programme: str(q.Programme), Employer: str(q.Employer), EmployerName: str(q.EmployerName),
		TrainingStart: str(q.TrainingStart), ExpectedQualification: str(q.ExpectedQualification), Concerns: str(q.Concerns),
		Consent: q.Consent != nil && *q.Consent, AtRisk: q.AtRisk != nil && *q.AtRisk,
	}
	if q.Preferences != nil {
		d.Preferences = referral.Preferences{Meeting: referral.Meeting(q.Preferences.Meeting), Areas: q.Preferences.Areas,
			SameDiscipline: q.Preferences.SameDiscipline, Note: q.Preferences.Note}
	}
	return d
}

// submitResponse answers a submission the same way whatever the address:
// an email has gone to it.
type submitResponse struct {
	Status string `json:"status"` // always "confirmation_sent"
	// Replay is set when the same request had been answered already; no
	// second email goes.
	Replay bool `json:"replay,omitempty"`
	// Urgent is set when the person said they are at risk: once the
	// referral is confirmed, the committee is asked to look at it today.
	Urgent        bool   `json:"urgent,omitempty"`
	Message       string `json:"message"`
	CrisisSupport string `json:"crisis_support"`
}

type confirmRequest struct {
	// Code is the last part of the link emailed to the address:
	// <public URL>/confirm/<code>.
	Code *string `json:"code"`
}

type confirmResponse struct {
	ID     string          `json:"id"`
	Status referral.Status `json:"status"`
	// Token is the trainee's, on the first answer only; a replay says so
	// instead.
	Token         string `json:"token,omitempty"`
	Replay        bool   `json:"replay,omitempty"`
	Urgent        bool   `json:"urgent,omitempty"`
	CrisisSupport string `json:"crisis_support"`
}

// body is a use case's input read from the request's JSON body into T.
func body[T any](w http.ResponseWriter, r *http.Request) pipeline.Input[T] {
	return func() (T, error) {
		var q T
		if e := decode(w, r, &q); e != nil {
			return q, e
		}
		return q, nil
	}
}

// then turns an input of the wire type into the use case's.
func then[T, U any](in pipeline.Input[T], f func(T) U) pipeline.Input[U] {
	return func() (U, error) {
		q, err := in()
		if err != nil {
			var zero U
			return zero, err
		}
		return f(q), nil
	}
}

func (s *Server) submit(w http.ResponseWriter, r *http.Request) {
	ctx, p := r.Context(), principal(r)
	if !s.Limits.Submits().Allow(r) {
		s.App.Refused(ctx, p, pipeline.ActSubmit, "", pipeline.TooMany)
		writeError(w, pipeline.ErrTooMany)
		return
	}
	in := then(body[submissionRequest](w, r), submissionRequest.draft)
	// A submission with several problems is answered with the first.
	sub, err := s.App.Submit(ctx, p, in, r.Header.Get("Idempotency-Key"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusAccepted, submitResponse{Status: "confirmation_sent", Replay: sub.Replay, Urgent: sub.Urgent,
		Message:       "We have emailed a link to the address given. The referral is sent once that link is used to confirm the address.",
		CrisisSupport: referral.CrisisSupport})
}

// confirm sends a referral on from the code its address was emailed. A
// wrong code counts as a wrong credential, after it is checked, so that a
// right one gets through whatever else its address sent.
func (s *Server) confirm(w http.ResponseWriter, r *http.Request) {
	ctx, p := r.Context(), principal(r)
	var q confirmRequest
	if e := decode(w, r, &q); e != nil {
		writeError(w, e)
		return
	}
	if q.Code == nil || *q.Code == "" {
		writeError(w, pipeline.FieldError("code", "code is required: the last part of the link emailed to the address"))
		return
	}
	ref, err := s.App.Confirm(ctx, p, *q.Code)
	if err != nil {
		if errors.Is(err, pipeline.ErrConfirmLinkUsed) && !s.Limits.AuthFailures().Allow(r) {
			s.App.Refused(ctx, p, pipeline.ActConfirm, "", pipeline.TooMany)
			err = pipeline.ErrTooMany
		}
		writeError(w, err)
		return
	}
	token, err := s.App.TraineeToken(ctx, ref)
	if err != nil {
		writeError(w, err)
		return
	}
	status := http.StatusCreated
	if ref.Replay {
		status = http.StatusOK
	}
	writeJSON(w, status, confirmResponse{ID: ref.ID, Status: ref.Status, Token: token, Replay: ref.Replay, Urgent: ref.Urgent, CrisisSupport: referral.CrisisSupport})
}

type referralView struct {
	ID          string          `json:"id"`
	Status      referral.Status `json:"status"`
	SubmittedAt time.Time       `json:"submitted_at"`
	Programme   string          `json:"programme"`
	Employer    string          `json:"employer"`
	// EmployerName is a service not on the register, for the committee to
	// check; employer is then empty.
	EmployerName          string           `json:"employer_name,omitempty"`
	TrainingStart         string           `json:"training_start"`
	ExpectedQualification string           `json:"expected_qualification,omitempty"`
	Cutoff                string           `json:"cutoff,omitempty"`
	Eligibility           *eligibilityView `json:"eligibility,omitempty"`
	Preferences           preferencesJSON  `json:"preferences"`
	Name                  string           `json:"name,omitempty"`
	Email                 string           `json:"email,omitempty"`
	Concerns              string           `json:"concerns,omitempty"`
	Offer                 *offerJSON       `json:"offer,omitempty"`
	Events                []eventJSON      `json:"events,omitempty"`
	// Urgent marks a referral flagged for same-day attention; shown to those
	// who may see its personal details.
	Urgent bool `json:"urgent,omitempty"`
	// CrisisSupport is shown to the trainee on every response about them.
	CrisisSupport string `json:"crisis_support,omitempty"`
	// Standing is set while the referral waits: how many wait ahead of it
	// for a therapist it could also take, how many therapists could take
	// it, and the median wait of the last people offered a place (only
	// when it rests on five or more). Never a date.
	Standing *standingJSON `json:"standing,omitempty"`
	// Question is the committee's question while the referral awaits the
	// trainee's answer (POST /v1/referrals/{id}/answer).
	Question string `json:"question,omitempty"`
}

type standingJSON struct {
	Ahead                int      `json:"ahead"`
	Therapists           int      `json:"therapists"`
	RecentMedianWaitDays *float64 `json:"recent_median_wait_days,omitempty"`
	// PausedUntil is set while the trainee has paused their place: the
	// day it is theirs again. PausedDays is how long their pauses already
	// over lasted.
	PausedUntil string   `json:"paused_until,omitempty"`
	PausedDays  *float64 `json:"paused_days,omitempty"`
}

// days is d in days to a tenth, nil for none.
func days(d time.Duration) *float64 {
	if d <= 0 {
		return nil
	}
	v := math.Round(d.Hours()/24*10) / 10
	return &v
}

type eligibilityView struct {
	Eligible   bool   `json:"eligible"`
	Reason     string `json:"reason,omitempty"`
	ReasonText string `json:"reason_text,omitempty"`
}

type offerJSON struct {
	ID          string    `json:"id"`
	ReferralID  string    `json:"referral_id"`
	TherapistID string    `json:"therapist_id"`
	State       string    `json:"state"`
	CreatedAt   time.Time `json:"created_at"`
	ExpiresAt   time.Time `json:"expires_at,omitzero"`
}

func offerView(o *referral.Offer) *offerJSON {
	if o == nil {
		return nil
	}
	return &offerJSON{ID: o.ID, ReferralID: o.ReferralID, TherapistID: o.TherapistID, State: o.State, CreatedAt: o.CreatedAt, ExpiresAt: o.ExpiresAt}
}

type eventJSON struct {
	Seq    int             `json:"seq"`
	At     time.Time       `json:"at"`
	Actor  string          `json:"actor"`
	From   referral.Status `json:"from"`
	To     referral.Status `json:"to"`
	Reason string          `json:"reason,omitempty"`
	Note   string          `json:"note,omitempty"`
}

// view is a referral as lists show it: nothing personal but the urgent
// flag, which lists show the committee.
func view(ref referral.Referral) referralView {
	v := referralView{
		ID: ref.ID, Status: ref.Status, SubmittedAt: ref.SubmittedAt, Programme: ref.Programme, Employer: ref.Employer,
		TrainingStart: ref.TrainingStart.String()[:7], Preferences: prefsJSON(ref.Preferences), Urgent: ref.AtRisk,
	}
	v.Preferences.Note = "" // as personal as the concerns: only on one referral, to those who may see it
	if ref.ExpectedQualification != nil {
		v.ExpectedQualification = ref.ExpectedQualification.String()
	}
	if ref.Cutoff != nil {
		v.Cutoff = ref.Cutoff.String()
	}
	if e := (pipeline.Case{Referral: ref}).Eligibility(); e != nil {
		v.Eligibility = &eligibilityView{Eligible: e.Eligible, Reason: e.Reason, ReasonText: e.ReasonText}
	}
	return v
}

func (s *Server) getReferral(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	c, err := s.App.Referral(r.Context(), p, chi.URLParam(r, "id"))
	if err != nil {
		writeError(w, err)
		return
	}
	v := view(c.Referral) // the use case blanked what p may not see
	v.Name, v.Email, v.Concerns, v.Preferences.Note = c.Name, c.Email, c.Concerns, c.Preferences.Note
	// Free text, like the note: on one referral only, never in a list.
	v.EmployerName = c.EmployerName
	v.Question = c.Question
	v.Offer = offerView(c.Offer)
	if st := c.Standing; st != nil {
		v.Standing = &standingJSON{Ahead: st.Ahead, Therapists: st.Therapists, PausedUntil: pauseDate(st.PausedUntil), PausedDays: days(st.PausedFor)}
		if st.ShowWait {
			median := math.Round(st.MedianWait.Hours()/24*10) / 10
			v.Standing.RecentMedianWaitDays = &median
		}
	}
	for _, e := range c.Events {
		v.Events = append(v.Events, eventJSON{Seq: e.Seq, At: e.At, Actor: e.Actor, From: e.From, To: e.To, Reason: e.Reason, Note: e.Note})
	}
	if p.Role == referral.RoleTrainee {
		v.CrisisSupport = referral.CrisisSupport
	}
	writeJSON(w, http.StatusOK, v)
}

type listResponse struct {
	Referrals  []referralView `json:"referrals"`
	NextCursor string         `json:"next_cursor,omitempty"`
}

func (s *Server) listReferrals(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := pipeline.Query{Status: referral.Status(q.Get("status")), Limit: 50}
	if f.Status != "" && !f.Status.Valid() {
		writeError(w, badParameter("status", "status must be one of the referral statuses"))
		return
	}
	var bad *pipeline.Error
	if f.Limit, bad = pageLimit(q, 50, 200); bad != nil {
		writeError(w, bad)
		return
	}
	if c := q.Get("cursor"); c != "" {
		t, id, ok := parseCursor(c)
		if !ok {
			writeError(w, badParameter("cursor", "cursor is not one this API returned"))
			return
		}
		f.After = &pipeline.Cursor{SubmittedAt: t, ID: id}
	}
	refs, err := s.App.Referrals(r.Context(), principal(r), f)
	if err != nil {
		writeError(w, err)
		return
	}
	resp := listResponse{Referrals: make([]referralView, 0, len(refs))}
	for _, ref := range refs {
		resp.Referrals = append(resp.Referrals, view(ref))
	}
	if len(refs) == f.Limit {
		last := refs[len(refs)-1]
		resp.NextCursor = base64.RawURLEncoding.EncodeToString([]byte(last.SubmittedAt.Format(time.RFC3339Nano) + "|" + last.ID))
	}
	writeJSON(w, http.StatusOK, resp)
}

// pageLimit is a list's limit parameter: def when absent, else a whole
// number from 1 to most.
func pageLimit(q url.Values, def, most int) (int, *pipeline.Error) {
	l := q.Get("limit")
	if l == "" {
		return def, nil
	}
	n, err := strconv.Atoi(l)
	if err != nil || n < 1 || n > most {
		return 0, badParameter("limit", "limit must be a whole number from 1 to %d", most)
	}
	return n, nil
}

func parseCursor(c string) (time.Time, string, bool) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return time.Time{}, "", false
	}
	ts, id, ok := strings.Cut(string(b), "|")
	t, err := time.Parse(time.RFC3339Nano, ts)
	if !ok || err != nil || !pipeline.ValidID(id) {
		return time.Time{}, "", false
	}
	return t, id, true
}

type reviewRequest struct {
	Decision   *string `json:"decision"`
	Reason     string  `json:"reason"`
	ReasonCode string  `json:"reason_code"`
}

func (q reviewRequest) review() pipeline.Review {
	d := ""
	if q.Decision != nil {
		d = *q.Decision
	}
	return pipeline.Review{Decision: d, Reason: q.Reason, ReasonCode: q.ReasonCode}
}

// decidedJSON is the answer to a decision: where the referral now stands.
type decidedJSON struct {
	Status      referral.Status `json:"status"`
	OfferID     string          `json:"offer_id,omitempty"`
	TherapistID string          `json:"therapist_id,omitempty"`
	// PausedUntil is the day a paused place is the trainee's again.
	PausedUntil string `json:"paused_until,omitempty"`
}

// pauseDate is the day a pause ends, as the API writes dates; "" for none.
func pauseDate(t *time.Time) string {
	if t == nil || t.IsZero() {
		return ""
	}
	return referral.DateOf(*t).String()
}

// decided answers a decision with the referral's new status.
func decided(w http.ResponseWriter, v pipeline.Decided, err error) {
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, decidedJSON{Status: v.Status, OfferID: v.OfferID, TherapistID: v.TherapistID, PausedUntil: pauseDate(&v.PausedUntil)})
}

func (s *Server) review(w http.ResponseWriter, r *http.Request) {
	in := then(body[reviewRequest](w, r), reviewRequest.review)
	v, err := s.App.Review(r.Context(), principal(r), chi.URLParam(r, "id"), in, idempotencyKey(r))
	decided(w, v, err)
}

func idempotencyKey(r *http.Request) string { return r.Header.Get("Idempotency-Key") }

// noBody refuses a body on a route that takes none, so a client that
// thinks it is sending something learns otherwise.
func noBody(w http.ResponseWriter, r *http.Request) pipeline.Input[struct{}] {
	return func() (struct{}, error) {
		if r.ContentLength == 0 && r.Header.Get("Content-Type") == "" {
			return struct{}{}, nil
		}
		return body[struct{}](w, r)()
	}
}

type reasonRequest struct {
	Reason string `json:"reason"`
}

// optionalReason reads an optional {"reason": ...} body; an empty body is
// fine.
func optionalReason(w http.ResponseWriter, r *http.Request) pipeline.Input[string] {
	return func() (string, error) {
		if r.ContentLength == 0 && r.Header.Get("Content-Type") == "" {
			return "", nil
		}
		q, err := body[reasonRequest](w, r)()
		return q.Reason, err
	}
}

func (s *Server) withdraw(w http.ResponseWriter, r *http.Request) {
	v, err := s.App.Withdraw(r.Context(), principal(r), chi.URLParam(r, "id"), optionalReason(w, r), idempotencyKey(r))
	decided(w, v, err)
}

func (s *Server) endTherapy(w http.ResponseWriter, r *http.Request) {
	v, err := s.App.EndTherapy(r.Context(), principal(r), chi.URLParam(r, "id"), optionalReason(w, r), idempotencyKey(r))
	decided(w, v, err)
}

type checkInRequest struct {
	StillWaiting *bool `json:"still_waiting"`
}

type askRequest struct {
	Question string `json:"question"`
}

// ask is a committee member's question to the trainee, instead of a
// decline.
func (s *Server) ask(w http.ResponseWriter, r *http.Request) {
	in := then(body[askRequest](w, r), func(q askRequest) string { return q.Question })
	v, err := s.App.Ask(r.Context(), principal(r), chi.URLParam(r, "id"), in, idempotencyKey(r))
	decided(w, v, err)
}

type answerRequest struct {
	Answer string `json:"answer"`
}

// answer is the trainee's answer to the committee's question.
func (s *Server) answer(w http.ResponseWriter, r *http.Request) {
	in := then(body[answerRequest](w, r), func(q answerRequest) string { return q.Answer })
	v, err := s.App.Answer(r.Context(), principal(r), chi.URLParam(r, "id"), in, idempotencyKey(r))
	decided(w, v, err)
}

type pauseRequest struct {
	Until string `json:"until"`
}

// pause is a waiting trainee pausing their place until a date.
func (s *Server) pause(w http.ResponseWriter, r *http.Request) {
	in := then(body[pauseRequest](w, r), func(q pauseRequest) string { return q.Until })
	v, err := s.App.Pause(r.Context(), principal(r), chi.URLParam(r, "id"), in, idempotencyKey(r))
	decided(w, v, err)
}

// resume gives a trainee their paused place back early.
func (s *Server) resume(w http.ResponseWriter, r *http.Request) {
	v, err := s.App.Resume(r.Context(), principal(r), chi.URLParam(r, "id"), noBody(w, r), idempotencyKey(r))
	decided(w, v, err)
}

// checkIn is a waiting trainee's answer to "do you still want a place?".
func (s *Server) checkIn(w http.ResponseWriter, r *http.Request) {
	in := then(body[checkInRequest](w, r), func(q checkInRequest) *bool { return q.StillWaiting })
	v, err := s.App.CheckIn(r.Context(), principal(r), chi.URLParam(r, "id"), in, idempotencyKey(r))
	decided(w, v, err)
}
