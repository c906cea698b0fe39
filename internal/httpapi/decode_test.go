package httpapi

import (
	"net/http/httptest"
	"strings"
	"testing"
)

// The decoders take each field once and only under its own name: a
// duplicate key's last value won, and encoding/json matches names in any
// case, so `"consent": false, "consent": true` and `"Consent": true` were
// both accepted as consent.
func TestDecodeRefusesDuplicateAndMiscasedKeys(t *testing.T) {
	decodeInto := func(dst any, body string) (int, string) {
		req := httptest.NewRequest("POST", "/", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if e := decode(httptest.NewRecorder(), req, dst); e != nil {
			if e.Message == "" {
				t.Errorf("%s: refused without a message", body)
			}
			return int(e.Outcome), e.Field
		}
		return 200, ""
	}
	for _, tc := range []struct {
		body   string
		dst    func() any
		status int
		field  string
	}{
		{`{"consent": true}`, sub, 200, ""},
		{`{"employer_name": "Midlands Psychology CIC"}`, sub, 200, ""},
		{`{"consent": false, "consent": true}`, sub, 422, "consent"},
		{`{"name": "Sam", "name": "Sam"}`, sub, 422, "name"},
		{`{"Consent": true}`, sub, 422, "Consent"},
		{`{"CONSENT": true}`, sub, 422, "CONSENT"},
		{`{"conſent": true}`, sub, 422, "conſent"}, // long s, which encoding/json folds to s
		{`{"consent": false, "Consent": true}`, sub, 422, "Consent"},
		{`{"preferences": {"meeting": "online", "meeting": "either"}}`, sub, 422, "preferences.meeting"},
		{`{"preferences": {"Meeting": "online"}}`, sub, 422, "preferences.Meeting"},
		{`{"preferences": {"meeting": "in_person", "areas": ["coventry"]}}`, sub, 200, ""},
		{`{"nhs_number": "1", "nhs_number": "2"}`, sub, 422, "nhs_number"},
		{`{"nhs_number": "1"}`, sub, 422, "nhs_number"},
		{`{"name": "x",`, sub, 400, ""},
		{`{"name": "x"} {"name": "y"}`, sub, 400, ""},
		{`[{"a": 1}, {"a": 1}]`, sub, 422, ""}, // not an object: the decoder's type error
		{`{"conflicts": {"programmes": ["a"], "employers": ["RXT", "RXT"]}}`, therapist, 200, ""},
		{`{"conflicts": {"programmes": [], "Programmes": ["a"]}}`, therapist, 422, "conflicts.Programmes"},
		{`{"areas": ["a"], "areas": []}`, therapist, 422, "areas"},
		{`{"reason": "a", "Reason": "b"}`, func() any { return new(reasonRequest) }, 422, "Reason"},
		{`{}`, func() any { return new(struct{}) }, 200, ""},
	} {
		status, field := decodeInto(tc.dst(), tc.body)
		if status != tc.status || field != tc.field {
			t.Errorf("%s: %d naming %q, want %d naming %q", tc.body, status, field, tc.status, tc.field)
		}
	}
}

func sub() any       { return new(submissionRequest) }
func therapist() any { return new(therapistRequest) }
