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
	b := newBrowser(t, s.API.URL)
	expires := time.Now().Add(time.Hour)
	token, err := s.DB.IssueToken(context.Background(), referral.RoleCommittee, chair.Str("id"), &expires)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(s.API.URL)
	b.hc.Jar.SetCookies(u, []*http.Cookie{{Name: "wmtna_session", Value: token, Path: "/"}})
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
