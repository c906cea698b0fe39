package wiring_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wmtna/referrals/internal/referral"
	"github.com/wmtna/referrals/internal/stacktest"
)

// get asks for a page with a session cookie, not following redirects.
func getWithSession(t *testing.T, s *stacktest.Stack, path, session string) *http.Response {
	t.Helper()
	req, err := http.NewRequest("GET", s.API.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.AddCookie(&http.Cookie{Name: "wmtna_session", Value: session})
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// Removing a committee member works at once and for good, through the
// whole stack: the Chair removes them over the API; their bearer token and
// their browser session stop working on the next request; and asking for
// a sign-in link with their address sends nothing, while the same sweep
// sends the Chair's.
func TestRemovedCommitteeMemberIsLockedOutAtOnce(t *testing.T) {
	s := stacktest.Start(t, fast)
	chairToken := committeeMember(t, s) // chair@example.org
	// The Chair adds a member; a Chair gets no token of theirs.
	added := s.Do("POST", "/v1/committee-members", chairToken, map[string]any{"name": "Sam Secretary", "email": "sam@example.org", "role": "secretary"})
	if added.Status != 201 || added.Str("token") != "" {
		t.Fatalf("the Chair adds a member: %d %s; want 201 without a token", added.Status, added.Raw)
	}
	sam := added.Str("id")
	bearer := s.Do("POST", "/v1/tokens", admin, map[string]any{"role": "committee", "subject": sam}).Str("token")
	expires := time.Now().Add(time.Hour)
	session, err := s.DB.IssueToken(context.Background(), referral.RoleCommittee, sam, &expires)
	if err != nil {
		t.Fatal(err)
	}
	if r := s.Do("GET", "/v1/committee-members", bearer, nil); r.Status != 200 {
		t.Fatalf("the member lists the committee: %d %s", r.Status, r.Raw)
	}
	if r := getWithSession(t, s, "/committee", session); r.StatusCode != 200 {
		t.Fatalf("the member's session, before: %d", r.StatusCode)
	}
	// A member who is not the Chair may not remove anyone.
	if r := s.Do("DELETE", "/v1/committee-members/"+sam, bearer, nil); r.Status != 403 || r.ErrorField("code") != "not_chair" {
		t.Errorf("the secretary removes themselves: %d %s, want 403 not_chair", r.Status, r.Raw)
	}

	removed := s.Do("DELETE", "/v1/committee-members/"+sam, chairToken, nil)
	if removed.Status != 200 || removed.Str("removed_at") == "" {
		t.Fatalf("remove: %d %s", removed.Status, removed.Raw)
	}
	if r := s.Do("GET", "/v1/committee-members", bearer, nil); r.Status != 401 {
		t.Errorf("the removed member's bearer token: %d, want 401", r.Status)
	}
	if r := getWithSession(t, s, "/committee", session); r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/sign-in?next=%2Fcommittee" {
		t.Errorf("the removed member's session: %d %s, want sent to sign in", r.StatusCode, r.Header.Get("Location"))
	}
	if r := s.Do("POST", "/v1/tokens", admin, map[string]any{"role": "committee", "subject": sam}); r.Status != 404 {
		t.Errorf("a new token for the removed member: %d %s, want 404", r.Status, r.Raw)
	}

	for _, email := range []string{"sam@example.org", "chair@example.org"} {
		if r := postForm(t, s, "/sign-in", url.Values{"email": {email}}); r != http.StatusOK {
			t.Fatalf("ask for a link for %s: %d", email, r)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := s.LastEmail(ctx, "chair@example.org", "sign-in link"); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, s.Config.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	for {
		var waiting int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM sign_in_requests`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting == 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	var emails, links int
	if err := conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM outbox WHERE recipient = 'sam@example.org'),
		(SELECT count(*) FROM sign_in_links WHERE subject = $1)`, sam).Scan(&emails, &links); err != nil {
		t.Fatal(err)
	}
	if emails != 0 || links != 0 {
		t.Errorf("asking for the removed member's link wrote %d emails and %d links, want none", emails, links)
	}
	for _, m := range s.Mailbox.Messages() {
		if m.IsTo("sam@example.org") {
			t.Errorf("the removed member was emailed: %q", m.Subject)
		}
	}

	// They are kept, as removed, in the list and the history.
	list := s.Do("GET", "/v1/committee-members", chairToken, nil)
	var kept bool
	for _, m := range list.Body["committee_members"].([]any) {
		if m := m.(map[string]any); m["id"] == sam {
			kept = m["removed_at"] != nil
		}
	}
	if !kept {
		t.Errorf("the removed member is not listed as removed: %s", list.Raw)
	}
	h := s.Do("GET", "/v1/register/history?entity=committee_member&id="+sam, admin, nil)
	if changes, _ := h.Body["changes"].([]any); len(changes) != 2 || changes[0].(map[string]any)["action"] != "removed" {
		t.Errorf("the member's history: %s, want removed then added", h.Raw)
	}
}

// The committee's routes refuse bad input with a 4xx naming the field, and
// never leave the committee without a Chair.
func TestCommitteeMembersAPIRefusals(t *testing.T) {
	s := stacktest.Start(t, fast)
	chairToken := committeeMember(t, s)
	chair := s.Do("GET", "/v1/committee-members", chairToken, nil).Body["committee_members"].([]any)[0].(map[string]any)["id"].(string)
	for _, tc := range []struct {
		name, method, path string
		body               any
		status             int
		code, field        string
	}{
		{"add without a name", "POST", "/v1/committee-members", map[string]any{"email": "a@example.org", "role": "member"}, 422, "invalid_field", "name"},
		{"add a bad office", "POST", "/v1/committee-members", map[string]any{"name": "A", "email": "a@example.org", "role": "pope"}, 422, "invalid_field", "role"},
		{"add the Chair's address", "POST", "/v1/committee-members", map[string]any{"name": "A", "email": "CHAIR@example.org", "role": "member"}, 409, "duplicate", "email"},
		{"change to a bad office", "PATCH", "/v1/committee-members/" + chair, map[string]any{"role": "pope"}, 422, "invalid_field", "role"},
		{"change with no office", "PATCH", "/v1/committee-members/" + chair, map[string]any{}, 422, "invalid_field", "role"},
		{"change an unknown field", "PATCH", "/v1/committee-members/" + chair, map[string]any{"office": "member"}, 422, "unknown_field", "office"},
		{"demote the only Chair", "PATCH", "/v1/committee-members/" + chair, map[string]any{"role": "member"}, 409, "last_chair", "role"},
		{"remove the only Chair", "DELETE", "/v1/committee-members/" + chair, nil, 409, "last_chair", ""},
		{"remove no one", "DELETE", "/v1/committee-members/not-an-id", nil, 404, "not_found", ""},
		{"change no one", "PATCH", "/v1/committee-members/00000000-0000-4000-8000-000000000000", map[string]any{"role": "member"}, 404, "not_found", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := s.Do(tc.method, tc.path, chairToken, tc.body)
			if r.Status != tc.status || r.ErrorField("code") != tc.code || r.ErrorField("field") != tc.field {
				t.Errorf("%d %s, want %d %s field %q", r.Status, r.Raw, tc.status, tc.code, tc.field)
			}
		})
	}
	if r := s.Do("GET", "/v1/referrals", chairToken, nil); r.Status != 200 {
		t.Errorf("the Chair, after the refusals: %d", r.Status)
	}
}
