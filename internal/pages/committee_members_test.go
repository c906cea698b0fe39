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

// The Chair keeps the committee on its pages: adds a member (office as
// radios), with errors named beside their fields; changes an office; and
// removes a member after confirming, which signs the member out at once.
// The last Chair can be neither demoted nor removed; a member who is not
// the Chair sees the list but no forms, and is refused if they post one.
func TestChairKeepsTheCommittee(t *testing.T) {
	s := stacktest.Start(t, workflows.Timings{ReviewReminder: time.Hour, OfferTTL: time.Hour, WaitlistRecheck: time.Hour})
	chairM := s.Do("POST", "/v1/committee-members", stacktest.AdminToken, map[string]any{"name": "Chris Chair", "email": "chair@example.org", "role": "chair"})
	secM := s.Do("POST", "/v1/committee-members", stacktest.AdminToken, map[string]any{"name": "Sam Secretary", "email": "sec@example.org", "role": "secretary"})
	chair := signedInAs(t, s, referral.Principal{Role: referral.RoleCommittee, Subject: chairM.Str("id")})
	sec := signedInAs(t, s, referral.Principal{Role: referral.RoleCommittee, Subject: secM.Str("id")})

	chair.get("/committee").want(t, 200, `href="/committee/members"`, `href="/committee/employers"`)
	list := chair.get("/committee/members")
	list.want(t, 200, "Chris Chair", "Sam Secretary", "Secretary", "Add a member", `type="radio" value="treasurer"`,
		`href="/committee/members/`+secM.Str("id")+`/remove"`)
	csrf := list.csrf(t)

	// Errors: each named, linked to its field, and the answers kept.
	bad := chair.post("/committee/members", url.Values{"csrf": {csrf}, "name": {"Ann Member"}, "email": {"not an address"}})
	bad.want(t, 422, "<title>Error: Committee members", "There is a problem", `href="#email"`, "Enter the member&#39;s email address",
		`value="Ann Member"`)
	chair.post("/committee/members", url.Values{"csrf": {csrf}, "name": {"Ann Member"}, "email": {"ann@example.org"}}).
		want(t, 422, `href="#role"`, "Choose the member&#39;s office")
	chair.post("/committee/members", url.Values{"csrf": {csrf}, "name": {"Sam Again"}, "email": {"SEC@example.org"}, "role": {"member"}}).
		want(t, 409, `href="#email"`, "already has this email address")

	added := chair.post("/committee/members", url.Values{"csrf": {csrf}, "name": {"Ann Member"}, "email": {"ann@example.org"}, "role": {"treasurer"}})
	if added.Status != 303 || added.Location != "/committee/members?done=added" {
		t.Fatalf("add: %d %s\n%s", added.Status, added.Location, added.Body)
	}
	members := s.Do("GET", "/v1/committee-members", stacktest.AdminToken, nil).Body["committee_members"].([]any)
	ann := members[len(members)-1].(map[string]any)
	if ann["name"] != "Ann Member" || ann["role"] != "treasurer" {
		t.Fatalf("the added member: %v", ann)
	}
	annID := ann["id"].(string)
	chair.get("/committee/members?done=added").want(t, 200, "Member added", "Ann Member", "Treasurer")

	// The last Chair stays.
	office := "/committee/members/" + chairM.Str("id") + "/office"
	chair.get(office).want(t, 200, "What is Chris Chair’s office?", "This is you")
	chair.post(office, url.Values{"csrf": {csrf}, "role": {"member"}}).
		want(t, 409, "<title>Error: ", `href="#role"`, "The committee must keep a Chair")
	chair.post("/committee/members/"+chairM.Str("id")+"/remove", url.Values{"csrf": {csrf}}).
		want(t, 409, "The committee must keep a Chair")
	chair.post("/committee/members/"+annID+"/office", url.Values{"csrf": {csrf}}).
		want(t, 422, `href="#role"`, "Choose the member&#39;s office")
	if r := chair.post("/committee/members/"+annID+"/office", url.Values{"csrf": {csrf}, "role": {"secretary"}}); r.Status != 303 {
		t.Fatalf("change office: %d\n%s", r.Status, r.Body)
	}

	// Not the Chair: the list without forms; the forms refused.
	sec.get("/committee/members").want(t, 200, "Only the Chair can add, change or remove committee members", "Ann Member")
	if body := sec.get("/committee/members").Body; strings.Contains(body, "Add a member") || strings.Contains(body, "/remove") {
		t.Errorf("a member who is not the Chair is offered the Chair's forms")
	}
	sec.get("/committee/members/"+annID+"/remove").want(t, 403, "Only the Chair can add, change or remove committee members.")
	secCSRF := sec.get("/committee/members").csrf(t)
	sec.post("/committee/members/"+annID+"/remove", url.Values{"csrf": {secCSRF}}).want(t, 403, "Only the Chair can add, change or remove committee members.")

	// Removing: confirm, then the member is signed out at once.
	chair.get("/committee/members/"+secM.Str("id")+"/remove").
		want(t, 200, "Are you sure you want to remove Sam Secretary?", "They will be signed out at once", "Yes, remove Sam Secretary")
	if r := chair.post("/committee/members/"+secM.Str("id")+"/remove", url.Values{"csrf": {csrf}}); r.Status != 303 || r.Location != "/committee/members?done=removed" {
		t.Fatalf("remove: %d %s\n%s", r.Status, r.Location, r.Body)
	}
	chair.get("/committee/members?done=removed").want(t, 200, "Member removed", "Removed members", "Sam Secretary")
	if r := sec.get("/committee"); r.Status != 303 || !strings.HasPrefix(r.Location, "/sign-in") {
		t.Errorf("the removed member's session: %d %s, want sent to sign in", r.Status, r.Location)
	}
	if r := s.Do("GET", "/v1/referrals", secM.Str("token"), nil); r.Status != 401 {
		t.Errorf("the removed member's bearer token: %d, want 401", r.Status)
	}
}

// The committee keeps the employer register: listed by name (not code),
// added with an ODS code, a name and a kind, errors beside their fields,
// and marked no longer listed (and listed again).
func TestCommitteeKeepsTheEmployerRegister(t *testing.T) {
	s := stacktest.Start(t, workflows.Timings{ReviewReminder: time.Hour, OfferTTL: time.Hour, WaitlistRecheck: time.Hour})
	secM := s.Do("POST", "/v1/committee-members", stacktest.AdminToken, map[string]any{"name": "Sam", "email": "sec@example.org", "role": "secretary"})
	b := signedInAs(t, s, referral.Principal{Role: referral.RoleCommittee, Subject: secM.Str("id")})
	page := b.get("/committee/employers")
	page.want(t, 200, "Employers", "Add an employer", `type="radio" value="nhs_contracted"`, "NHS trust")
	csrf := page.csrf(t)

	for _, tc := range []struct {
		name   string
		form   url.Values
		status int
		want   []string
	}{
		{"no code", url.Values{"name": {"Aardvark Care"}, "kind": {"nhs_contracted"}}, 422,
			[]string{`href="#code"`, "Enter the employer&#39;s ODS code", `value="Aardvark Care"`}},
		{"bad code", url.Values{"code": {"R!"}, "name": {"Aardvark Care"}, "kind": {"nhs_contracted"}}, 422, []string{`href="#code"`}},
		{"no name", url.Values{"code": {"ZZ1"}, "kind": {"nhs_contracted"}}, 422, []string{`href="#name"`, "Enter the employer&#39;s name"}},
		{"no kind", url.Values{"code": {"ZZ1"}, "name": {"Aardvark Care"}}, 422, []string{`href="#kind"`, "NHS trust or an NHS-contracted service"}},
		{"a code on the register", url.Values{"code": {"rxt"}, "name": {"Not RXT"}, "kind": {"nhs_trust"}}, 409,
			[]string{`href="#code"`, "already on the register"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.form.Set("csrf", csrf)
			b.post("/committee/employers", tc.form).want(t, tc.status, append([]string{"<title>Error: Employers", "There is a problem"}, tc.want...)...)
		})
	}
	if r := b.post("/committee/employers", url.Values{"csrf": {csrf}, "code": {" zz1 "}, "name": {"Aardvark Care"}, "kind": {"nhs_contracted"}}); r.Status != 303 {
		t.Fatalf("add: %d\n%s", r.Status, r.Body)
	}
	page = b.get("/committee/employers?done=added")
	page.want(t, 200, "Employer added", "Aardvark Care", "ZZ1", "NHS-contracted service")
	// By name: Aardvark Care (ZZ1) comes before every seeded trust.
	if i, j := strings.Index(page.Body, "Aardvark Care"), strings.Index(page.Body, "<td>RXT</td>"); i < 0 || j < 0 || i > j {
		t.Errorf("the register is not listed by name: Aardvark Care at %d, RXT at %d", i, j)
	}

	if r := b.post("/committee/employers/ZZ1/listed", url.Values{"csrf": {csrf}, "listed": {"no"}}); r.Status != 303 {
		t.Fatalf("unlist: %d\n%s", r.Status, r.Body)
	}
	b.get("/committee/employers?done=unlisted").want(t, 200, "Employer marked as no longer listed", "No longer listed", "List again")
	for _, o := range s.Do("GET", "/v1/organisations", stacktest.AdminToken, nil).Body["organisations"].([]any) {
		if o := o.(map[string]any); o["code"] == "ZZ1" && o["active"] != false {
			t.Errorf("ZZ1 is still active: %v", o)
		}
	}
	b.post("/committee/employers/ZZ1/listed", url.Values{"csrf": {csrf}, "listed": {"maybe"}}).want(t, 422, "Choose whether the employer is listed")
	b.post("/committee/employers/NOPE1/listed", url.Values{"csrf": {csrf}, "listed": {"no"}}).want(t, 404)

	h := s.Do("GET", "/v1/register/history?entity=organisation&id=ZZ1", stacktest.AdminToken, nil)
	changes, _ := h.Body["changes"].([]any)
	if h.Status != 200 || len(changes) != 2 || !strings.Contains(h.Raw, `"committee:`+secM.Str("id")+`"`) {
		t.Errorf("the employer's history: %d %s; want its adding and unlisting, by the member", h.Status, h.Raw)
	}
}
