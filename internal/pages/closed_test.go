//go:build !fuzzing

package pages_test

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wmtna/referrals/internal/pages"
	"github.com/wmtna/referrals/internal/referral"
	"github.com/wmtna/referrals/internal/stacktest"
	"github.com/wmtna/referrals/workflows"
)

const rxtName = "Birmingham and Solihull Mental Health NHS Foundation Trust"

// The committee's lists name each referral by its reference, and each
// link's accessible name tells two same-day referrals apart; employers
// are named, and the training start is a month in words.
func TestCommitteeListsNameEachReferral(t *testing.T) {
	s := stacktest.Start(t, workflows.Timings{ReviewReminder: time.Hour, OfferTTL: time.Hour, WaitlistRecheck: time.Hour})
	chair := s.Do("POST", "/v1/committee-members", stacktest.AdminToken, map[string]any{"name": "Chair", "email": "chair@example.org", "role": "chair"})
	var ids []string
	for _, email := range []string{"first@nhs.example", "second@nhs.example"} {
		r := s.MustRefer(map[string]any{"name": "N", "email": email, "programme": "clinical", "employer": "RXT",
			"training_start": s.TrainingMonth(), "concerns": "c", "consent": true})
		s.WaitStatus(r.Str("id"), "awaiting_review", 10*time.Second)
		ids = append(ids, r.Str("id"))
	}
	b := signedInAs(t, s, referral.Principal{Role: referral.RoleCommittee, Subject: chair.Str("id")})
	dash := b.get("/committee")
	dash.want(t, 200, `<table class="stack">`, `<td data-label="Employer">`+rxtName+`</td>`, `<label for="reference">Find a referral by its reference</label>`,
		`href="/committee/closed"`)
	for _, id := range ids {
		dash.want(t, 200, `<span class="reference">`+id+`</span>`, `Review<span class="visually-hidden"> referral `+id+`</span>`)
	}
	if strings.Contains(dash.Body, ">RXT<") || strings.Contains(dash.Body, "the referral of") {
		t.Errorf("the committee page shows an employer's code, or a link named by its date alone:\n%s", dash.Body)
	}

	start, err := time.Parse("2006-01", s.TrainingMonth())
	if err != nil {
		t.Fatal(err)
	}
	review := b.get("/committee/referrals/" + ids[0])
	review.want(t, 200, `<dt>Training started</dt><dd>`+start.Format("January 2006")+`</dd>`, `<dd>`+rxtName+`</dd>`, `id="reference">`+ids[0]+`<`)
	if strings.Contains(review.Body, ">"+s.TrainingMonth()+"<") {
		t.Errorf("the review page shows the training start as %s", s.TrainingMonth())
	}
}

// Approve asks "are you sure?" first, on a page of its own; its form
// carries one key, so a double click approves once, and a post that has
// not been through the question approves nothing.
func TestApprovingAsksFirst(t *testing.T) {
	s := stacktest.Start(t, workflows.Timings{ReviewReminder: time.Hour, OfferTTL: time.Hour, WaitlistRecheck: time.Hour})
	chair := s.Do("POST", "/v1/committee-members", stacktest.AdminToken, map[string]any{"name": "Chair", "email": "chair@example.org", "role": "chair"})
	r := s.MustRefer(map[string]any{"name": "Nina Trainee", "email": "nina@nhs.example", "programme": "clinical", "employer": "RXT",
		"training_start": s.TrainingMonth(), "concerns": "c", "consent": true})
	id := r.Str("id")
	s.WaitStatus(id, "awaiting_review", 10*time.Second)
	b := signedInAs(t, s, referral.Principal{Role: referral.RoleCommittee, Subject: chair.Str("id")})

	review := b.get("/committee/referrals/" + id)
	review.want(t, 200, `<form method="get" action="/committee/referrals/`+id+`/approve">`)
	csrf := review.csrf(t)
	// An old copy of the review page posted approve at once: it is asked
	// the question instead, and nothing is approved.
	unasked := b.post("/committee/referrals/"+id+"/review", url.Values{"csrf": {csrf}, "decision": {"approve"}, "key": {"k1"}})
	unasked.want(t, 200, "Are you sure you want to approve this referral?", `name="key" value="k1"`, "Nina Trainee", id)
	if got := s.Do("GET", "/v1/referrals/"+id, stacktest.AdminToken, nil).Str("status"); got != "awaiting_review" {
		t.Fatalf("after an unconfirmed approve the referral is %s, want awaiting_review", got)
	}
	ask := b.get("/committee/referrals/" + id + "/approve")
	ask.want(t, 200, "Are you sure you want to approve this referral?", "It will be offered to a therapist or put on the waiting list.",
		`<a class="cancel" href="/committee/referrals/`+id+`">Cancel</a>`)
	key := regexp.MustCompile(`name="key" value="([^"]+)"`).FindStringSubmatch(ask.Body)[1]
	confirmed := url.Values{"csrf": {csrf}, "decision": {"approve"}, "confirmed": {"yes"}, "key": {key}}
	for range 2 { // a double click
		if p := b.post("/committee/referrals/"+id+"/review", confirmed); p.Status != http.StatusSeeOther || p.Location != "/committee?done=approve" {
			t.Fatalf("approve: %d %q\n%s", p.Status, p.Location, p.Body)
		}
	}
	s.WaitStatus(id, "waitlisted", 10*time.Second)
	confirmed.Set("key", "another")
	b.post("/committee/referrals/"+id+"/review", confirmed).want(t, http.StatusConflict, "already been reviewed: it is now")
	b.get("/committee/referrals/"+id+"/approve").want(t, http.StatusConflict, "already been reviewed: it is now waitlisted")
	if strings.Count(s.Do("GET", "/v1/referrals/"+id, stacktest.AdminToken, nil).Raw, `"approved"`) > 1 {
		t.Error("approved twice")
	}
}

var olderLink = regexp.MustCompile(`href="(/committee/closed\?[^"]*after=[^"]+)">Older closed referrals`)

// The committee lists closed referrals newest first, a page at a time, of
// one status or all, and finds any referral by its reference.
func TestClosedReferralsAndFindingOne(t *testing.T) {
	pages.SetClosedPageSize(t, 2)
	s := stacktest.Start(t, workflows.Timings{ReviewReminder: time.Hour, OfferTTL: time.Hour, WaitlistRecheck: time.Hour})
	chair := s.Do("POST", "/v1/committee-members", stacktest.AdminToken, map[string]any{"name": "Chair", "email": "chair@example.org", "role": "chair"})
	refer := func(email, employer, want string) string {
		r := s.MustRefer(map[string]any{"name": "N", "email": email, "programme": "clinical", "employer": employer,
			"training_start": s.TrainingMonth(), "concerns": "c", "consent": true})
		s.WaitStatus(r.Str("id"), want, 10*time.Second)
		return r.Str("id")
	}
	// Oldest first: three not eligible, one declined, one still open.
	inel := []string{refer("a@nhs.example", "ZZZ9", "ineligible"), refer("b@nhs.example", "ZZZ9", "ineligible"), refer("c@nhs.example", "ZZZ9", "ineligible")}
	declined := refer("d@nhs.example", "RXT", "awaiting_review")
	if r := s.Do("POST", "/v1/referrals/"+declined+"/review", chair.Str("token"), map[string]any{"decision": "decline", "reason_code": "duplicate", "reason": "A second referral."}); r.Status != 200 {
		t.Fatalf("decline: %d %s", r.Status, r.Raw)
	}
	s.WaitStatus(declined, "declined", 10*time.Second)
	open := refer("e@nhs.example", "RXT", "awaiting_review")

	b := signedInAs(t, s, referral.Principal{Role: referral.RoleCommittee, Subject: chair.Str("id")})
	has := func(p page, in []string, out []string) {
		t.Helper()
		for _, id := range in {
			if !strings.Contains(p.Body, `<span class="reference">`+id) {
				t.Errorf("the page lacks %s:\n%s", id, p.Body)
			}
		}
		for _, id := range out {
			if strings.Contains(p.Body, id) {
				t.Errorf("the page lists %s:\n%s", id, p.Body)
			}
		}
	}
	first := b.get("/committee/closed")
	first.want(t, 200, "Closed referrals", `<td data-label="Employer">`+rxtName+`</td>`, `<td data-label="Employer">ZZZ9</td>`,
		`View<span class="visually-hidden"> referral `+declined+`</span>`)
	has(first, []string{declined, inel[2]}, []string{inel[1], inel[0], open})
	if strings.Index(first.Body, declined) > strings.Index(first.Body, inel[2]) {
		t.Error("closed referrals are not newest first")
	}
	m := olderLink.FindStringSubmatch(first.Body)
	if m == nil {
		t.Fatalf("no link to older closed referrals:\n%s", first.Body)
	}
	second := b.get(html.UnescapeString(m[1]))
	second.want(t, 200, `href="/committee/closed">Newest closed referrals`)
	has(second, []string{inel[1], inel[0]}, []string{declined, inel[2], open})
	if olderLink.MatchString(second.Body) {
		// Exactly two left: a third page would be empty.
		third := b.get(html.UnescapeString(olderLink.FindStringSubmatch(second.Body)[1]))
		third.want(t, 200, "No closed referrals")
	}

	onlyDeclined := b.get("/committee/closed?status=declined")
	onlyDeclined.want(t, 200, `<option value="declined" selected>`)
	has(onlyDeclined, []string{declined}, inel)
	b.get("/committee/closed?status=awaiting_review").want(t, 400, "not one this site made")
	b.get("/committee/closed?after=not-a-cursor").want(t, 400, "not one this site made")

	for _, tc := range []struct {
		typed    string
		status   int
		location string
		says     string
	}{
		{" " + strings.ToUpper(declined) + " ", 303, "/committee/referrals/" + declined, ""},
		{open, 303, "/committee/referrals/" + open, ""},
		{"00000000-0000-4000-8000-000000000000", 404, "", "No referral has the reference 00000000-0000-4000-8000-000000000000."},
		{"RXT", 404, "", "No referral has the reference RXT."},
		{"", 422, "", "Enter the reference of the referral you are looking for"},
	} {
		p := b.get("/committee/find?reference=" + url.QueryEscape(tc.typed))
		if p.Status != tc.status || p.Location != tc.location || !strings.Contains(p.Body, tc.says) {
			t.Errorf("find %q: %d %q, want %d %q saying %q\n%s", tc.typed, p.Status, p.Location, tc.status, tc.location, tc.says, p.Body)
		}
		if tc.status != 303 && !strings.Contains(p.Body, `href="#reference"`) {
			t.Errorf("find %q: the error summary does not link to the search box", tc.typed)
		}
	}
}

// A therapist sees their past clients by reference, programme and dates,
// and nothing else about them; the API lists them with ?state=ended.
func TestTherapistSeesPastClients(t *testing.T) {
	s := stacktest.Start(t, workflows.Timings{ReviewReminder: time.Hour, OfferTTL: time.Hour, WaitlistRecheck: time.Hour})
	admin := stacktest.AdminToken
	chair := s.Do("POST", "/v1/committee-members", admin, map[string]any{"name": "Chair", "email": "chair@example.org", "role": "chair"})
	th := s.Do("POST", "/v1/therapists", admin, map[string]any{"name": "Dr One", "email": "one@example.org", "hcpc_number": "PYL1", "capacity": 1})
	r := s.MustRefer(map[string]any{"name": "Pat Secretname", "email": "pat@nhs.example", "programme": "clinical", "employer": "RXT",
		"training_start": s.TrainingMonth(), "concerns": "secret-concern", "consent": true})
	id := r.Str("id")
	s.WaitStatus(id, "awaiting_review", 10*time.Second)
	approved := s.Do("POST", "/v1/referrals/"+id+"/review", chair.Str("token"), map[string]any{"decision": "approve"})
	if approved.Str("status") != "offered" {
		t.Fatalf("approve: %d %s", approved.Status, approved.Raw)
	}
	if a := s.Do("POST", "/v1/offers/"+approved.Str("offer_id")+"/accept", th.Str("token"), nil); a.Status != 200 {
		t.Fatalf("accept: %d %s", a.Status, a.Raw)
	}
	s.WaitStatus(id, "matched", 10*time.Second)

	b := signedInAs(t, s, referral.Principal{Role: referral.RoleTherapist, Subject: th.Str("id")})
	b.get("/therapist").want(t, 200, "Your current clients (1)", "Your past clients (0)", "You have no past clients")
	if e := s.Do("POST", "/v1/referrals/"+id+"/end", th.Str("token"), map[string]any{"reason": "completed"}); e.Status != 200 {
		t.Fatalf("end: %d %s", e.Status, e.Raw)
	}
	s.WaitStatus(id, "ended", 10*time.Second)

	today := time.Now().In(referral.London).Format("2 January 2006")
	p := b.get("/therapist")
	p.want(t, 200, "Your current clients (0)", "Your past clients (1)", `<span class="reference">`+id+`</span>`,
		`<td data-label="Programme">`+referral.ProgrammeName("clinical")+`</td>`,
		`<td data-label="Started">`+today+`</td>`, `<td data-label="Ended">`+today+`</td>`)
	for _, secret := range []string{"Pat Secretname", "pat@nhs.example", "secret-concern"} {
		if strings.Contains(p.Body, secret) {
			t.Errorf("the therapist's page shows a past client's %q", secret)
		}
	}

	list := s.Do("GET", "/v1/offers?state=ended", th.Str("token"), nil)
	offers, _ := list.Body["offers"].([]any)
	if list.Status != 200 || len(offers) != 1 {
		t.Fatalf("GET /v1/offers?state=ended: %d %s, want the one past client", list.Status, list.Raw)
	}
	o := offers[0].(map[string]any)
	if o["referral_id"] != id || o["state"] != "ended" || o["started_at"] == nil || o["ended_at"] == nil || o["preferences"] != nil {
		t.Errorf("past client = %v, want the referral, ended, with its dates and no preferences", o)
	}
	if bad := s.Do("GET", "/v1/offers?state=gone", th.Str("token"), nil); bad.Status != 400 || !strings.Contains(bad.Raw, `ended`) {
		t.Errorf("GET /v1/offers?state=gone: %d %s, want 400 naming the states", bad.Status, bad.Raw)
	}
}

// The waiting list is read a page at a time, on the committee's page and
// through the API, each page after the last one's place in the queue: a
// referral leaving from ahead moves the rest up, and none is skipped.
func TestWaitingListPages(t *testing.T) {
	pages.SetWaitlistPageSize(t, 2)
	s := stacktest.Start(t, workflows.Timings{ReviewReminder: time.Hour, OfferTTL: time.Hour, WaitlistRecheck: time.Hour})
	chair := s.Do("POST", "/v1/committee-members", stacktest.AdminToken, map[string]any{"name": "Chair", "email": "chair@example.org", "role": "chair"})
	var ids, tokens []string
	for i := range 3 {
		r := s.MustRefer(map[string]any{"name": "N", "email": "waiting" + strconv.Itoa(i) + "@nhs.example", "programme": "clinical", "employer": "RXT",
			"training_start": s.TrainingMonth(), "concerns": "c", "consent": true})
		id := r.Str("id")
		s.WaitStatus(id, "awaiting_review", 10*time.Second)
		// No therapist is on the register: each waits.
		if a := s.Do("POST", "/v1/referrals/"+id+"/review", chair.Str("token"), map[string]any{"decision": "approve"}); a.Str("status") != "waitlisted" {
			t.Fatalf("approve %s: %s", id, a.Raw)
		}
		ids, tokens = append(ids, id), append(tokens, r.Str("token"))
	}
	b := signedInAs(t, s, referral.Principal{Role: referral.RoleCommittee, Subject: chair.Str("id")})
	first := b.get("/committee")
	first.want(t, 200, "Positions 1 to 2", ids[0], ids[1], `Next page<span class="visually-hidden"> of the waiting list</span>`)
	if strings.Contains(first.Body, ids[2]) {
		t.Error("the first page of two shows the third waiting")
	}
	next := regexp.MustCompile(`href="(/committee\?waiting_after=\d+)#waitlist-title"`).FindStringSubmatch(first.Body)
	if next == nil {
		t.Fatal("no link to the next page")
	}
	b.get(next[1]).want(t, 200, "Positions 3 to 3", ids[2], "Back to the head of the waiting list")

	page := s.Do("GET", "/v1/waitlist?limit=2", chair.Str("token"), nil)
	cursor := page.Str("next_cursor")
	if list, _ := page.Body["waitlist"].([]any); len(list) != 2 || cursor == "" {
		t.Fatalf("GET /v1/waitlist?limit=2: %s", page.Raw)
	}
	// The head of the queue leaves before the next page is read: the
	// next page still starts with the third, now at position 2.
	if w := s.Do("POST", "/v1/referrals/"+ids[0]+"/withdraw", tokens[0], map[string]any{}); w.Status >= 300 {
		t.Fatalf("withdraw: %d %s", w.Status, w.Raw)
	}
	s.WaitStatus(ids[0], "withdrawn", 10*time.Second)
	rest := s.Do("GET", "/v1/waitlist?limit=2&cursor="+cursor, chair.Str("token"), nil)
	list, _ := rest.Body["waitlist"].([]any)
	if len(list) != 1 || rest.Str("next_cursor") != "" {
		t.Fatalf("the next page: %s", rest.Raw)
	}
	if w := list[0].(map[string]any); w["referral_id"] != ids[2] || w["position"] != float64(2) {
		t.Errorf("the next page holds %v, want %s at position 2", w, ids[2])
	}
	for _, bad := range []struct{ query, field string }{{"limit=0", "limit"}, {"limit=501", "limit"}, {"cursor=bm9wZQ", "cursor"}, {"cursor=cXVldWV8eA", "cursor"}} {
		if r := s.Do("GET", "/v1/waitlist?"+bad.query, chair.Str("token"), nil); r.Status != 400 || !strings.Contains(r.Raw, `"`+bad.field+`"`) {
			t.Errorf("GET /v1/waitlist?%s: %d %s, want 400 naming %s", bad.query, r.Status, r.Raw, bad.field)
		}
	}
}
