package httpapi

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/mail"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/wmtna/referrals/internal/postgres"
	"github.com/wmtna/referrals/internal/referral"
	"github.com/wmtna/referrals/workflows"
)

type submissionRequest struct {
	Name                  *string               `json:"name"`
	Email                 *string               `json:"email"`
	Programme             *string               `json:"programme"`
	Employer              *string               `json:"employer"`
	TrainingStart         *string               `json:"training_start"`
	ExpectedQualification *string               `json:"expected_qualification"`
	Concerns              *string               `json:"concerns"`
	Preferences           *referral.Preferences `json:"preferences"`
	Consent               *bool                 `json:"consent"`
	// AtRisk answers "are you currently at risk of harming yourself?".
	AtRisk *bool `json:"at_risk"`
}

var (
	programmePattern = regexp.MustCompile(`^[a-z_]{2,40}$`)
	orgCodePattern   = regexp.MustCompile(`^[A-Z0-9]{3,6}$`)
)

// validate checks the shape of a submission and returns the first problem.
// Whether the trainee is eligible is not its business: that is decided by
// the workflow, with a reason the trainee is told.
func (q submissionRequest) validate(now time.Time) (referral.Submission, *apiError) {
	s, problems := q.check(now)
	if len(problems) > 0 {
		return s, problems[0]
	}
	return s, nil
}

// check returns every problem with a submission, in the form's order, so
// the referral page can show each beside its field.
func (q submissionRequest) check(now time.Time) (referral.Submission, []*apiError) {
	var s referral.Submission
	var problems []*apiError
	bad := func(field, format string, args ...any) { problems = append(problems, badField(field, format, args...)) }
	given := func(name string, v *string, max int) (string, bool) {
		switch {
		case v == nil || strings.TrimSpace(*v) == "":
			bad(name, "%s is required", name)
		case utf8.RuneCountInString(*v) > max:
			bad(name, "%s must be at most %d characters", name, max)
		default:
			return strings.TrimSpace(*v), true
		}
		return "", false
	}
	s.Name, _ = given("name", q.Name, 200)
	if email, ok := given("email", q.Email, 254); ok {
		addr, err := mail.ParseAddress(email)
		if err != nil || addr.Address != email || addr.Name != "" {
			bad("email", "email must be a plain email address such as name@nhs.net")
		} else {
			s.Email = addr.Address
		}
	}
	if programme, ok := given("programme", q.Programme, 40); ok {
		if !programmePattern.MatchString(programme) {
			bad("programme", "programme must be a programme code such as clinical; the network's programmes are %s", strings.Join(referral.Programmes, ", "))
		} else {
			s.Programme = programme
		}
	}
	if employer, ok := given("employer", q.Employer, 6); ok {
		s.Employer = strings.ToUpper(employer)
		if !orgCodePattern.MatchString(s.Employer) {
			bad("employer", "employer must be the NHS ODS code of your organisation, such as RXT")
		}
	}
	startOK := false
	if month, ok := given("training_start", q.TrainingStart, 7); ok {
		start, err := referral.ParseMonth(month)
		today := referral.DateOf(now)
		switch {
		case err != nil:
			bad("training_start", "training_start must be a month of the form YYYY-MM")
		case start.Year < 2000 || today.AddMonths(12).Before(start):
			bad("training_start", "training_start must be between 2000 and a year from now")
		default:
			s.TrainingStart, startOK = start, true
		}
	}
	if q.ExpectedQualification != nil && *q.ExpectedQualification != "" {
		eq, err := referral.ParseDate(*q.ExpectedQualification)
		switch {
		case err != nil:
			bad("expected_qualification", "expected_qualification must be a real date of the form YYYY-MM-DD")
		case startOK && !s.TrainingStart.Before(eq):
			bad("expected_qualification", "expected_qualification must be after training_start")
		default:
			s.ExpectedQualification = &eq
		}
	}
	s.Concerns, _ = given("concerns", q.Concerns, 5000)
	if q.Preferences != nil {
		s.Preferences = *q.Preferences
		s.Preferences.Location = strings.TrimSpace(s.Preferences.Location)
		if utf8.RuneCountInString(s.Preferences.Location) > 100 {
			bad("preferences.location", "preferences.location must be at most 100 characters")
		}
	}
	s.AtRisk = q.AtRisk != nil && *q.AtRisk
	if q.Consent == nil || !*q.Consent {
		bad("consent", "consent must be true: we need your consent to store and share your referral with the committee and a therapist")
	}
	return s, problems
}

type submitResponse struct {
	ID     string          `json:"id"`
	Status referral.Status `json:"status"`
	Token  string          `json:"token"`
	// Urgent is set when the trainee said they are at risk: the committee
	// is asked to look at the referral today.
	Urgent        bool   `json:"urgent,omitempty"`
	CrisisSupport string `json:"crisis_support"`
}

func (s *Server) submit(w http.ResponseWriter, r *http.Request) {
	if submits, _ := s.limits(); !submits.allow(r) {
		writeError(w, errTooMany)
		return
	}
	var q submissionRequest
	if e := decode(w, r, &q); e != nil {
		writeError(w, e)
		return
	}
	now := s.now()
	sub, e := q.validate(now)
	if e != nil {
		writeError(w, e)
		return
	}
	idemKey := r.Header.Get("Idempotency-Key")
	if len(idemKey) > 200 {
		writeError(w, &apiError{Status: http.StatusBadRequest, Code: "invalid_header", Field: "Idempotency-Key", Message: "Idempotency-Key must be at most 200 characters"})
		return
	}
	ctx := r.Context()
	ref, created, err := s.DB.CreateReferral(ctx, sub, now, idemKey, fingerprint(sub))
	switch {
	case errors.Is(err, referral.ErrDuplicate):
		writeError(w, &apiError{Status: http.StatusConflict, Code: "duplicate_referral", Field: "email",
			Message: "a referral for this email address is already open; follow it with the link you were sent, or withdraw it first"})
		return
	case errors.Is(err, referral.ErrConflict):
		writeError(w, &apiError{Status: http.StatusUnprocessableEntity, Code: "idempotency_key_reused", Field: "Idempotency-Key",
			Message: "this Idempotency-Key was used for a different referral"})
		return
	case err != nil:
		s.storeError(w, r, err)
		return
	}
	concerns(r, ref.ID)
	// The row is committed; the workflow start is idempotent (same ID), so a
	// failure here is repaired by the client retrying with its key.
	if err := s.startWorkflow(ctx, ref.ID); err != nil {
		s.Logger.ErrorContext(ctx, "start referral workflow", "referral_id", ref.ID, "workflow_id", workflows.WorkflowID(ref.ID), "err", err)
		writeError(w, &apiError{Status: http.StatusServiceUnavailable, Code: "unavailable",
			Message: "your referral is saved but could not be started; retry with the same Idempotency-Key"})
		return
	}
	if !created {
		// A replay: the first response (and its token) may never have
		// arrived. Tokens are never shown twice, so issue a new one and
		// revoke the old.
		if err := s.DB.RevokeTokens(ctx, referral.RoleTrainee, ref.ID); err != nil {
			s.storeError(w, r, err)
			return
		}
	}
	expires := time.Now().Add(s.TraineeLinkTTL)
	token, err := s.DB.IssueToken(ctx, referral.RoleTrainee, ref.ID, &expires)
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	s.Logger.InfoContext(ctx, "referral submitted", "referral_id", ref.ID, "workflow_id", workflows.WorkflowID(ref.ID), "replay", !created)
	writeJSON(w, http.StatusAccepted, submitResponse{ID: ref.ID, Status: ref.Status, Token: token, Urgent: ref.AtRisk, CrisisSupport: referral.CrisisSupport})
}

func fingerprint(s referral.Submission) string {
	b, _ := json.Marshal(s)
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// ResumeSubmissions starts the workflow of every referral that was stored
// but never started (Temporal was unreachable when it was submitted), every
// interval until ctx ends. Starting is idempotent, so a workflow that is
// merely slow to record its first transition is left as it is.
func (s *Server) ResumeSubmissions(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		ids, err := s.DB.StuckSubmissions(ctx, s.now().Add(-interval), 100)
		if err != nil && ctx.Err() == nil {
			s.Logger.ErrorContext(ctx, "find stuck submissions", "err", err)
		}
		for _, id := range ids {
			if err := s.startWorkflow(ctx, id); err != nil {
				s.Logger.ErrorContext(ctx, "restart referral workflow", "referral_id", id, "workflow_id", workflows.WorkflowID(id), "err", err)
				continue
			}
			s.Logger.InfoContext(ctx, "started workflow of a stuck submission", "referral_id", id, "workflow_id", workflows.WorkflowID(id))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// PurgeCredentials deletes dead tokens and sign-in links every interval
// until ctx ends.
func (s *Server) PurgeCredentials(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if n, err := s.DB.PurgeCredentials(ctx); err != nil && ctx.Err() == nil {
			s.Logger.ErrorContext(ctx, "purge credentials", "err", err)
		} else if n > 0 {
			s.Logger.InfoContext(ctx, "purged dead tokens and sign-in links", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *Server) startWorkflow(ctx context.Context, referralID string) error {
	_, err := s.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       workflows.WorkflowID(referralID),
		TaskQueue:                workflows.TaskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		TypedSearchAttributes:    temporalStatus(referral.StatusSubmitted),
	}, workflows.WorkflowName, workflows.Input{ReferralID: referralID, Timings: s.Timings})
	return err
}

type referralView struct {
	ID                    string               `json:"id"`
	Status                referral.Status      `json:"status"`
	SubmittedAt           time.Time            `json:"submitted_at"`
	Programme             string               `json:"programme"`
	Employer              string               `json:"employer"`
	TrainingStart         string               `json:"training_start"`
	ExpectedQualification string               `json:"expected_qualification,omitempty"`
	Cutoff                string               `json:"cutoff,omitempty"`
	Eligibility           *eligibilityView     `json:"eligibility,omitempty"`
	Preferences           referral.Preferences `json:"preferences"`
	Name                  string               `json:"name,omitempty"`
	Email                 string               `json:"email,omitempty"`
	Concerns              string               `json:"concerns,omitempty"`
	Offer                 *referral.Offer      `json:"offer,omitempty"`
	Events                []referral.Event     `json:"events,omitempty"`
	// Urgent marks a referral flagged for same-day attention; shown to those
	// who may see its personal details.
	Urgent bool `json:"urgent,omitempty"`
	// CrisisSupport is shown to the trainee on every response about them.
	CrisisSupport string `json:"crisis_support,omitempty"`
}

type eligibilityView struct {
	Eligible   bool   `json:"eligible"`
	Reason     string `json:"reason,omitempty"`
	ReasonText string `json:"reason_text,omitempty"`
}

func view(ref referral.Referral) referralView {
	v := referralView{
		ID: ref.ID, Status: ref.Status, SubmittedAt: ref.SubmittedAt, Programme: ref.Programme, Employer: ref.Employer,
		TrainingStart: ref.TrainingStart.String()[:7], Preferences: ref.Preferences,
	}
	if ref.ExpectedQualification != nil {
		v.ExpectedQualification = ref.ExpectedQualification.String()
	}
	if ref.Cutoff != nil {
		v.Cutoff = ref.Cutoff.String()
	}
	if ref.Eligible != nil {
		v.Eligibility = &eligibilityView{Eligible: *ref.Eligible, Reason: ref.EligibilityReason}
		if !*ref.Eligible {
			v.Eligibility.ReasonText = referral.ReasonText(ref.EligibilityReason)
		}
	}
	return v
}

// getReferral shows a referral to those entitled to it. A therapist sees it
// only while it is offered to or matched with them, and its personal details
// only once they have accepted. Anyone else gets 404, so a token cannot be
// used to learn which referrals exist.
func (s *Server) getReferral(w http.ResponseWriter, r *http.Request) {
	p, _ := principal(r)
	id := chi.URLParam(r, "id")
	if !validID(id) {
		writeError(w, errNotFound)
		return
	}
	ctx := r.Context()
	personal := true
	var offer *referral.Offer
	switch p.Role {
	case referral.RoleTrainee:
		if p.Subject != id {
			writeError(w, errNotFound)
			return
		}
	case referral.RoleTherapist:
		o, err := s.DB.LiveOffer(ctx, id)
		if err != nil {
			s.storeError(w, r, err)
			return
		}
		if o == nil || o.TherapistID != p.Subject {
			writeError(w, errNotFound)
			return
		}
		personal, offer = o.State == referral.OfferAccepted, o
	case referral.RoleCommittee, referral.RoleOperator:
		o, err := s.DB.LiveOffer(ctx, id)
		if err != nil {
			s.storeError(w, r, err)
			return
		}
		offer = o
	}
	ref, err := s.DB.Referral(ctx, id)
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	v := view(ref)
	v.Offer = offer
	if personal {
		v.Name, v.Email, v.Concerns, v.Urgent = ref.Name, ref.Email, ref.Concerns, ref.AtRisk
	}
	if p.Role == referral.RoleTrainee {
		v.CrisisSupport = referral.CrisisSupport
	}
	if p.Role != referral.RoleTherapist {
		if v.Events, err = s.DB.Events(ctx, id); err != nil {
			s.storeError(w, r, err)
			return
		}
	}
	if p.Role == referral.RoleTrainee {
		v.Events = forTrainee(v.Events)
	}
	writeJSON(w, http.StatusOK, v)
}

type listResponse struct {
	Referrals  []referralView `json:"referrals"`
	NextCursor string         `json:"next_cursor,omitempty"`
}

func (s *Server) listReferrals(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := postgres.ListFilter{Status: referral.Status(q.Get("status")), Limit: 50}
	if f.Status != "" && !f.Status.Valid() {
		writeError(w, &apiError{Status: http.StatusBadRequest, Code: "invalid_parameter", Field: "status", Message: "status must be one of the referral statuses"})
		return
	}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 200 {
			writeError(w, &apiError{Status: http.StatusBadRequest, Code: "invalid_parameter", Field: "limit", Message: "limit must be a whole number from 1 to 200"})
			return
		}
		f.Limit = n
	}
	if c := q.Get("cursor"); c != "" {
		t, id, ok := parseCursor(c)
		if !ok {
			writeError(w, &apiError{Status: http.StatusBadRequest, Code: "invalid_parameter", Field: "cursor", Message: "cursor is not one this API returned"})
			return
		}
		f.BeforeTime, f.BeforeID, f.HasCursor = t, id, true
	}
	refs, err := s.DB.ListReferrals(r.Context(), f)
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	resp := listResponse{Referrals: make([]referralView, 0, len(refs))}
	for _, ref := range refs {
		v := view(ref)
		v.Urgent = ref.AtRisk
		resp.Referrals = append(resp.Referrals, v)
	}
	if len(refs) == f.Limit {
		last := refs[len(refs)-1]
		resp.NextCursor = base64.RawURLEncoding.EncodeToString([]byte(last.SubmittedAt.Format(time.RFC3339Nano) + "|" + last.ID))
	}
	writeJSON(w, http.StatusOK, resp)
}

func parseCursor(c string) (time.Time, string, bool) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return time.Time{}, "", false
	}
	ts, id, ok := strings.Cut(string(b), "|")
	t, err := time.Parse(time.RFC3339Nano, ts)
	if !ok || err != nil || !validID(id) {
		return time.Time{}, "", false
	}
	return t, id, true
}

var uuidPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

func validID(id string) bool { return uuidPattern.MatchString(id) }

type reviewRequest struct {
	Decision   *string `json:"decision"`
	Reason     string  `json:"reason"`
	ReasonCode string  `json:"reason_code"`
}

func (s *Server) review(w http.ResponseWriter, r *http.Request) {
	p, _ := principal(r)
	id := chi.URLParam(r, "id")
	var q reviewRequest
	if e := decode(w, r, &q); e != nil {
		writeError(w, e)
		return
	}
	switch {
	case q.Decision == nil || (*q.Decision != workflows.DecisionApprove && *q.Decision != workflows.DecisionDecline):
		writeError(w, badField("decision", `decision must be "approve" or "decline"`))
		return
	case *q.Decision == workflows.DecisionDecline && strings.TrimSpace(q.Reason) == "":
		writeError(w, badField("reason", "a reason is required to decline a referral"))
		return
	case utf8.RuneCountInString(q.Reason) > 2000:
		writeError(w, badField("reason", "reason must be at most 2000 characters"))
		return
	case q.ReasonCode != "" && (*q.Decision != workflows.DecisionDecline || !slices.Contains(referral.CommitteeDeclineCodes, q.ReasonCode)):
		writeError(w, badField("reason_code", "reason_code goes with a decline and must be one of %s", strings.Join(referral.CommitteeDeclineCodes, ", ")))
		return
	}
	if !s.referralExists(w, r, id) {
		return
	}
	actor := referral.Actor{Role: referral.RoleCommittee, ID: p.Subject}
	noteID, ok := s.note(w, r, id, actor, q.Reason)
	if !ok {
		return
	}
	s.update(w, r, id, workflows.UpdateReview, workflows.ReviewRequest{Decision: *q.Decision, Actor: actor, NoteID: noteID, ReasonCode: q.ReasonCode})
}

// noBody refuses a body on a route that takes none, so a client that
// thinks it is sending something learns otherwise.
func noBody(w http.ResponseWriter, r *http.Request) *apiError {
	if r.ContentLength == 0 && r.Header.Get("Content-Type") == "" {
		return nil
	}
	var q struct{}
	return decode(w, r, &q)
}

type reasonRequest struct {
	Reason string `json:"reason"`
}

// optionalReason reads an optional {"reason": ...} body; an empty body is
// fine.
func optionalReason(w http.ResponseWriter, r *http.Request) (string, *apiError) {
	if r.ContentLength == 0 && r.Header.Get("Content-Type") == "" {
		return "", nil
	}
	var q reasonRequest
	if e := decode(w, r, &q); e != nil {
		return "", e
	}
	if utf8.RuneCountInString(q.Reason) > 2000 {
		return "", badField("reason", "reason must be at most 2000 characters")
	}
	return strings.TrimSpace(q.Reason), nil
}

func (s *Server) withdraw(w http.ResponseWriter, r *http.Request) {
	p, _ := principal(r)
	id := chi.URLParam(r, "id")
	if p.Subject != id {
		writeError(w, errNotFound)
		return
	}
	reason, e := optionalReason(w, r)
	if e != nil {
		writeError(w, e)
		return
	}
	actor := referral.Actor{Role: referral.RoleTrainee}
	noteID, ok := s.note(w, r, id, actor, reason)
	if !ok {
		return
	}
	s.update(w, r, id, workflows.UpdateWithdraw, workflows.WithdrawRequest{Actor: actor, NoteID: noteID})
}

func (s *Server) endTherapy(w http.ResponseWriter, r *http.Request) {
	p, _ := principal(r)
	id := chi.URLParam(r, "id")
	if !validID(id) {
		writeError(w, errNotFound)
		return
	}
	o, err := s.DB.LiveOffer(r.Context(), id)
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	if o == nil || o.TherapistID != p.Subject {
		writeError(w, errNotFound)
		return
	}
	reason, e := optionalReason(w, r)
	if e != nil {
		writeError(w, e)
		return
	}
	actor := referral.Actor{Role: referral.RoleTherapist, ID: p.Subject}
	noteID, ok := s.note(w, r, id, actor, reason)
	if !ok {
		return
	}
	s.update(w, r, id, workflows.UpdateEndTherapy, workflows.OfferAnswer{OfferID: o.ID, Actor: actor, NoteID: noteID})
}

func (s *Server) referralExists(w http.ResponseWriter, r *http.Request, id string) bool {
	if !validID(id) {
		writeError(w, errNotFound)
		return false
	}
	if _, err := s.DB.Referral(r.Context(), id); err != nil {
		s.storeError(w, r, err)
		return false
	}
	return true
}

// note stores free text in Postgres, where it belongs, and returns the id the
// workflow carries instead.
func (s *Server) note(w http.ResponseWriter, r *http.Request, referralID string, actor referral.Actor, body string) (int64, bool) {
	if body == "" {
		return 0, true
	}
	id, err := s.DB.AddNote(r.Context(), referralID, actor.String(), body)
	if err != nil {
		s.storeError(w, r, err)
		return 0, false
	}
	return id, true
}

// forTrainee shows a trainee their timeline without naming who in the
// committee or which therapist acted, and with only the committee's notes:
// a therapist's reason for declining (a conflict of interest, say) is for
// the committee.
func forTrainee(events []referral.Event) []referral.Event {
	out := make([]referral.Event, len(events))
	for i, e := range events {
		role, _, _ := strings.Cut(e.Actor, ":")
		if role != string(referral.RoleCommittee) {
			e.Note = ""
		}
		if role == string(referral.RoleTherapist) {
			e.Reason = "" // why a therapist declined is for the committee
		}
		e.Actor = role
		out[i] = e
	}
	return out
}

type checkInRequest struct {
	StillWaiting *bool `json:"still_waiting"`
}

// checkIn is a waiting trainee's answer to "do you still want a place?".
func (s *Server) checkIn(w http.ResponseWriter, r *http.Request) {
	p, _ := principal(r)
	id := chi.URLParam(r, "id")
	if p.Subject != id {
		writeError(w, errNotFound)
		return
	}
	var q checkInRequest
	if e := decode(w, r, &q); e != nil {
		writeError(w, e)
		return
	}
	if q.StillWaiting == nil {
		writeError(w, badField("still_waiting", "still_waiting must be true (keep my place) or false (withdraw)"))
		return
	}
	s.update(w, r, id, workflows.UpdateCheckIn, workflows.CheckInAnswer{StillWaiting: *q.StillWaiting, Actor: referral.Actor{Role: referral.RoleTrainee}})
}
