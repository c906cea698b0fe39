package pages_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/wmtna/referrals/internal/referral"
	"github.com/wmtna/referrals/internal/stacktest"
	"github.com/wmtna/referrals/workflows"
)

// A referral whose trainee said they are at risk leads the committee's
// list of referrals to review, ahead of older routine ones; the others stay
// oldest first.
func TestSameDayReferralsLeadTheCommitteeList(t *testing.T) {
	s := stacktest.Start(t, workflows.Timings{ReviewReminder: time.Hour, OfferTTL: time.Hour, WaitlistRecheck: time.Hour})
	chair := s.Do("POST", "/v1/committee-members", stacktest.AdminToken, map[string]any{"name": "Chair", "email": "chair@example.org", "role": "chair"})
	var ids []string
	for _, c := range []struct {
		email  string
		atRisk bool
	}{{"older@nhs.example", false}, {"routine@nhs.example", false}, {"urgent@nhs.example", true}} {
		r := s.MustRefer(map[string]any{"name": "N", "email": c.email, "programme": "clinical", "employer": "RXT",
			"training_start": s.TrainingMonth(), "concerns": "c", "consent": true, "at_risk": c.atRisk})
		s.WaitStatus(r.Str("id"), "awaiting_review", 10*time.Second)
		ids = append(ids, r.Str("id"))
	}
	b := signedInAs(t, s, referral.Principal{Role: referral.RoleCommittee, Subject: chair.Str("id")})
	page := b.get("/committee")
	page.want(t, 200, "(just now)")
	if strings.Contains(page.Body, "just now ago") {
		t.Error(`the committee page says "just now ago"`)
	}
	at := func(id string) int { return strings.Index(page.Body, "/committee/referrals/"+id) }
	urgent, older, routine := at(ids[2]), at(ids[0]), at(ids[1])
	if urgent < 0 || older < 0 || routine < 0 {
		t.Fatalf("the committee page lacks a referral:\n%s", page.Body)
	}
	if !(urgent < older && older < routine) {
		t.Errorf("committee list order: same-day at %d, older at %d, routine at %d; want same-day first, then oldest first", urgent, older, routine)
	}
}

// A page nobody serves is "Page not found" in plain words, with the menu
// of whoever is signed in.
func TestNotFoundPageKnowsWhoIsSignedIn(t *testing.T) {
	s := stacktest.Start(t, workflows.Timings{ReviewReminder: time.Hour, OfferTTL: time.Hour, WaitlistRecheck: time.Hour})
	th := s.Do("POST", "/v1/therapists", stacktest.AdminToken, map[string]any{"name": "Dr One", "email": "one@example.org", "hcpc_number": "PYL1", "capacity": 1})
	b := signedInAs(t, s, referral.Principal{Role: referral.RoleTherapist, Subject: th.Str("id")})
	page := b.get("/no-such-page")
	page.want(t, 404, "Page not found", "check it is correct", "Sign out", "Your offers")
	if strings.Contains(page.Body, "no such resource") || strings.Contains(page.Body, `href="/sign-in"`) {
		t.Errorf("the 404 page shows the API's words or the signed-out menu:\n%s", page.Body)
	}
}

// signedInAs is a browser signed in as p, as a sign-in link would leave it.
func signedInAs(t *testing.T, s *stacktest.Stack, p referral.Principal) *browser {
	t.Helper()
	b := newBrowser(t, s.API.URL)
	expires := time.Now().Add(time.Hour)
	token, err := s.DB.IssueToken(context.Background(), p.Role, p.Subject, &expires)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(s.API.URL)
	b.hc.Jar.SetCookies(u, []*http.Cookie{{Name: "wmtna_session", Value: token, Path: "/"}})
	return b
}
