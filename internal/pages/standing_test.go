package pages_test

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/wmtna/referrals/internal/referral"
	"github.com/wmtna/referrals/internal/stacktest"
	"github.com/wmtna/referrals/workflows"
)

// A waiting referral that no therapist on the register can meet the way
// the trainee asked is flagged on the committee's waiting list, and its
// trainee is told honestly where they stand; one that a therapist could
// take shows how many could, and its trainee how many wait ahead of them.
func TestWaitingListSaysWhoCanBeMet(t *testing.T) {
	s := stacktest.Start(t, workflows.Timings{ReviewReminder: time.Hour, OfferTTL: time.Hour, WaitlistRecheck: time.Hour})
	chair := s.Do("POST", "/v1/committee-members", stacktest.AdminToken, map[string]any{"name": "Chair", "email": "chair@example.org", "role": "chair"})
	// One full therapist who sees people online only.
	s.Do("POST", "/v1/therapists", chair.Str("token"), map[string]any{"name": "Dr Online", "email": "online@example.org", "hcpc_number": "PYL1", "capacity": 0})
	refer := func(email string, prefs map[string]any) string {
		r := s.MustRefer(map[string]any{"name": "N", "email": email, "programme": "clinical", "employer": "RXT",
			"training_start": s.TrainingMonth(), "concerns": "c", "consent": true, "preferences": prefs})
		id := r.Str("id")
		s.WaitStatus(id, "awaiting_review", 10*time.Second)
		if a := s.Do("POST", "/v1/referrals/"+id+"/review", chair.Str("token"), map[string]any{"decision": "approve"}); a.Status != 200 {
			t.Fatalf("approve: %d %s", a.Status, a.Raw)
		}
		s.WaitStatus(id, "waitlisted", 10*time.Second)
		return id
	}
	first := refer("first@nhs.example", map[string]any{"meeting": "online"})
	stoke := refer("stoke@nhs.example", map[string]any{"meeting": "in_person", "areas": []string{"stoke-on-trent"}})
	second := refer("second@nhs.example", map[string]any{"meeting": "either"})

	committee := signedInAs(t, s, referral.Principal{Role: referral.RoleCommittee, Subject: chair.Str("id")})
	list := committee.get("/committee")
	list.want(t, 200, "Therapists who could take it", "No therapist on the register can meet them the way they asked")
	if n := strings.Count(list.Body, "No therapist on the register can meet them"); n != 1 {
		t.Errorf("%d referrals flagged as nobody can take them, want 1 (the in-person one in Stoke-on-Trent)", n)
	}

	trainee := func(id string) page {
		return signedInAs(t, s, referral.Principal{Role: referral.RoleTrainee, Subject: id}).get("/my-referral")
	}
	trainee(stoke).want(t, 200, "No therapist on our register can meet you the way you asked", "In person only in Stoke-on-Trent", "We cannot promise a date")
	trainee(first).want(t, 200, "You are next in line for a therapist who can meet you the way you asked", "Online only")
	// The in-person trainee in Stoke-on-Trent waits for no therapist the
	// second trainee could take, so is not ahead of them.
	trainee(second).want(t, 200, "1 person is ahead of you in line", "Online or in person, anywhere in the region")
}

// The committee keeps the list of areas from its page: an area added is
// offered on the referral form at once, and one no longer offered leaves
// the form but stays with those who chose it.
func TestCommitteeKeepsTheAreas(t *testing.T) {
	s := stacktest.Start(t, workflows.Timings{ReviewReminder: time.Hour, OfferTTL: time.Hour, WaitlistRecheck: time.Hour})
	chair := s.Do("POST", "/v1/committee-members", stacktest.AdminToken, map[string]any{"name": "Chair", "email": "chair@example.org", "role": "chair"})
	b := signedInAs(t, s, referral.Principal{Role: referral.RoleCommittee, Subject: chair.Str("id")})
	list := b.get("/committee/areas")
	list.want(t, 200, "Areas where people meet", "Stoke-on-Trent", "Add an area")
	csrf := list.csrf(t)

	bad := b.post("/committee/areas", url.Values{"csrf": {csrf}, "name": {"  "}})
	bad.want(t, 422, "Error: Areas where people meet", "There is a problem", `href="#name"`, `id="name-error"`, "Enter the name of the area")
	dup := b.post("/committee/areas", url.Values{"csrf": {csrf}, "name": {"stoke on trent"}})
	dup.want(t, 422, "Stoke-on-Trent is already on the list")

	added := b.post("/committee/areas", url.Values{"csrf": {csrf}, "name": {"Cannock Chase"}})
	if added.Status != 303 || added.Location != "/committee/areas?done=added" {
		t.Fatalf("add an area: %d %q", added.Status, added.Location)
	}
	anyone := newBrowser(t, s.API.URL)
	// The areas are asked on the page about meeting.
	detailsPage := url.Values{"show": {"meeting"}}
	anyone.post("/refer", detailsPage).want(t, 200, `value="cannock-chase"`, "Cannock Chase")

	stopped := b.post("/committee/areas", url.Values{"csrf": {csrf}, "code": {"cannock-chase"}, "active": {"no"}})
	if stopped.Status != 303 {
		t.Fatalf("stop offering an area: %d\n%s", stopped.Status, stopped.Body)
	}
	if form := anyone.post("/refer", detailsPage); strings.Contains(form.Body, "cannock-chase") {
		t.Error("the referral form still offers an area the committee stopped offering")
	}
	h := s.Do("GET", "/v1/register/history?entity=area&id=cannock-chase", chair.Str("token"), nil)
	if changes, _ := h.Body["changes"].([]any); len(changes) != 2 {
		t.Errorf("the area's history: %s, want its adding and its stopping", h.Raw)
	}
}

// Every page carries the phase banner and links to the privacy notice, the
// accessibility statement and the network's address; the notice says what
// is kept, who sees it, for how long (the configured retention) and how to
// have it erased.
func TestPrivacyNoticeAndAccessibilityStatement(t *testing.T) {
	s := stacktest.Start(t, workflows.Timings{ReviewReminder: time.Hour, OfferTTL: time.Hour, WaitlistRecheck: time.Hour})
	b := newBrowser(t, s.API.URL)
	home := b.get("/")
	home.want(t, 200, "Beta", `href="/privacy"`, `href="/accessibility"`, "mailto:"+s.Config.ContactEmail)
	b.get("/privacy").want(t, 200, "Privacy notice", "What we keep", "Who sees it",
		"for 2 years after it ends", "erased", "mailto:"+s.Config.ContactEmail, "ico.org.uk")
	b.get("/accessibility").want(t, 200, "Accessibility statement", "WCAG", "partially compliant", "mailto:"+s.Config.ContactEmail)
}
