//go:build !fuzzing

// Left out of fuzzing builds (-tags fuzzing), which would otherwise
// instrument the whole Temporal server this test starts.

package httpapi_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wmtna/referrals/internal/httpapi"
	"github.com/wmtna/referrals/internal/pgtest"
	"github.com/wmtna/referrals/internal/stacktest"
	"github.com/wmtna/referrals/workflows"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// ownership says whose resource a route's path names, so the matrix knows
// which callers of an allowed role must still get 404.
type ownership int

const (
	anyones     ownership = iota // no per-resource rule beyond the role
	traineeOwns                  // the referral of the trainee's token
	offeredTo                    // a referral or offer offered to the therapist
	therapistIs                  // the therapist's own entry in the register
	missing     ownership = 16   // a path naming nothing: callers let through get 404
)

// matrix has an entry for every route of the access table: the concrete
// path to call (about referral A, offered to therapist T1) and its
// ownership rule. A route added to the table without an entry here fails.
func matrix(a, offer, t1 string) map[string]struct {
	path  string
	owner ownership
} {
	return map[string]struct {
		path  string
		owner ownership
	}{
		"POST /v1/referrals":                     {"/v1/referrals", anyones},
		"POST /v1/confirmations":                 {"/v1/confirmations", anyones},
		"GET /v1/referrals":                      {"/v1/referrals", anyones},
		"GET /v1/referrals/{id}":                 {"/v1/referrals/" + a, traineeOwns | offeredTo},
		"POST /v1/referrals/{id}/review":         {"/v1/referrals/" + a + "/review", anyones},
		"POST /v1/referrals/{id}/withdraw":       {"/v1/referrals/" + a + "/withdraw", traineeOwns},
		"POST /v1/referrals/{id}/check-in":       {"/v1/referrals/" + a + "/check-in", traineeOwns},
		"POST /v1/referrals/{id}/question":       {"/v1/referrals/" + a + "/question", anyones},
		"POST /v1/referrals/{id}/answer":         {"/v1/referrals/" + a + "/answer", traineeOwns},
		"POST /v1/referrals/{id}/pause":          {"/v1/referrals/" + a + "/pause", traineeOwns},
		"POST /v1/referrals/{id}/resume":         {"/v1/referrals/" + a + "/resume", traineeOwns},
		"POST /v1/referrals/{id}/end":            {"/v1/referrals/" + a + "/end", offeredTo},
		"POST /v1/referrals/{id}/erase":          {"/v1/referrals/" + a + "/erase", anyones},
		"GET /v1/offers":                         {"/v1/offers", anyones},
		"POST /v1/offers/{id}/accept":            {"/v1/offers/" + offer + "/accept", offeredTo},
		"POST /v1/offers/{id}/decline":           {"/v1/offers/" + offer + "/decline", offeredTo},
		"GET /v1/therapists":                     {"/v1/therapists", anyones},
		"GET /v1/waitlist":                       {"/v1/waitlist", anyones},
		"POST /v1/therapists":                    {"/v1/therapists", anyones},
		"PATCH /v1/therapists/{id}":              {"/v1/therapists/" + t1, anyones},
		"GET /v1/therapists/{id}":                {"/v1/therapists/" + t1, therapistIs},
		"PATCH /v1/therapists/{id}/availability": {"/v1/therapists/" + t1 + "/availability", therapistIs},
		"POST /v1/therapists/{id}/retire":        {"/v1/therapists/" + t1 + "/retire", anyones},
		"GET /v1/register/history":               {"/v1/register/history", anyones},
		"GET /v1/areas":                          {"/v1/areas", anyones},
		"PUT /v1/areas/{code}":                   {"/v1/areas/birmingham", anyones},
		"GET /v1/committee-members":              {"/v1/committee-members", anyones},
		"POST /v1/committee-members":             {"/v1/committee-members", anyones},
		"PATCH /v1/committee-members/{id}":       {"/v1/committee-members/00000000-0000-4000-8000-000000000000", anyones},
		"DELETE /v1/committee-members/{id}":      {"/v1/committee-members/00000000-0000-4000-8000-000000000000", missing},
		"GET /v1/organisations":                  {"/v1/organisations", anyones},
		"POST /v1/organisations":                 {"/v1/organisations", anyones},
		"POST /v1/tokens":                        {"/v1/tokens", anyones},
		"DELETE /v1/tokens/{role}/{subject}":     {"/v1/tokens/therapist/00000000-0000-4000-8000-000000000000", anyones},
		"GET /v1/reports/summary":                {"/v1/reports/summary", anyones},
	}
}

// TestAccessMatrix walks every route × every kind of caller × own or
// someone else's resource, against the real service. Writes carry a
// malformed body, so a caller who gets through is stopped by validation (400)
// and nothing changes between cells; reads answer 200.
func TestAccessMatrix(t *testing.T) {
	s := stacktest.Start(t, workflows.Timings{ReviewReminder: time.Hour, OfferTTL: time.Hour, WaitlistRecheck: time.Hour})
	admin := stacktest.AdminToken
	chair := s.Do("POST", "/v1/committee-members", admin, map[string]any{"name": "Chair", "email": "chair@example.org", "role": "chair"}).Str("token")
	t1 := s.Do("POST", "/v1/therapists", admin, map[string]any{"name": "Dr One", "email": "one@example.org", "hcpc_number": "PYL1", "capacity": 1})
	t2 := s.Do("POST", "/v1/therapists", admin, map[string]any{"name": "Dr Two", "email": "two@example.org", "hcpc_number": "PYL2", "capacity": 0})
	body := func(email string) map[string]any {
		return map[string]any{"name": "N", "email": email, "programme": "clinical", "employer": "RXT", "training_start": s.TrainingMonth(), "concerns": "c", "consent": true}
	}
	a := s.MustRefer(body("a@nhs.example"))
	b := s.MustRefer(body("b@nhs.example"))
	s.WaitStatus(a.Str("id"), "awaiting_review", 10*time.Second)
	if r := s.Do("POST", "/v1/referrals/"+a.Str("id")+"/review", chair, map[string]any{"decision": "approve"}); r.Str("status") != "offered" {
		t.Fatalf("approve A: %d %s", r.Status, r.Raw)
	}
	offer := s.Do("GET", "/v1/offers", t1.Str("token"), nil).Body["offers"].([]any)[0].(map[string]any)["id"].(string)

	type caller struct {
		name, token string
		role        string // "" for anonymous or a bad token
		owns        ownership
	}
	callers := []caller{
		{"anonymous", "", "", 0},
		{"unknown token", "not-a-real-token-at-all", "", 0},
		{"trainee (own referral)", a.Str("token"), "trainee", traineeOwns},
		{"trainee (someone else's)", b.Str("token"), "trainee", 0},
		{"committee", chair, "committee", 0},
		{"therapist (offered)", t1.Str("token"), "therapist", offeredTo | therapistIs},
		{"therapist (not offered)", t2.Str("token"), "therapist", 0},
		{"operator", admin, "operator", 0},
	}
	cells := matrix(a.Str("id"), offer, t1.Str("id"))
	for _, rt := range httpapi.Routes() {
		key := rt.Method + " " + rt.Pattern
		cell, ok := cells[key]
		if !ok {
			t.Errorf("route %s has no entry in the access matrix test", key)
			continue
		}
		delete(cells, key)
		for _, c := range callers {
			t.Run(key+"/"+c.name, func(t *testing.T) {
				var want int
				allowed := rt.Roles == nil || contains(rt.Roles, c.role)
				switch {
				case c.token != "" && c.role == "":
					want = http.StatusUnauthorized // a wrong token is refused even on public routes
				case rt.Roles == nil:
					want = success(rt.Method)
				case c.token == "":
					want = http.StatusUnauthorized
				case !allowed:
					want = http.StatusForbidden
				case cell.owner&ownerOf(c.role) != 0 && c.owns&cell.owner == 0:
					want = http.StatusNotFound // someone else's: do not reveal it exists
				case cell.owner == missing:
					want = http.StatusNotFound // removing no one changes nothing between cells
				default:
					want = success(rt.Method)
				}
				var payload any
				if rt.Method != "GET" && rt.Method != "DELETE" {
					payload = "{"
				}
				r := s.Do(rt.Method, cell.path, c.token, payload)
				if r.Status != want {
					t.Errorf("%s %s as %s: %d %s, want %d", rt.Method, cell.path, c.name, r.Status, r.Raw, want)
				}
				for _, secret := range []string{chair, t1.Str("token"), t2.Str("token"), a.Str("token"), admin} {
					if strings.Contains(r.Raw, secret) {
						t.Errorf("response contains a token")
					}
				}
			})
		}
	}
	for key := range cells {
		t.Errorf("matrix entry %s names no route", key)
	}
	// Nothing changed: A is still offered to T1.
	if r := s.Do("GET", "/v1/referrals/"+a.Str("id"), admin, nil); r.Str("status") != "offered" {
		t.Errorf("A is %s after the matrix, want offered", r.Str("status"))
	}
}

func ownerOf(role string) ownership {
	switch role {
	case "trainee":
		return traineeOwns
	case "therapist":
		return offeredTo | therapistIs
	}
	return 0
}

func success(method string) int {
	switch method {
	case "GET":
		return http.StatusOK
	case "DELETE":
		return http.StatusNoContent
	}
	return http.StatusBadRequest // the malformed body, past every access check
}

func contains[T ~string](list []T, s string) bool {
	for _, v := range list {
		if string(v) == s {
			return true
		}
	}
	return false
}
