package pipeline

import (
	"strings"
	"testing"
	"time"

	"github.com/wmtna/referrals/internal/referral"
)

func TestNextFor(t *testing.T) {
	trainee := referral.Principal{Role: referral.RoleTrainee, Subject: "r1"}
	committee := referral.Principal{Role: referral.RoleCommittee, Subject: "c1"}
	for _, tc := range []struct {
		p          referral.Principal
		next, want string
	}{
		{trainee, "", "/my-referral"},
		{trainee, "/my-referral/check-in", "/my-referral/check-in"},
		{trainee, "/committee", "/my-referral"}, // not their area
		{trainee, "/my-referralx", "/my-referral"},
		{trainee, "//evil.example/my-referral", "/my-referral"},
		{trainee, "https://evil.example/my-referral", "/my-referral"},
		{committee, "/committee/referrals/00000000-0000-4000-8000-000000000000", "/committee/referrals/00000000-0000-4000-8000-000000000000"},
		{committee, "/committee//evil.example", "/committee"},
		{committee, `/committee/\evil`, "/committee"},
		// Dot segments climb out of the area once the browser resolves them.
		{committee, "/committee/../../x", "/committee"},
		{committee, "/committee/..", "/committee"},
		{committee, "/committee/./referrals", "/committee"},
		{trainee, "/my-referral/../committee", "/my-referral"},
		// Encoded, the same: browsers treat %2e%2e as "..".
		{committee, "/committee/%2e%2e/%2E%2E/x", "/committee"},
		{committee, "/committee/.%2e/x", "/committee"},
		{committee, "/committee/%2F%2Fevil.example", "/committee"},
		{committee, "/committee/%5cevil", "/committee"},
		// Browsers drop tabs and line breaks, which would make "..".
		{committee, "/committee/.\t./x", "/committee"},
		{committee, "/committee/.\n./x", "/committee"},
		{committee, "/committee/\u2024\u2024/x", "/committee"},
		// Still allowed: the area's own pages, with a query.
		{committee, "/committee?status=awaiting_review", "/committee?status=awaiting_review"},
		{committee, "/committee/referrals/x?tab=notes#decide", "/committee/referrals/x?tab=notes#decide"},
	} {
		if got := NextFor(tc.p, cleanNext(tc.next)); got != tc.want {
			t.Errorf("NextFor(%s, %q) = %q, want %q", tc.p.Role, tc.next, got, tc.want)
		}
	}
}

// cleanNext is the pages' own check of a next path; NextFor must hold
// without it too.
func cleanNext(next string) string {
	if len(next) > 200 || !strings.HasPrefix(next, "/") {
		return ""
	}
	return next
}

func TestHumanDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{30 * time.Minute: "30 minutes", 7 * 24 * time.Hour: "7 days", 5 * time.Hour: "5 hours"} {
		if got := HumanDuration(d); got != want {
			t.Errorf("HumanDuration(%s) = %q, want %q", d, got, want)
		}
	}
}
