package workflows_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/wmtna/referrals/workflows"
)

// TestTimingsReadInTheUI: a new input writes each duration as an operator
// reads it, and an input written before (nanoseconds, as in every running
// referral and recorded history) still reads the same.
func TestTimingsReadInTheUI(t *testing.T) {
	def := workflows.DefaultTimings()
	b, err := json.Marshal(workflows.Input{ReferralID: "r1", Timings: def})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"referral_id":"r1","timings":{"review_reminder":"72h0m0s","offer_ttl":"168h0m0s","waitlist_recheck":"24h0m0s",` +
		`"history_limit":2000,"check_in_interval":"2016h0m0s","check_in_grace":"336h0m0s","lapse_warning":"672h0m0s",` +
		`"pause_limit":"2016h0m0s","pause_reminder":"168h0m0s","answer_within":"672h0m0s","answer_reminder":"168h0m0s"}}`
	if string(b) != want {
		t.Errorf("input is\n%s\nwant\n%s", b, want)
	}
	// Referrals from before pauses and questions carry no timings for them.
	wellOnly := def
	wellOnly.PauseLimit, wellOnly.PauseReminder, wellOnly.AnswerWithin, wellOnly.AnswerReminder = 0, 0, 0, 0
	tests := []struct {
		name, in string
		want     workflows.Timings
	}{
		{"new", want, def},
		// The input of a recorded history, from before.
		{"nanoseconds", `{"referral_id":"r1","timings":{"review_reminder":3600000000000,"offer_ttl":3600000000000,"waitlist_recheck":3600000000000}}`,
			workflows.Timings{ReviewReminder: time.Hour, OfferTTL: time.Hour, WaitlistRecheck: time.Hour}},
		{"nanoseconds with the waiting-well timings", `{"referral_id":"r1","timings":{"review_reminder":259200000000000,"offer_ttl":604800000000000,` +
			`"waitlist_recheck":86400000000000,"history_limit":2000,"check_in_interval":7257600000000000,"check_in_grace":1209600000000000,"lapse_warning":2419200000000000}}`, wellOnly},
		{"a mixture", `{"referral_id":"r1","timings":{"review_reminder":"1h","offer_ttl":60000000000,"waitlist_recheck":"30m"}}`,
			workflows.Timings{ReviewReminder: time.Hour, OfferTTL: time.Minute, WaitlistRecheck: 30 * time.Minute}},
		{"zeros omitted", `{"referral_id":"r1","timings":{"review_reminder":"1h","offer_ttl":"1h","waitlist_recheck":"1h"}}`,
			workflows.Timings{ReviewReminder: time.Hour, OfferTTL: time.Hour, WaitlistRecheck: time.Hour}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var in workflows.Input
			if err := json.Unmarshal([]byte(tt.in), &in); err != nil {
				t.Fatal(err)
			}
			if in.Timings != tt.want || in.ReferralID != "r1" {
				t.Errorf("decoded %+v, want %+v", in.Timings, tt.want)
			}
		})
	}
	for _, bad := range []string{`{"review_reminder":"three days"}`, `{"review_reminder":true}`, `{"review_reminder":1.5}`} {
		var tm workflows.Timings
		if err := json.Unmarshal([]byte(bad), &tm); err == nil || !strings.Contains(err.Error(), "duration") {
			t.Errorf("%s: decoded with error %v, want one naming the duration", bad, err)
		}
	}
}

// TestRetentionReadInTheUI: the retention schedule's input too, both ways.
func TestRetentionReadInTheUI(t *testing.T) {
	in := workflows.RetentionInput{Retention: 365 * 24 * time.Hour, Batch: 100, Erased: 3}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"retention":"8760h0m0s","batch":100,"erased":3}`; string(b) != want {
		t.Errorf("input is %s, want %s", b, want)
	}
	for _, s := range []string{string(b), `{"retention":31536000000000000,"batch":100,"erased":3}`} {
		var got workflows.RetentionInput
		if err := json.Unmarshal([]byte(s), &got); err != nil || got != in {
			t.Errorf("%s decoded as %+v (%v), want %+v", s, got, err, in)
		}
	}
}
