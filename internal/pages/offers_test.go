package pages_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wmtna/referrals/internal/referral"
	"github.com/wmtna/referrals/internal/stacktest"
	"github.com/wmtna/referrals/workflows"
)

// A therapist answering, from their page, an offer they no longer hold
// (they declined it and it went to someone else) gets the page they would
// get for an offer never made to them: nothing on it says where the
// referral now is.
func TestTherapistPageAnswersAnOfferNoLongerHeldAsOneNeverMade(t *testing.T) {
	s := stacktest.Start(t, workflows.Timings{ReviewReminder: time.Hour, OfferTTL: time.Hour, WaitlistRecheck: time.Hour})
	admin := stacktest.AdminToken
	chair := s.Do("POST", "/v1/committee-members", admin, map[string]any{"name": "Chair", "email": "chair@example.org", "role": "chair"})
	t1 := s.Do("POST", "/v1/therapists", admin, map[string]any{"name": "Dr One", "email": "one@example.org", "hcpc_number": "PYL1", "capacity": 1})
	t2 := s.Do("POST", "/v1/therapists", admin, map[string]any{"name": "Dr Two", "email": "two@example.org", "hcpc_number": "PYL2", "capacity": 1})
	a := s.MustRefer(map[string]any{"name": "N", "email": "a@nhs.example", "programme": "clinical", "employer": "RXT", "training_start": s.TrainingMonth(), "concerns": "c", "consent": true})
	s.WaitStatus(a.Str("id"), "awaiting_review", 10*time.Second)
	approved := s.Do("POST", "/v1/referrals/"+a.Str("id")+"/review", chair.Str("token"), map[string]any{"decision": "approve"})
	if approved.Str("status") != "offered" || approved.Str("therapist_id") != t1.Str("id") {
		t.Fatalf("approve: %d %s, want offered to Dr One", approved.Status, approved.Raw)
	}
	old := approved.Str("offer_id")

	b := signedInAs(t, s, referral.Principal{Role: referral.RoleTherapist, Subject: t1.Str("id")})
	csrf := b.get("/therapist").csrf(t)
	// A decline without a reason is shown again with the error, and the
	// page's title says so first, as every page with errors does.
	b.post("/therapist/offers/"+old+"/decline", url.Values{"csrf": {csrf}, "key": {"d0"}}).
		want(t, http.StatusUnprocessableEntity, "<title>Error: Your offers and clients")
	declined := b.post("/therapist/offers/"+old+"/decline", url.Values{"csrf": {csrf}, "reason_code": {"therapist-capacity"}, "key": {"d1"}})
	if declined.Status != http.StatusSeeOther {
		t.Fatalf("decline: %d\n%s", declined.Status, declined.Body)
	}
	if r := s.WaitStatus(a.Str("id"), "offered", 10*time.Second); !strings.Contains(r.Raw, t2.Str("id")) {
		t.Fatalf("not offered to Dr Two: %s", r.Raw)
	}

	never := "00000000-0000-4000-8000-000000000000"
	for _, answer := range []string{"accept", "decline"} {
		form := url.Values{"csrf": {csrf}, "reason_code": {"therapist-capacity"}}
		want := b.post("/therapist/offers/"+never+"/"+answer, form)
		got := b.post("/therapist/offers/"+old+"/"+answer, form)
		if got.Status != http.StatusNotFound || got.Status != want.Status {
			t.Errorf("%s of an offer no longer held: %d, want %d as for one never made\n%s", answer, got.Status, want.Status, got.Body)
		}
		if strip(got.Body) != strip(want.Body) {
			t.Errorf("%s of an offer no longer held differs from one never made:\n%s\n----\n%s", answer, got.Body, want.Body)
		}
	}
}

// strip drops what differs between two renderings of the same page: the
// form keys each rendering draws afresh.
func strip(body string) string {
	return formKeyPattern.ReplaceAllString(body, "")
}

var formKeyPattern = regexp.MustCompile(`name="key" value="[^"]*"`)
