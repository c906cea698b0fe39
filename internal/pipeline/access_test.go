package pipeline_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"testing"

	"github.com/wmtna/referrals/internal/pgtest"
	"github.com/wmtna/referrals/internal/pipeline"
	"github.com/wmtna/referrals/internal/postgres/postgrestest"
	"github.com/wmtna/referrals/internal/referral"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// unread is content a front end could not read: a caller who gets past
// the access checks is stopped there, so no cell of the matrix changes
// anything.
func unread[T any]() pipeline.Input[T] {
	return func() (T, error) {
		var zero T
		return zero, &pipeline.Error{Outcome: pipeline.Malformed, Code: "malformed", Message: "unread"}
	}
}

// TestUseCasesKeepTheAccessTable calls every use case as every role,
// directly, as both front ends do: each refuses a role the access table
// does not give it (401 without one, 403 with another), whichever front
// end asks, and lets the others through to their own checks. A use case
// added to the table without a row here fails.
func TestUseCasesKeepTheAccessTable(t *testing.T) {
	db, _ := postgrestest.Open(t, "")
	s := &pipeline.Service{DB: db, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	ctx := context.Background()
	const id = "0b6c3a52-4b8e-4c57-9b5e-2f1d7a0c9e11" // names nothing
	calls := map[pipeline.Action]func(p referral.Principal) error{
		pipeline.ActSubmit: func(p referral.Principal) error {
			_, err := s.Submit(ctx, p, unread[referral.Draft](), "")
			return err
		},
		pipeline.ActConfirm: func(p referral.Principal) error {
			_, err := s.Confirm(ctx, p, "names-nothing")
			return err
		},
		pipeline.ActList: func(p referral.Principal) error {
			_, err := s.Referrals(ctx, p, pipeline.Query{Limit: 1})
			return err
		},
		pipeline.ActRead: func(p referral.Principal) error { _, err := s.Referral(ctx, p, id); return err },
		pipeline.ActReview: func(p referral.Principal) error {
			_, err := s.Review(ctx, p, id, unread[pipeline.Review](), "")
			return err
		},
		pipeline.ActWithdraw: func(p referral.Principal) error {
			_, err := s.Withdraw(ctx, p, id, unread[string](), "")
			return err
		},
		pipeline.ActCheckIn: func(p referral.Principal) error {
			_, err := s.CheckIn(ctx, p, id, unread[*bool](), "")
			return err
		},
		pipeline.ActPause: func(p referral.Principal) error {
			_, err := s.Pause(ctx, p, id, unread[string](), "")
			return err
		},
		pipeline.ActAsk: func(p referral.Principal) error {
			_, err := s.Ask(ctx, p, id, unread[string](), "")
			return err
		},
		pipeline.ActAnswer: func(p referral.Principal) error {
			_, err := s.Answer(ctx, p, id, unread[string](), "")
			return err
		},
		pipeline.ActResume: func(p referral.Principal) error {
			_, err := s.Resume(ctx, p, id, unread[struct{}](), "")
			return err
		},
		pipeline.ActEnd: func(p referral.Principal) error {
			_, err := s.EndTherapy(ctx, p, id, unread[string](), "")
			return err
		},
		pipeline.ActErase: func(p referral.Principal) error { _, err := s.Erase(ctx, p, id); return err },
		pipeline.ActListOffers: func(p referral.Principal) error {
			_, err := s.Offers(ctx, p, referral.OfferOpen)
			return err
		},
		pipeline.ActAccept: func(p referral.Principal) error {
			_, err := s.Accept(ctx, p, id, unread[struct{}](), "")
			return err
		},
		pipeline.ActDecline: func(p referral.Principal) error {
			_, err := s.Decline(ctx, p, id, unread[pipeline.Decline](), "")
			return err
		},
		pipeline.ActWaitlist:       func(p referral.Principal) error { _, err := s.Waitlist(ctx, p, 0, 10); return err },
		pipeline.ActListTherapists: func(p referral.Principal) error { _, err := s.Therapists(ctx, p); return err },
		pipeline.ActAddTherapist: func(p referral.Principal) error {
			_, _, err := s.AddTherapist(ctx, p, pipeline.TherapistChange{})
			return err
		},
		pipeline.ActChangeTherapist: func(p referral.Principal) error {
			hcpc := "PYL1" // cannot be changed: refused before anything is written
			_, err := s.ChangeTherapist(ctx, p, id, pipeline.TherapistChange{HCPCNumber: &hcpc})
			return err
		},
		pipeline.ActReadTherapist: func(p referral.Principal) error { _, err := s.Therapist(ctx, p, id); return err },
		pipeline.ActSetAvailability: func(p referral.Principal) error {
			capacity := -1 // refused before anything is read or written
			_, err := s.SetAvailability(ctx, p, id, pipeline.Given(pipeline.Availability{Capacity: &capacity}))
			return err
		},
		pipeline.ActRetireTherapist: func(p referral.Principal) error { _, err := s.RetireTherapist(ctx, p, id); return err },
		pipeline.ActRegisterHistory: func(p referral.Principal) error {
			_, err := s.RegisterHistory(ctx, p, "", "", 0, 1)
			return err
		},
		pipeline.ActListAreas: func(p referral.Principal) error { _, err := s.Areas(ctx, p); return err },
		pipeline.ActSaveArea: func(p referral.Principal) error {
			_, err := s.SaveArea(ctx, p, referral.Area{})
			return err
		},
		pipeline.ActListMembers: func(p referral.Principal) error { _, err := s.CommitteeMembers(ctx, p); return err },
		pipeline.ActAddCommitteeMember: func(p referral.Principal) error {
			_, _, err := s.AddCommitteeMember(ctx, p, "", "", "")
			return err
		},
		pipeline.ActChangeMember: func(p referral.Principal) error {
			_, err := s.ChangeCommitteeRole(ctx, p, id, "pope")
			return err
		},
		pipeline.ActRemoveMember:      func(p referral.Principal) error { _, err := s.RemoveCommitteeMember(ctx, p, id); return err },
		pipeline.ActListOrganisations: func(p referral.Principal) error { _, err := s.Organisations(ctx, p); return err },
		pipeline.ActSaveOrganisation: func(p referral.Principal) error {
			_, err := s.SaveOrganisation(ctx, p, referral.Organisation{})
			return err
		},
		pipeline.ActIssueToken: func(p referral.Principal) error {
			_, err := s.IssueToken(ctx, p, "nobody", id)
			return err
		},
		pipeline.ActRevokeTokens: func(p referral.Principal) error { return s.RevokeTokens(ctx, p, "nobody", id) },
		pipeline.ActFollowUp: func(p referral.Principal) error {
			_, err := s.FollowUp(ctx, p, "names-nothing")
			return err
		},
		pipeline.ActFeedbackComments: func(p referral.Principal) error { _, _, err := s.Feedback(ctx, p, 2026); return err },
		pipeline.ActReport: func(p referral.Principal) error {
			_, err := s.Report(ctx, p, unread[pipeline.Period]())
			return err
		},
	}
	// The committee's caller is its Chair: of the committee, only the
	// Chair may change it (an office the use cases check, not a role).
	chair, err := db.CreateCommitteeMember(ctx, referral.Principal{Role: referral.RoleOperator}, referral.CommitteeMember{Name: "C", Email: "c@example.org", Role: "chair"})
	if err != nil {
		t.Fatal(err)
	}
	callers := []referral.Principal{
		pipeline.Anonymous,
		{Role: referral.RoleTrainee, Subject: "4f0e9a3c-0c1d-4d6b-9a57-1f2e3d4c5b6a"},
		{Role: referral.RoleCommittee, Subject: chair.ID},
		{Role: referral.RoleTherapist, Subject: "t1"},
		{Role: referral.RoleOperator, Subject: "admin"},
	}
	for _, a := range pipeline.Actions() {
		call, ok := calls[a]
		if !ok {
			t.Errorf("action %s has no use case call in this test", a)
			continue
		}
		delete(calls, a)
		roles := pipeline.Roles(a)
		for _, p := range callers {
			err := call(p)
			var got pipeline.Outcome
			if e := (*pipeline.Error)(nil); errors.As(err, &e) {
				got = e.Outcome
			}
			switch {
			case roles == nil || slices.Contains(roles, p.Role):
				if got == pipeline.Unauthenticated || got == pipeline.Forbidden {
					t.Errorf("%s as %q: %v, but the access table allows it", a, p.Role, err)
				}
			case p.Role == "":
				if got != pipeline.Unauthenticated {
					t.Errorf("%s anonymously: %v, want unauthenticated", a, err)
				}
			case got != pipeline.Forbidden:
				t.Errorf("%s as %s: %v, want forbidden", a, p.Role, err)
			}
		}
	}
	for a := range calls {
		t.Errorf("this test calls %s, which is not in the access table", a)
	}
}
