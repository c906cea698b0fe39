package postgres_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/wmtna/referrals/internal/referral"
)

// TestEligibilityIsJudgedOnTheDayOfSubmission: the store stamps a referral
// with the submission time it is given (the service's clock), not with
// PostgreSQL's, and CheckEligibility compares the cut-off with the UK day
// of that time, whenever the check runs.
func TestEligibilityIsJudgedOnTheDayOfSubmission(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	// submission's training start, September 2024, is cut off on 1 July 2027.
	cutoff := referral.Cutoff(submission(anyTrainee, "").TrainingStart, nil)
	if cutoff.String() != "2027-07-01" {
		t.Fatalf("cut-off %s, want 2027-07-01", cutoff)
	}
	for i, c := range []struct {
		name string
		at   time.Time
		want string // reason, "" for eligible
	}{
		{"long before the cut-off", time.Date(2025, time.March, 3, 9, 0, 0, 0, referral.London), ""},
		{"the last minute of the day before", time.Date(2027, time.June, 30, 23, 59, 0, 0, referral.London), ""},
		// 23:30 UTC on 30 June is 00:30 on 1 July in the UK (BST).
		{"the cut-off day in the UK", time.Date(2027, time.June, 30, 23, 30, 0, 0, time.UTC), referral.ReasonPastCutoff},
		{"after the cut-off", time.Date(2028, time.September, 1, 12, 0, 0, 0, referral.London), referral.ReasonPastCutoff},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, created, err := s.CreateReferral(ctx, submission(anyTrainee, fmt.Sprintf("day%d@example.org", i)), c.at, "", "fp")
			if err != nil || !created {
				t.Fatalf("create: created=%v %v", created, err)
			}
			if !r.SubmittedAt.Equal(c.at) {
				t.Errorf("submitted at %s, want %s", r.SubmittedAt, c.at)
			}
			for range 2 { // a retried check gives the same answer
				e, err := s.CheckEligibility(ctx, r.ID)
				if err != nil {
					t.Fatal(err)
				}
				if e.Eligible != (c.want == "") || e.Reason != c.want || e.Cutoff != cutoff.String() {
					t.Errorf("eligibility %+v, want reason %q and cut-off %s", e, c.want, cutoff)
				}
			}
		})
	}
}

func TestCreateReferralKeepsTheFirstSubmissionTime(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	sub := submission(anyTrainee, "twice@example.org")
	first := time.Date(2026, time.March, 2, 10, 0, 0, 0, referral.London)
	r, _, err := s.CreateReferral(ctx, sub, first, "key-twice", "fp-twice")
	if err != nil {
		t.Fatal(err)
	}
	// A replay a day later is the same referral, submitted when it first was.
	replay, created, err := s.CreateReferral(ctx, sub, first.AddDate(0, 0, 1), "key-twice", "fp-twice")
	if err != nil || created || replay.ID != r.ID || !replay.SubmittedAt.Equal(first) {
		t.Errorf("replay: %s created=%v submitted %s %v; want %s submitted %s", replay.ID, created, replay.SubmittedAt, err, r.ID, first)
	}
	// There is no default: a caller must say when.
	if _, _, err := s.CreateReferral(ctx, submission(anyTrainee, "when@example.org"), time.Time{}, "", "fp"); err == nil {
		t.Error("a referral with no submission time was stored")
	}
}

// StuckSubmissions compares submission times with the time it is given, on
// the same clock as they were stamped.
func TestStuckSubmissionsAreThoseSubmittedBefore(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	at := time.Date(2028, time.September, 1, 12, 0, 0, 0, referral.London)
	r, _, err := s.CreateReferral(ctx, submission(anyTrainee, "stuck@example.org"), at, "", "fp")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		before time.Time
		want   bool
	}{{at, false}, {at.Add(time.Millisecond), true}} {
		ids, err := s.StuckSubmissions(ctx, c.before, 10)
		if err != nil {
			t.Fatal(err)
		}
		if got := slices.Contains(ids, r.ID); got != c.want {
			t.Errorf("StuckSubmissions(%s) = %v: includes the one submitted at %s = %v, want %v", c.before, ids, at, got, c.want)
		}
	}
}

// A service the trainee named because it is not on the register passes the
// employer rule (the committee checks it before approving); a code not on
// the register does not; and a referral names one or the other, never
// neither.
func TestServiceNotOnTheRegisterIsTheCommitteesToCheck(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	for _, c := range []struct {
		name string
		tr   trainee
		want string // reason, "" for eligible
	}{
		{"a service not on the register", trainee{service: "Midlands Psychology CIC"}, ""},
		{"a code on the register", trainee{employer: "RKB"}, ""},
		{"a code not on the register", trainee{employer: "ZZZ9"}, referral.ReasonUnknownEmployer},
	} {
		id := s.referral(c.tr)
		e, err := s.CheckEligibility(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		r, err := s.Referral(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if e.Eligible != (c.want == "") || e.Reason != c.want || r.EmployerName != c.tr.service || r.Employer != c.tr.employer {
			t.Errorf("%s: eligibility %+v, stored %q %q; want reason %q", c.name, e, r.Employer, r.EmployerName, c.want)
		}
	}
	if _, _, err := s.CreateReferral(ctx, submission(trainee{employer: "RKB", service: "And a service"}, "both@example.org"), time.Now(), "", "fp"); err == nil {
		t.Error("a referral naming a code and a service was stored")
	}
}
