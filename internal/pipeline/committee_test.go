package pipeline_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/wmtna/referrals/internal/pipeline"
	"github.com/wmtna/referrals/internal/postgres/postgrestest"
	"github.com/wmtna/referrals/internal/referral"
)

// TestOnlyTheChairChangesTheCommittee: of the committee, the Chair alone
// adds, changes and removes members (the access table lets the committee
// role through; the office is checked by the use case), with a refusal
// that says so; any member may list them. Bad input names its field.
func TestOnlyTheChairChangesTheCommittee(t *testing.T) {
	db, _ := postgrestest.Open(t, "")
	s := &pipeline.Service{DB: db, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	ctx := context.Background()
	op := referral.Principal{Role: referral.RoleOperator, Subject: "admin"}
	chairM, chairToken, err := s.AddCommitteeMember(ctx, op, "Chris Chair", "chair@example.org", "chair")
	if err != nil || chairToken == "" {
		t.Fatalf("operator adds the Chair: %v (token %q)", err, chairToken)
	}
	sec, _, err := s.AddCommitteeMember(ctx, op, "Sam Secretary", "sec@example.org", "secretary")
	if err != nil {
		t.Fatal(err)
	}
	chair := referral.Principal{Role: referral.RoleCommittee, Subject: chairM.ID}
	secretary := referral.Principal{Role: referral.RoleCommittee, Subject: sec.ID}

	for name, call := range map[string]func(p referral.Principal) error{
		"add": func(p referral.Principal) error {
			_, _, err := s.AddCommitteeMember(ctx, p, "Ann", "ann@example.org", "member")
			return err
		},
		"change": func(p referral.Principal) error {
			_, err := s.ChangeCommitteeRole(ctx, p, chairM.ID, "member")
			return err
		},
		"remove": func(p referral.Principal) error { _, err := s.RemoveCommitteeMember(ctx, p, chairM.ID); return err },
	} {
		for who, p := range map[string]referral.Principal{
			"the secretary":      secretary,
			"no member":          {Role: referral.RoleCommittee, Subject: "0b6c3a52-4b8e-4c57-9b5e-2f1d7a0c9e11"},
			"a malformed member": {Role: referral.RoleCommittee, Subject: "c1"},
		} {
			e := pipeline.AsError(call(p))
			if e == nil || e.Outcome != pipeline.Forbidden || e.Code != "not_chair" || !strings.Contains(e.Message, "only the Chair") {
				t.Errorf("%s as %s: %+v, want 403 not_chair saying only the Chair can", name, who, e)
			}
		}
	}
	if ms, err := s.CommitteeMembers(ctx, secretary); err != nil || len(ms) != 2 {
		t.Errorf("the secretary lists the committee: %d members, %v", len(ms), err)
	}

	// The Chair adds a member, and gets no token of theirs: the new member
	// signs in by email.
	ann, token, err := s.AddCommitteeMember(ctx, chair, " Ann Member ", "ann@example.org", "member")
	if err != nil || token != "" || ann.Name != "Ann Member" {
		t.Fatalf("the Chair adds a member: %+v, token %q, %v; want them, no token", ann, token, err)
	}

	for _, tc := range []struct {
		name              string
		call              func() error
		outcome           pipeline.Outcome
		code, field, says string
	}{
		{"add without a name", func() error {
			_, _, err := s.AddCommitteeMember(ctx, chair, " ", "x@example.org", "member")
			return err
		},
			pipeline.Invalid, "invalid_field", "name", "name is required"},
		{"add without an email", func() error { _, _, err := s.AddCommitteeMember(ctx, chair, "X", "", "member"); return err },
			pipeline.Invalid, "invalid_field", "email", "email is required"},
		{"add a bad email", func() error {
			_, _, err := s.AddCommitteeMember(ctx, chair, "X", "not an address", "member")
			return err
		},
			pipeline.Invalid, "invalid_field", "email", ""},
		{"add with no office", func() error { _, _, err := s.AddCommitteeMember(ctx, chair, "X", "x@example.org", ""); return err },
			pipeline.Invalid, "invalid_field", "role", "chair, secretary, treasurer, member"},
		{"add an address on the committee", func() error {
			_, _, err := s.AddCommitteeMember(ctx, chair, "Ann again", "ANN@example.org", "member")
			return err
		}, pipeline.Conflict, "duplicate", "email", "already"},
		{"change to no office", func() error { _, err := s.ChangeCommitteeRole(ctx, chair, ann.ID, "pope"); return err },
			pipeline.Invalid, "invalid_field", "role", "role must be one of"},
		{"change no one", func() error { _, err := s.ChangeCommitteeRole(ctx, chair, "nobody", "member"); return err },
			pipeline.NotFound, "not_found", "", ""},
		{"demote the only Chair", func() error { _, err := s.ChangeCommitteeRole(ctx, chair, chairM.ID, "member"); return err },
			pipeline.Conflict, "last_chair", "role", "must keep a Chair"},
		{"remove the only Chair", func() error { _, err := s.RemoveCommitteeMember(ctx, chair, chairM.ID); return err },
			pipeline.Conflict, "last_chair", "", "must keep a Chair"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := pipeline.AsError(tc.call())
			if e == nil || e.Outcome != tc.outcome || e.Code != tc.code || e.Field != tc.field || !strings.Contains(e.Message, tc.says) {
				t.Errorf("got %+v, want %d %s field %q saying %q", e, tc.outcome, tc.code, tc.field, tc.says)
			}
		})
	}

	// The Chair removes a member; a removed Chair can change nothing.
	if _, err := s.ChangeCommitteeRole(ctx, chair, ann.ID, "chair"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RemoveCommitteeMember(ctx, chair, ann.ID); err != nil {
		t.Fatal(err)
	}
	if e := pipeline.AsError(func() error { _, err := s.RemoveCommitteeMember(ctx, chair, ann.ID); return err }()); e == nil || e.Code != "removed" {
		t.Errorf("removing twice: %+v, want 409 removed", e)
	}
	if _, err := s.IssueToken(ctx, op, referral.RoleCommittee, ann.ID); pipeline.AsError(err).Outcome != pipeline.NotFound {
		t.Errorf("a token for a removed member: %v, want 404", err)
	}
	annP := referral.Principal{Role: referral.RoleCommittee, Subject: ann.ID}
	if e := pipeline.AsError(func() error { _, err := s.RemoveCommitteeMember(ctx, annP, sec.ID); return err }()); e == nil || e.Code != "not_chair" {
		t.Errorf("a removed Chair removes: %+v, want 403 not_chair", e)
	}
}
