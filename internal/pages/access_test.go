//go:build !fuzzing

package pages_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wmtna/referrals/internal/pipeline"
	"github.com/wmtna/referrals/internal/referral"
	"github.com/wmtna/referrals/internal/stacktest"
	"github.com/wmtna/referrals/workflows"
)

// TestPageAccessMatrix walks every signed-in page × every kind of caller,
// as the API's access matrix walks every route: a page is for one role
// (its area), which the access table must allow the action it asks for;
// everyone else is sent to sign in (a GET) or refused (a POST), and a
// therapist answering someone else's offer gets 404. Forms carry content
// the use case refuses, so a caller who gets through changes nothing.
func TestPageAccessMatrix(t *testing.T) {
	s := stacktest.Start(t, workflows.Timings{ReviewReminder: time.Hour, OfferTTL: time.Hour, WaitlistRecheck: time.Hour})
	admin := stacktest.AdminToken
	chair := s.Do("POST", "/v1/committee-members", admin, map[string]any{"name": "Chair", "email": "chair@example.org", "role": "chair"})
	t1 := s.Do("POST", "/v1/therapists", admin, map[string]any{"name": "Dr One", "email": "one@example.org", "hcpc_number": "PYL1", "capacity": 1})
	t2 := s.Do("POST", "/v1/therapists", admin, map[string]any{"name": "Dr Two", "email": "two@example.org", "hcpc_number": "PYL2", "capacity": 0})
	a := s.MustRefer(map[string]any{"name": "N", "email": "a@nhs.example", "programme": "clinical", "employer": "RXT", "training_start": s.TrainingMonth(), "concerns": "c", "consent": true})
	s.WaitStatus(a.Str("id"), "awaiting_review", 10*time.Second)
	if r := s.Do("POST", "/v1/referrals/"+a.Str("id")+"/review", chair.Str("token"), map[string]any{"decision": "approve"}); r.Str("status") != "offered" {
		t.Fatalf("approve A: %d %s", r.Status, r.Raw)
	}
	offer := s.Do("GET", "/v1/offers", t1.Str("token"), nil).Body["offers"].([]any)[0].(map[string]any)["id"].(string)

	// A browser signed in as p, as a sign-in link would leave it.
	signedIn := func(p referral.Principal) *browser {
		if p.Role == "" {
			return newBrowser(t, s.API.URL)
		}
		return signedInAs(t, s, p)
	}
	type caller struct {
		name string
		p    referral.Principal
		// mine: the offer named in the paths was made to this caller
		mine bool
	}
	callers := []caller{
		{"anonymous", pipeline.Anonymous, false},
		{"trainee", referral.Principal{Role: referral.RoleTrainee, Subject: a.Str("id")}, false},
		{"committee", referral.Principal{Role: referral.RoleCommittee, Subject: chair.Str("id")}, false},
		{"therapist (offered)", referral.Principal{Role: referral.RoleTherapist, Subject: t1.Str("id")}, true},
		{"therapist (not offered)", referral.Principal{Role: referral.RoleTherapist, Subject: t2.Str("id")}, false},
	}
	tooLong := strings.Repeat("x", 2001)
	// never is no therapist: a committee member's post to it changes nothing.
	never := "00000000-0000-4000-8000-000000000000"
	routes := []struct {
		method, path string
		action       pipeline.Action
		area         referral.Role
		form         url.Values
		ok           int  // what the area's role gets
		offered      bool // a therapist who was not offered gets 404
	}{
		{"GET", "/my-referral", pipeline.ActRead, referral.RoleTrainee, nil, 200, false},
		{"GET", "/my-referral/withdraw", pipeline.ActWithdraw, referral.RoleTrainee, nil, 200, false},
		{"POST", "/my-referral/withdraw", pipeline.ActWithdraw, referral.RoleTrainee, url.Values{"reason": {tooLong}}, 422, false},
		{"GET", "/my-referral/check-in", pipeline.ActCheckIn, referral.RoleTrainee, nil, 200, false},
		{"POST", "/my-referral/check-in", pipeline.ActCheckIn, referral.RoleTrainee, url.Values{"still_waiting": {"maybe"}}, 422, false},
		// A is offered, not waiting: its page says where it stands.
		{"GET", "/my-referral/pause", pipeline.ActPause, referral.RoleTrainee, nil, 303, false},
		{"POST", "/my-referral/pause", pipeline.ActPause, referral.RoleTrainee, url.Values{"until-day": {"31"}, "until-month": {"2"}, "until-year": {"2027"}}, 422, false},
		{"POST", "/my-referral/resume", pipeline.ActResume, referral.RoleTrainee, nil, 303, false},
		{"POST", "/my-referral/answer", pipeline.ActAnswer, referral.RoleTrainee, url.Values{"answer": {" "}}, 422, false},
		{"POST", "/committee/referrals/" + a.Str("id") + "/question", pipeline.ActAsk, referral.RoleCommittee, url.Values{"question": {tooLong}}, 422, false},
		{"GET", "/committee", pipeline.ActList, referral.RoleCommittee, nil, 200, false},
		{"GET", "/committee/referrals/" + a.Str("id"), pipeline.ActRead, referral.RoleCommittee, nil, 200, false},
		{"POST", "/committee/referrals/" + a.Str("id") + "/review", pipeline.ActReview, referral.RoleCommittee, url.Values{"decision": {"maybe"}}, 422, false},
		// A is already approved: the question is not asked again.
		{"GET", "/committee/referrals/" + a.Str("id") + "/approve", pipeline.ActReview, referral.RoleCommittee, nil, 409, false},
		{"GET", "/committee/closed", pipeline.ActList, referral.RoleCommittee, nil, 200, false},
		{"GET", "/committee/find?reference=" + never, pipeline.ActRead, referral.RoleCommittee, nil, 404, false},
		{"GET", "/committee/areas", pipeline.ActSaveArea, referral.RoleCommittee, nil, 200, false}, // the list is public; the page is for keeping it
		{"POST", "/committee/areas", pipeline.ActSaveArea, referral.RoleCommittee, url.Values{"name": {""}}, 422, false},
		{"GET", "/committee/members", pipeline.ActListMembers, referral.RoleCommittee, nil, 200, false},
		{"POST", "/committee/members", pipeline.ActAddCommitteeMember, referral.RoleCommittee, url.Values{"role": {"pope"}}, 422, false},
		{"GET", "/committee/members/" + chair.Str("id") + "/office", pipeline.ActChangeMember, referral.RoleCommittee, nil, 200, false},
		{"POST", "/committee/members/" + chair.Str("id") + "/office", pipeline.ActChangeMember, referral.RoleCommittee, url.Values{"role": {"pope"}}, 422, false},
		{"GET", "/committee/members/" + chair.Str("id") + "/remove", pipeline.ActRemoveMember, referral.RoleCommittee, nil, 200, false},
		// The only Chair: refused, so nothing changes.
		{"POST", "/committee/members/" + chair.Str("id") + "/remove", pipeline.ActRemoveMember, referral.RoleCommittee, nil, 409, false},
		{"GET", "/committee/employers", pipeline.ActListOrganisations, referral.RoleCommittee, nil, 200, false},
		{"POST", "/committee/employers", pipeline.ActSaveOrganisation, referral.RoleCommittee, url.Values{"code": {"x"}}, 422, false},
		{"POST", "/committee/employers/RXT/listed", pipeline.ActSaveOrganisation, referral.RoleCommittee, url.Values{"listed": {"maybe"}}, 422, false},
		{"GET", "/therapist", pipeline.ActListOffers, referral.RoleTherapist, nil, 200, false},
		{"POST", "/therapist/offers/" + offer + "/decline", pipeline.ActDecline, referral.RoleTherapist, url.Values{"reason_code": {"none"}}, 422, true},
		{"POST", "/therapist/referrals/" + a.Str("id") + "/end", pipeline.ActEnd, referral.RoleTherapist, url.Values{"reason": {tooLong}}, 422, true},
		{"GET", "/committee/feedback", pipeline.ActFeedbackComments, referral.RoleCommittee, nil, 200, false},
		{"GET", "/committee/statistics", pipeline.ActReport, referral.RoleCommittee, nil, 200, false},
		{"GET", "/committee/statistics/2026", pipeline.ActReport, referral.RoleCommittee, nil, 200, false},
		{"GET", "/committee/register", pipeline.ActListTherapists, referral.RoleCommittee, nil, 200, false},
		{"GET", "/committee/register/new", pipeline.ActAddTherapist, referral.RoleCommittee, nil, 200, false},
		{"POST", "/committee/register/new", pipeline.ActAddTherapist, referral.RoleCommittee, url.Values{"name": {"Dr X"}, "email": {"x@example.org"}, "hcpc_number": {"PYL"}, "capacity": {"1"}, "online": {"yes"}}, 422, false},
		{"GET", "/committee/register/history", pipeline.ActRegisterHistory, referral.RoleCommittee, nil, 200, false},
		{"GET", "/committee/register/" + t1.Str("id"), pipeline.ActReadTherapist, referral.RoleCommittee, nil, 200, false},
		{"GET", "/committee/register/" + t1.Str("id") + "/edit", pipeline.ActChangeTherapist, referral.RoleCommittee, nil, 200, false},
		{"POST", "/committee/register/" + t1.Str("id") + "/edit", pipeline.ActChangeTherapist, referral.RoleCommittee, url.Values{"name": {"Dr One"}, "email": {"one@example.org"}, "capacity": {"99"}, "online": {"yes"}}, 422, false},
		{"GET", "/committee/register/" + t1.Str("id") + "/availability", pipeline.ActSetAvailability, referral.RoleCommittee, nil, 200, false},
		{"POST", "/committee/register/" + t1.Str("id") + "/availability", pipeline.ActSetAvailability, referral.RoleCommittee, url.Values{"capacity": {"1"}, "online": {"yes"}, "away": {"maybe"}}, 422, false},
		{"POST", "/committee/register/" + never + "/back", pipeline.ActSetAvailability, referral.RoleCommittee, nil, 404, false},
		{"GET", "/committee/register/" + t1.Str("id") + "/retire", pipeline.ActRetireTherapist, referral.RoleCommittee, nil, 200, false},
		{"POST", "/committee/register/" + never + "/retire", pipeline.ActRetireTherapist, referral.RoleCommittee, nil, 404, false},
		{"GET", "/therapist/availability", pipeline.ActSetAvailability, referral.RoleTherapist, nil, 200, false},
		{"POST", "/therapist/availability", pipeline.ActSetAvailability, referral.RoleTherapist, url.Values{"capacity": {"1"}, "online": {"yes"}, "away": {"maybe"}}, 422, false},
	}
	for _, rt := range routes {
		if !slices.Contains(pipeline.Roles(rt.action), rt.area) {
			t.Errorf("%s %s is a page for %s, but the access table does not let %s %s", rt.method, rt.path, rt.area, rt.area, rt.action)
		}
		for _, c := range callers {
			t.Run(rt.method+" "+rt.path+"/"+c.name, func(t *testing.T) {
				b := signedIn(c.p)
				var want int
				switch {
				case c.p.Role == "" && rt.method == "GET":
					want = http.StatusSeeOther // to the sign-in page
				case c.p.Role == "":
					want = http.StatusUnauthorized
				case c.p.Role != rt.area:
					want = http.StatusForbidden
				case rt.offered && !c.mine:
					want = http.StatusNotFound
				default:
					want = rt.ok
				}
				var got page
				if rt.method == "GET" {
					got = b.get(rt.path)
				} else {
					form := url.Values{}
					for k, v := range rt.form {
						form[k] = v
					}
					if c.p.Role == rt.area {
						form.Set("csrf", b.get(pipeline.Home(c.p)).csrf(t))
					}
					got = b.post(rt.path, form)
				}
				if got.Status != want {
					t.Errorf("%s %s as %s: %d, want %d\n%s", rt.method, rt.path, c.name, got.Status, want, got.Body)
				}
			})
		}
	}
	// Nothing changed: A is still offered to T1, and the register is as it was.
	if r := s.Do("GET", "/v1/referrals/"+a.Str("id"), admin, nil); r.Str("status") != "offered" {
		t.Errorf("A is %s after the matrix, want offered", r.Str("status"))
	}
	for _, th := range []stacktest.Response{t1, t2} {
		if r := s.Do("GET", "/v1/therapists/"+th.Str("id"), admin, nil); r.Str("status") != "active" || r.Body["capacity"] != th.Body["capacity"] {
			t.Errorf("therapist after the matrix: %s, want active with capacity %v", r.Raw, th.Body["capacity"])
		}
	}
	if r := s.Do("GET", "/v1/therapists", admin, nil); len(r.Body["therapists"].([]any)) != 2 {
		t.Errorf("the register after the matrix: %s, want the two therapists", r.Raw)
	}
}
