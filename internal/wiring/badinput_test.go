package wiring_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wmtna/referrals/internal/pgtest"
	"github.com/wmtna/referrals/internal/postgres"
	"github.com/wmtna/referrals/internal/stacktest"
)

// Every malformed submission gets a 4xx naming what is wrong, and none of
// them leaves a referral behind.
func TestBadSubmissionsAreRefusedCleanly(t *testing.T) {
	s := stacktest.Start(t, fast)
	with := func(field string, v any) map[string]any {
		b := submission(s, "bad@nhs.example")
		if v == nil {
			delete(b, field)
		} else {
			b[field] = v
		}
		return b
	}
	tests := []struct {
		name   string
		body   any
		ctype  string
		status int
		field  string
	}{
		{"missing name", with("name", nil), "", 422, "name"},
		{"name wrong type", with("name", 42), "", 422, "name"},
		{"name too long", with("name", strings.Repeat("a", 201)), "", 422, "name"},
		{"malformed email", with("email", "not-an-email"), "", 422, "email"},
		{"email with display name", with("email", "Sam <sam@nhs.example>"), "", 422, "email"},
		{"email with a look-alike letter", with("email", "bad@nhs.examplе"), "", 422, "email"}, // Cyrillic е
		{"email with a dotted capital I", with("email", "bad@nhs.İxample"), "", 422, "email"},
		{"programme not a code", with("programme", "Clinical Psychology!"), "", 422, "programme"},
		{"employer not a code", with("employer", "Birmingham trust"), "", 422, "employer"},
		{"training start not a month", with("training_start", "autumn 2024"), "", 422, "training_start"},
		{"impossible qualification date", with("expected_qualification", "2027-02-30"), "", 422, "expected_qualification"},
		{"qualification before training", with("expected_qualification", stacktest.TrainingStart(s.Now()).AddMonths(-1).String()), "", 422, "expected_qualification"},
		{"no concerns", with("concerns", "  "), "", 422, "concerns"},
		{"concerns too long", with("concerns", strings.Repeat("x", 5001)), "", 422, "concerns"},
		{"preferences wrong type", with("preferences", "remote"), "", 422, "preferences"},
		{"consent false", with("consent", false), "", 422, "consent"},
		{"consent missing", with("consent", nil), "", 422, "consent"},
		{"unknown field", with("nhs_number", "123"), "", 422, "nhs_number"},
		{"consent given twice, true last", strings.TrimSuffix(mustJSON(with("consent", false)), "}") + `, "consent": true}`, "", 422, "consent"},
		{"consent in another case", strings.TrimSuffix(mustJSON(with("consent", nil)), "}") + `, "Consent": true}`, "", 422, "Consent"},
		{"malformed JSON", `{"name": "x",`, "", 400, ""},
		{"two objects", `{} {}`, "", 400, ""},
		{"wrong content type", submission(s, "bad@nhs.example"), "text/plain", 415, ""},
		{"body too large", `{"name": "` + strings.Repeat("a", 70<<10) + `"}`, "", 413, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var headers []string
			if tt.ctype != "" {
				headers = []string{"Content-Type", tt.ctype}
			}
			r := s.Do("POST", "/v1/referrals", "", tt.body, headers...)
			if r.Status != tt.status || r.ErrorField("field") != tt.field || r.ErrorField("message") == "" {
				t.Errorf("got %d %s, want %d naming %q", r.Status, r.Raw, tt.status, tt.field)
			}
		})
	}
	refs, err := s.DB.ListReferrals(context.Background(), postgres.ListFilter{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(refs) != 0 {
		t.Errorf("%d referrals stored from bad submissions", len(refs))
	}
}

// A submission answers the same whether or not its address has an open
// referral, so nobody learns from it that a named person asked for
// therapy; the address's owner is told by email instead. Nothing is
// stored as a referral, and nobody on the committee hears of it, until the
// address is confirmed from the emailed link.
func TestSubmissionsSayNothingOfAnOpenReferral(t *testing.T) {
	s := stacktest.Start(t, fast)
	committeeMember(t, s)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, s.Config.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	count := func(query string, args ...any) int {
		t.Helper()
		var n int
		if err := conn.QueryRow(ctx, query, args...).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	body := submission(s, "dup@nhs.example")
	// Whatever is typed, the email to an unconfirmed address says none of
	// it: the service cannot be made to write someone else's words.
	body["name"] = "Your referral needs re-verification: https://evil.example/login"
	first := s.Do("POST", "/v1/referrals", "", body, "Idempotency-Key", "abc")
	if first.Status != 202 || first.Str("status") != "confirmation_sent" || first.Str("id") != "" || first.Str("token") != "" {
		t.Fatalf("submission: %d %s, want 202 confirmation_sent with no id and no token", first.Status, first.Raw)
	}
	// Before the address is confirmed there is no referral, no workflow,
	// and no email but the one to the address.
	if n := count(`SELECT count(*) FROM referrals`); n != 0 {
		t.Errorf("%d referrals stored before the address was confirmed", n)
	}
	if n := count(`SELECT count(*) FROM outbox WHERE recipient <> 'dup@nhs.example'`); n != 0 {
		t.Errorf("%d emails to others before the address was confirmed", n)
	}
	replay := s.Do("POST", "/v1/referrals", "", body, "Idempotency-Key", "abc")
	if replay.Status != 202 || replay.Body["replay"] != true {
		t.Fatalf("replay: %d %s, want 202 marked replay", replay.Status, replay.Raw)
	}
	code, err := s.NextConfirmCode("dup@nhs.example")
	if err != nil {
		t.Fatal(err)
	}
	asked, err := s.LastEmail(ctx, "dup@nhs.example", "Confirm your email address")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(asked, "evil.example") || strings.Contains(asked, "Dear") {
		t.Errorf("the email asking to confirm carries what was typed:\n%s", asked)
	}
	confirmed := s.Do("POST", "/v1/confirmations", "", map[string]any{"code": code})
	id, token := confirmed.Str("id"), confirmed.Str("token")
	if confirmed.Status != 201 || id == "" || token == "" || confirmed.Str("status") != "submitted" {
		t.Fatalf("confirm: %d %s, want 201 with the referral and a token", confirmed.Status, confirmed.Raw)
	}
	// The same link again answers with the same referral, and hands out no
	// credential and takes none away.
	again := s.Do("POST", "/v1/confirmations", "", map[string]any{"code": code})
	if again.Status != 200 || again.Str("id") != id || again.Str("token") != "" || again.Body["replay"] != true {
		t.Errorf("the link used twice: %d %s, want 200 with the same referral, no token, marked replay", again.Status, again.Raw)
	}
	if r := s.Do("GET", "/v1/referrals/"+id, token, nil); r.Status != 200 {
		t.Errorf("first token after the link was used again: %d, want 200", r.Status)
	}
	s.WaitStatus(id, "awaiting_review", 10*time.Second)
	if n := count(`SELECT count(*) FROM outbox WHERE recipient = 'dup@nhs.example' AND kind = 'confirm.trainee'`); n != 1 {
		t.Errorf("%d emails asking to confirm after a submission and its replay, want 1", n)
	}

	// Someone else submits the address again, and a new one: the answers
	// are the same, byte for byte.
	dup := s.Do("POST", "/v1/referrals", "", submission(s, "dup@nhs.example"))
	fresh := s.Do("POST", "/v1/referrals", "", submission(s, "fresh@nhs.example"))
	if dup.Status != fresh.Status || dup.Raw != fresh.Raw {
		t.Errorf("an address with an open referral answers %d %s, a new one %d %s: want the same", dup.Status, dup.Raw, fresh.Status, fresh.Raw)
	}
	// The owner of the address hears of it, with a way in to the referral
	// they have; nothing new is stored for the committee.
	letter, err := s.LastEmail(ctx, "dup@nhs.example", "You already have an open referral")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(letter, s.API.URL+"/sign-in/") || strings.Contains(letter, "/confirm/") {
		t.Errorf("the owner's letter has no sign-in link, or a link to confirm:\n%s", letter)
	}
	if n := count(`SELECT count(*) FROM referrals WHERE email = 'dup@nhs.example'`); n != 1 {
		t.Errorf("%d referrals for the address, want 1", n)
	}

	// A second submission confirmed once the first is open: the caller has
	// shown they own the address, so they are told.
	if r := s.Do("POST", "/v1/referrals", "", submission(s, "race@nhs.example")); r.Status != 202 {
		t.Fatalf("submit: %d %s", r.Status, r.Raw)
	}
	if r := s.Do("POST", "/v1/referrals", "", submission(s, "race@nhs.example")); r.Status != 202 {
		t.Fatalf("submit again: %d %s", r.Status, r.Raw)
	}
	one, err := s.NextConfirmCode("race@nhs.example")
	if err != nil {
		t.Fatal(err)
	}
	two, err := s.NextConfirmCode("race@nhs.example")
	if err != nil {
		t.Fatal(err)
	}
	if r := s.Do("POST", "/v1/confirmations", "", map[string]any{"code": one}); r.Status != 201 {
		t.Fatalf("confirm: %d %s", r.Status, r.Raw)
	}
	if r := s.Do("POST", "/v1/confirmations", "", map[string]any{"code": two}); r.Status != 409 || r.ErrorField("code") != "duplicate_referral" {
		t.Errorf("the second confirmed while the first is open: %d %s, want 409 duplicate_referral", r.Status, r.Raw)
	}

	if r := s.Do("POST", "/v1/confirmations", "", map[string]any{"code": "not-a-code"}); r.Status != 404 || r.ErrorField("code") != "link_used" {
		t.Errorf("an unknown code: %d %s, want 404 link_used", r.Status, r.Raw)
	}
	if r := s.Do("POST", "/v1/confirmations", "", map[string]any{}); r.Status != 422 || r.ErrorField("field") != "code" {
		t.Errorf("no code: %d %s, want 422 naming code", r.Status, r.Raw)
	}
	other := submission(s, "other@nhs.example")
	if r := s.Do("POST", "/v1/referrals", "", other, "Idempotency-Key", "abc"); r.Status != 422 || r.ErrorField("field") != "Idempotency-Key" {
		t.Errorf("key reused for another referral: %d %s, want 422", r.Status, r.Raw)
	}
	// Even once the referral has ended, a replay answers as the first time
	// and sends nothing.
	if r := s.Do("POST", "/v1/referrals/"+id+"/withdraw", token, nil); r.Status != 200 {
		t.Fatalf("withdraw: %d %s", r.Status, r.Raw)
	}
	late := s.Do("POST", "/v1/referrals", "", body, "Idempotency-Key", "abc")
	if late.Status != 202 || late.Body["replay"] != true || late.Str("token") != "" {
		t.Errorf("replay after the referral ended: %d %s, want 202 replay and no token", late.Status, late.Raw)
	}
	if n := count(`SELECT count(*) FROM outbox WHERE recipient = 'dup@nhs.example' AND kind = 'confirm.trainee'`); n != 1 {
		t.Errorf("%d emails asking to confirm after a late replay, want 1", n)
	}
}

// The other endpoints refuse bad bodies the same way: a 4xx naming the
// field, and nothing changed.
func TestBadDecisionsAndRegisterEntries(t *testing.T) {
	s := stacktest.Start(t, fast)
	chair := committeeMember(t, s)
	th := addTherapist(t, s, 1, 1)
	ref := submit(t, s, "someone@nhs.example")
	s.WaitStatus(ref.id, "awaiting_review", 10*time.Second)
	tests := []struct {
		name, method, path, token string
		body                      any
		status                    int
		field                     string
	}{
		{"review without decision", "POST", "/v1/referrals/" + ref.id + "/review", chair, map[string]any{}, 422, "decision"},
		{"review with made-up decision", "POST", "/v1/referrals/" + ref.id + "/review", chair, map[string]any{"decision": "maybe"}, 422, "decision"},
		{"decline without reason", "POST", "/v1/referrals/" + ref.id + "/review", chair, map[string]any{"decision": "decline"}, 422, "reason"},
		{"review decision wrong type", "POST", "/v1/referrals/" + ref.id + "/review", chair, map[string]any{"decision": true}, 422, "decision"},
		{"withdraw reason too long", "POST", "/v1/referrals/" + ref.id + "/withdraw", ref.token, map[string]any{"reason": strings.Repeat("x", 2001)}, 422, "reason"},
		{"therapist bad HCPC number", "POST", "/v1/therapists", admin, map[string]any{"name": "X", "email": "x@example.org", "hcpc_number": "AB123", "capacity": 1}, 422, "hcpc_number"},
		{"therapist negative capacity", "POST", "/v1/therapists", admin, map[string]any{"name": "X", "email": "x@example.org", "hcpc_number": "PYL9", "capacity": -1}, 422, "capacity"},
		{"therapist capacity as text", "POST", "/v1/therapists", admin, map[string]any{"name": "X", "email": "x@example.org", "hcpc_number": "PYL9", "capacity": "two"}, 422, "capacity"},
		{"therapist unknown conflict programme", "POST", "/v1/therapists", admin, map[string]any{"name": "X", "email": "x@example.org", "hcpc_number": "PYL9", "capacity": 1, "conflicts": map[string]any{"programmes": []string{"astrology"}}}, 422, "conflicts.programmes"},
		{"therapist duplicate HCPC", "POST", "/v1/therapists", admin, map[string]any{"name": "X", "email": "x@example.org", "hcpc_number": "PYL00001", "capacity": 1}, 409, "hcpc_number"},
		{"patch HCPC number", "PATCH", "/v1/therapists/" + th.id, admin, map[string]any{"hcpc_number": "PYL5"}, 422, "hcpc_number"},
		{"committee made-up role", "POST", "/v1/committee-members", admin, map[string]any{"name": "X", "email": "x@example.org", "role": "king"}, 422, "role"},
		{"committee bad email", "POST", "/v1/committee-members", admin, map[string]any{"name": "X", "email": "x@", "role": "chair"}, 422, "email"},
		{"committee look-alike email", "POST", "/v1/committee-members", admin, map[string]any{"name": "X", "email": "x@exampİe.org", "role": "chair"}, 422, "email"},
		{"therapist look-alike email", "POST", "/v1/therapists", admin, map[string]any{"name": "X", "email": "x@Kent.example", "hcpc_number": "PYL9", "capacity": 1}, 422, "email"},
		{"patch look-alike email", "PATCH", "/v1/therapists/" + th.id, admin, map[string]any{"email": "t1@exampİe.org"}, 422, "email"},
		{"organisation lower-case code", "POST", "/v1/organisations", admin, map[string]any{"code": "rxt", "name": "X", "kind": "nhs_trust"}, 422, "code"},
		{"organisation made-up kind", "POST", "/v1/organisations", admin, map[string]any{"code": "ABC", "name": "X", "kind": "charity"}, 422, "kind"},
		{"token for an operator", "POST", "/v1/tokens", admin, map[string]any{"role": "operator", "subject": th.id}, 422, "role"},
		{"list with made-up status", "GET", "/v1/referrals?status=lost", admin, nil, 400, "status"},
		{"list with huge limit", "GET", "/v1/referrals?limit=100000", admin, nil, 400, "limit"},
		{"list with forged cursor", "GET", "/v1/referrals?cursor=abc", admin, nil, 400, "cursor"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := s.Do(tt.method, tt.path, tt.token, tt.body)
			if r.Status != tt.status || r.ErrorField("field") != tt.field {
				t.Errorf("got %d %s, want %d naming %q", r.Status, r.Raw, tt.status, tt.field)
			}
		})
	}
	if r := s.Do("GET", "/v1/referrals/"+ref.id, admin, nil); r.Str("status") != "awaiting_review" || len(r.Body["events"].([]any)) != 2 {
		t.Errorf("the referral changed: %s", r.Raw)
	}
	if r := s.Do("GET", "/v1/therapists", admin, nil); len(r.Body["therapists"].([]any)) != 1 {
		t.Errorf("a bad therapist was stored: %s", r.Raw)
	}
}

// Person-typed fields refuse control characters, with a 422 naming the
// field: a name cannot carry a second paragraph ("Dear Sam\r\n\r\nYour
// referral needs re-verification: ...") into an email the network sends,
// and a NUL byte cannot reach PostgreSQL (it was a 503). A concern may
// still run over several lines.
func TestTypedFieldsRefuseControlCharacters(t *testing.T) {
	s := stacktest.Start(t, fast)
	phishing := "Sam\r\n\r\nYour referral needs re-verification: https://evil.example/login"
	for _, c := range []struct {
		field string
		set   func(map[string]any)
	}{
		{"name", func(b map[string]any) { b["name"] = phishing }},
		{"name", func(b map[string]any) { b["name"] = "Sam\x00" }},
		{"concerns", func(b map[string]any) { b["concerns"] = "sleep\x00less" }},
		{"concerns", func(b map[string]any) { b["concerns"] = "sleep\x1b[2Jless" }},
		{"preferences.note", func(b map[string]any) {
			b["preferences"] = map[string]any{"meeting": "either", "note": "a woman\x00please"}
		}},
	} {
		body := submission(s, "typed@nhs.example")
		c.set(body)
		if r := s.Do("POST", "/v1/referrals", "", body); r.Status != 422 || r.ErrorField("field") != c.field {
			t.Errorf("%s with a control character: %d %s, want 422 naming it", c.field, r.Status, r.Raw)
		}
	}
	ok := submission(s, "typed@nhs.example")
	ok["concerns"] = "Placement stress.\r\nSleeping badly.\n\tSince September."
	r, err := s.Refer(ok)
	if err != nil {
		t.Fatalf("concerns over several lines: %v", err)
	}
	s.WaitStatus(r.Str("id"), "awaiting_review", 10*time.Second)
	chair := committeeMember(t, s)
	if d := s.Do("POST", "/v1/referrals/"+r.Str("id")+"/review", chair, map[string]any{"decision": "decline", "reason": "no\x00"}); d.Status != 422 || d.ErrorField("field") != "reason" {
		t.Errorf("a reason with a NUL byte: %d %s, want 422 naming reason", d.Status, d.Raw)
	}
	if d := s.Do("POST", "/v1/therapists", admin, map[string]any{"name": "Dr\r\nX", "email": "x@example.org", "hcpc_number": "PYL9", "capacity": 1}); d.Status != 422 || d.ErrorField("field") != "name" {
		t.Errorf("a therapist name with a line break: %d %s, want 422 naming name", d.Status, d.Raw)
	}
}

// Duplicates are refused without PostgreSQL logging what collided: a
// unique violation's DETAIL names the key ("Key (email_key)=(…)"), which is
// a trainee's address, a client's idempotency key or a therapist's HCPC
// number, and PostgreSQL's log is outside erasure's reach.
func TestDuplicatesLeaveNoPersonalDetailInThePostgresLog(t *testing.T) {
	s := stacktest.Start(t, fast)
	// Two submissions of one address, then both confirmed: the second
	// meets the first at the unique index of open referrals.
	body := submission(s, "twice.logged@nhs.example")
	if r := s.Do("POST", "/v1/referrals", "", body); r.Status != 202 {
		t.Fatalf("first: %d %s", r.Status, r.Raw)
	}
	s.MustRefer(body, "Idempotency-Key", "key-twice.logged@nhs.example")
	if r := s.Do("POST", "/v1/confirmations", "", map[string]any{"code": s.MustConfirmCode("twice.logged@nhs.example")}); r.Status != 409 {
		t.Fatalf("duplicate: %d %s, want 409", r.Status, r.Raw)
	}
	if r := s.Do("POST", "/v1/referrals", "", body, "Idempotency-Key", "key-twice.logged@nhs.example"); r.Status != 202 || r.Body["replay"] != true {
		t.Fatalf("replay: %d %s, want 202 replay", r.Status, r.Raw)
	}
	other := submission(s, "someone.else@nhs.example")
	if r := s.Do("POST", "/v1/referrals", "", other, "Idempotency-Key", "key-twice.logged@nhs.example"); r.Status != 422 {
		t.Fatalf("key reused: %d %s, want 422", r.Status, r.Raw)
	}
	addTherapist(t, s, 77, 1)
	if r := s.Do("POST", "/v1/therapists", admin, map[string]any{"name": "Dr Again", "email": "again@example.org", "hcpc_number": "PYL00077", "capacity": 1}); r.Status != 409 {
		t.Fatalf("duplicate HCPC number: %d %s, want 409", r.Status, r.Raw)
	}
	log, ok, err := pgtest.ServerLog()
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		t.Skip("the tests use a PostgreSQL server of their own (WMTNA_TEST_DATABASE_URL): its log is not ours to read")
	}
	if !strings.Contains(log, "database system is ready") {
		t.Fatalf("that is not the server's log:\n%s", log)
	}
	for _, personal := range []string{"twice.logged", "someone.else", "PYL00077", "already exists"} {
		if strings.Contains(log, personal) {
			t.Errorf("PostgreSQL's log contains %q", personal)
		}
	}
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}
