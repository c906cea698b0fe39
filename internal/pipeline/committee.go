package pipeline

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/wmtna/referrals/internal/postgres"
	"github.com/wmtna/referrals/internal/referral"
)

// ErrNotChair refuses a committee member who is not the Chair a change to
// the committee.
var ErrNotChair = &Error{Outcome: Forbidden, Code: "not_chair", Message: "only the Chair can add, change or remove committee members"}

// chair lets an operator, or a committee member whose office is Chair,
// change the committee: the access table gives the committee role, and
// which member holds which office is in the register.
func (s *Service) chair(ctx context.Context, p referral.Principal) error {
	if p.Role == referral.RoleOperator {
		return nil
	}
	if !validID(p.Subject) {
		return ErrNotChair
	}
	m, err := s.DB.CommitteeMember(ctx, p.Subject)
	switch {
	case errors.Is(err, referral.ErrNotFound):
		return ErrNotChair
	case err != nil:
		return s.failed(ctx, "load committee member", "", err)
	case m.RemovedAt != nil || m.Role != "chair":
		return ErrNotChair
	}
	return nil
}

// committeeRefusal words the store's refusals of a change to the committee;
// field is the field that would have left the committee without a Chair.
func committeeRefusal(err error, field string) error {
	switch {
	case errors.Is(err, postgres.ErrLastChair):
		return &Error{Outcome: Conflict, Code: "last_chair", Field: field,
			Message: "the committee must keep a Chair: make another member Chair first"}
	case errors.Is(err, postgres.ErrMemberRemoved):
		return &Error{Outcome: Conflict, Code: "removed", Message: "this member has been removed from the committee"}
	case errors.Is(err, referral.ErrDuplicate):
		return &Error{Outcome: Conflict, Code: "duplicate", Field: "email", Message: "a committee member already has this email address"}
	}
	return nil
}

func checkOffice(office string) error {
	if !slices.Contains(referral.CommitteeRoles, office) {
		return FieldError("role", "role must be one of %s", strings.Join(referral.CommitteeRoles, ", "))
	}
	return nil
}

// CommitteeMembers lists everyone who is or was on the committee, oldest
// first; a removed member has RemovedAt set.
func (s *Service) CommitteeMembers(ctx context.Context, p referral.Principal) ([]referral.CommitteeMember, error) {
	if err := allowed(p, ActListMembers); err != nil {
		return nil, err
	}
	ms, err := s.DB.CommitteeRoll(ctx)
	if err != nil {
		return nil, s.failed(ctx, "list committee members", "", err)
	}
	return ms, nil
}

// AddCommitteeMember adds a member to the committee. An operator gets their
// first token back, to hand over; the Chair does not (it would let them act
// as the new member), and the new member signs in by email.
func (s *Service) AddCommitteeMember(ctx context.Context, p referral.Principal, name, email, office string) (referral.CommitteeMember, string, error) {
	var m referral.CommitteeMember
	if err := allowed(p, ActAddCommitteeMember); err != nil {
		return m, "", err
	}
	if err := s.chair(ctx, p); err != nil {
		return m, "", err
	}
	switch {
	case strings.TrimSpace(name) == "":
		return m, "", FieldError("name", "name is required")
	case !oneLine(name, 200):
		return m, "", FieldError("name", "name must be 1 to 200 characters of plain text")
	case email == "":
		return m, "", FieldError("email", "email is required")
	}
	if err := checkAddress(email); err != nil {
		return m, "", err
	}
	if err := checkOffice(office); err != nil {
		return m, "", err
	}
	m, err := s.DB.CreateCommitteeMember(ctx, p, referral.CommitteeMember{Name: strings.TrimSpace(name), Email: email, Role: office})
	if refusal := committeeRefusal(err, ""); refusal != nil {
		return m, "", refusal
	}
	if err != nil {
		return m, "", s.failed(ctx, "add committee member", "", err)
	}
	if p.Role != referral.RoleOperator {
		return m, "", nil
	}
	token, err := s.DB.IssueToken(ctx, referral.RoleCommittee, m.ID, nil)
	if err != nil {
		return m, "", s.failed(ctx, "issue committee token", "", err)
	}
	return m, token, nil
}

// ChangeCommitteeRole gives a member another office. The last Chair cannot
// be made anything else.
func (s *Service) ChangeCommitteeRole(ctx context.Context, p referral.Principal, id, office string) (referral.CommitteeMember, error) {
	var m referral.CommitteeMember
	if err := allowed(p, ActChangeMember); err != nil {
		return m, err
	}
	if err := s.chair(ctx, p); err != nil {
		return m, err
	}
	if !validID(id) {
		return m, ErrNotFound
	}
	if err := checkOffice(office); err != nil {
		return m, err
	}
	m, err := s.DB.ChangeCommitteeRole(ctx, p, id, office)
	if refusal := committeeRefusal(err, "role"); refusal != nil {
		return m, refusal
	}
	if err != nil {
		return m, s.failed(ctx, "change committee role", "", err)
	}
	return m, nil
}

// RemoveCommitteeMember takes a member off the committee at once and for
// good: every token and session of theirs stops working now, and no
// sign-in link is sent to them again. They stay in the list, as removed.
// The last Chair cannot be removed.
func (s *Service) RemoveCommitteeMember(ctx context.Context, p referral.Principal, id string) (referral.CommitteeMember, error) {
	var m referral.CommitteeMember
	if err := allowed(p, ActRemoveMember); err != nil {
		return m, err
	}
	if err := s.chair(ctx, p); err != nil {
		return m, err
	}
	if !validID(id) {
		return m, ErrNotFound
	}
	m, err := s.DB.RemoveCommitteeMember(ctx, p, id)
	if refusal := committeeRefusal(err, ""); refusal != nil {
		return m, refusal
	}
	if err != nil {
		return m, s.failed(ctx, "remove committee member", "", err)
	}
	s.Logger.InfoContext(ctx, "committee member removed", "member_id", id)
	return m, nil
}
