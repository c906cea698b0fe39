package pipeline

import (
	"context"
	"errors"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/wmtna/referrals/internal/referral"
)

// hcpcPattern is the shape of an HCPC practitioner psychologist number.
var hcpcPattern = regexp.MustCompile(`^PYL[0-9]{1,8}$`)

// TherapistChange adds a therapist to the register or changes one; nil
// leaves a field as it is (on adding: as its default).
type TherapistChange struct {
	Name, Email, HCPCNumber *string
	Capacity                *int
	Active, Remote          *bool
	Locations               *[]string
	Conflicts               *referral.Conflicts
}

// check validates the fields present; adding needs the identifying ones.
func (q TherapistChange) check(adding bool) error {
	if adding {
		for _, f := range []struct {
			name string
			ok   bool
		}{{"name", q.Name != nil}, {"email", q.Email != nil}, {"hcpc_number", q.HCPCNumber != nil}, {"capacity", q.Capacity != nil}} {
			if !f.ok {
				return FieldError(f.name, "%s is required", f.name)
			}
		}
	} else if q.HCPCNumber != nil {
		return FieldError("hcpc_number", "hcpc_number cannot be changed")
	}
	if q.Name != nil && !oneLine(*q.Name, 200) {
		return FieldError("name", "name must be 1 to 200 characters of plain text")
	}
	if q.Email != nil {
		if err := checkAddress(*q.Email); err != nil {
			return err
		}
	}
	if q.HCPCNumber != nil && !hcpcPattern.MatchString(*q.HCPCNumber) {
		return FieldError("hcpc_number", "hcpc_number must be an HCPC practitioner psychologist number: PYL followed by digits")
	}
	if q.Capacity != nil && (*q.Capacity < 0 || *q.Capacity > 50) {
		return FieldError("capacity", "capacity must be from 0 to 50")
	}
	if q.Locations != nil {
		if len(*q.Locations) > 20 {
			return FieldError("locations", "at most 20 locations")
		}
		for _, l := range *q.Locations {
			if !oneLine(l, 100) {
				return FieldError("locations", "each location must be 1 to 100 characters of plain text")
			}
		}
	}
	if q.Conflicts != nil {
		for _, p := range q.Conflicts.Programmes {
			if !referral.KnownProgramme(p) {
				return FieldError("conflicts.programmes", "%q is not a programme; use one of %s", p, strings.Join(referral.Programmes, ", "))
			}
		}
		for _, e := range q.Conflicts.Employers {
			if !referral.OrgCodePattern.MatchString(e) {
				return FieldError("conflicts.employers", "%q is not an organisation code", e)
			}
		}
	}
	return nil
}

// oneLine reports whether s is a line of typed text, not blank, of at most
// max characters.
func oneLine(s string, max int) bool {
	return strings.TrimSpace(s) != "" && utf8.RuneCountInString(s) <= max && referral.Typed(s, false)
}

// checkAddress refuses a staff address that is not one plain ASCII address
// exactly as given: it is stored as given, and found by its
// referral.EmailKey when its owner signs in.
func checkAddress(email string) error {
	addr, err := referral.ParseEmail(email)
	switch {
	case err != nil:
		return FieldError("email", "%s", err)
	case addr != email:
		return FieldError("email", "%s", referral.ErrEmailNotPlain)
	}
	return nil
}

// AddTherapist adds a therapist to the register and returns them with
// their first token. Their free places go to the waitlist at once.
func (s *Service) AddTherapist(ctx context.Context, p referral.Principal, q TherapistChange) (referral.Therapist, string, error) {
	if err := allowed(p, ActAddTherapist); err != nil {
		return referral.Therapist{}, "", err
	}
	if err := q.check(true); err != nil {
		return referral.Therapist{}, "", err
	}
	t := referral.Therapist{Name: strings.TrimSpace(*q.Name), Email: *q.Email, HCPCNumber: *q.HCPCNumber, Capacity: *q.Capacity, Active: true}
	if q.Active != nil {
		t.Active = *q.Active
	}
	if q.Remote != nil {
		t.Remote = *q.Remote
	}
	if q.Locations != nil {
		t.Locations = *q.Locations
	}
	if q.Conflicts != nil {
		t.Conflicts = *q.Conflicts
	}
	t, err := s.DB.CreateTherapist(ctx, t)
	if errors.Is(err, referral.ErrDuplicate) {
		return t, "", &Error{Outcome: Conflict, Code: "duplicate", Field: "hcpc_number", Message: "a therapist with this HCPC number is already registered"}
	}
	if err != nil {
		return t, "", s.failed(ctx, "add therapist", "", err)
	}
	token, err := s.DB.IssueToken(ctx, referral.RoleTherapist, t.ID, nil)
	if err != nil {
		return t, "", s.failed(ctx, "issue therapist token", "", err)
	}
	s.placesChanged(ctx, t.ID)
	return t, token, nil
}

// ChangeTherapist changes a therapist's entry in the register. Capacity
// cannot go below the places already offered or taken.
func (s *Service) ChangeTherapist(ctx context.Context, p referral.Principal, id string, q TherapistChange) (referral.Therapist, error) {
	if err := allowed(p, ActChangeTherapist); err != nil {
		return referral.Therapist{}, err
	}
	if err := q.check(false); err != nil {
		return referral.Therapist{}, err
	}
	if !validID(id) {
		return referral.Therapist{}, ErrNotFound
	}
	t, err := s.DB.UpdateTherapist(ctx, id, referral.TherapistPatch{
		Name: q.Name, Email: q.Email, Capacity: q.Capacity, Active: q.Active, Remote: q.Remote, Locations: q.Locations, Conflicts: q.Conflicts,
	})
	if errors.Is(err, referral.ErrConflict) {
		return t, &Error{Outcome: Conflict, Code: "capacity_in_use", Field: "capacity", Message: "capacity cannot go below the places already offered or taken"}
	}
	if err != nil {
		return t, s.failed(ctx, "change therapist", "", err)
	}
	s.placesChanged(ctx, id)
	return t, nil
}

// placesChanged tells waiting referrals about places the store has just
// offered them (adding or changing a therapist fills their free places in
// the same transaction). A failure is only logged: the offers are
// committed, and each waiting referral's periodic recheck finds its own.
func (s *Service) placesChanged(ctx context.Context, therapistID string) {
	if err := s.Announcer.Announce(ctx); err != nil {
		s.Logger.ErrorContext(ctx, "announce offers", "therapist_id", therapistID, "err", err)
	}
}

// AddCommitteeMember adds a member to the committee and returns them with
// their first token.
func (s *Service) AddCommitteeMember(ctx context.Context, p referral.Principal, name, email, office string) (referral.CommitteeMember, string, error) {
	var m referral.CommitteeMember
	if err := allowed(p, ActAddCommitteeMember); err != nil {
		return m, "", err
	}
	switch {
	case !oneLine(name, 200):
		return m, "", FieldError("name", "name must be 1 to 200 characters of plain text")
	case email == "":
		return m, "", FieldError("email", "email is required")
	case !slices.Contains(referral.CommitteeRoles, office):
		return m, "", FieldError("role", "role must be one of %s", strings.Join(referral.CommitteeRoles, ", "))
	}
	if err := checkAddress(email); err != nil {
		return m, "", err
	}
	m, err := s.DB.CreateCommitteeMember(ctx, referral.CommitteeMember{Name: strings.TrimSpace(name), Email: email, Role: office})
	if err != nil {
		return m, "", s.failed(ctx, "add committee member", "", err)
	}
	token, err := s.DB.IssueToken(ctx, referral.RoleCommittee, m.ID, nil)
	if err != nil {
		return m, "", s.failed(ctx, "issue committee token", "", err)
	}
	return m, token, nil
}

// Organisations is the register of employers.
func (s *Service) Organisations(ctx context.Context, p referral.Principal) ([]referral.Organisation, error) {
	if err := allowed(p, ActListOrganisations); err != nil {
		return nil, err
	}
	return s.organisations(ctx)
}

// Employers are the organisations a trainee can choose on the referral
// form: the active ones of the register, for anyone.
func (s *Service) Employers(ctx context.Context) ([]referral.Organisation, error) {
	orgs, err := s.organisations(ctx)
	return slices.DeleteFunc(orgs, func(o referral.Organisation) bool { return !o.Active }), err
}

func (s *Service) organisations(ctx context.Context) ([]referral.Organisation, error) {
	orgs, err := s.DB.Organisations(ctx)
	if err != nil {
		return nil, s.failed(ctx, "load organisations", "", err)
	}
	return orgs, nil
}

// SaveOrganisation adds an employer to the register, or changes one.
func (s *Service) SaveOrganisation(ctx context.Context, p referral.Principal, o referral.Organisation) (referral.Organisation, error) {
	if err := allowed(p, ActSaveOrganisation); err != nil {
		return o, err
	}
	switch {
	case !referral.OrgCodePattern.MatchString(o.Code):
		return o, FieldError("code", "code must be an NHS ODS organisation code: 3 to 6 upper-case letters and digits")
	case !oneLine(o.Name, 200):
		return o, FieldError("name", "name must be 1 to 200 characters of plain text")
	case o.Kind != "nhs_trust" && o.Kind != "nhs_contracted":
		return o, FieldError("kind", `kind must be "nhs_trust" or "nhs_contracted"`)
	}
	o.Name = strings.TrimSpace(o.Name)
	o, err := s.DB.UpsertOrganisation(ctx, o)
	if err != nil {
		return o, s.failed(ctx, "save organisation", "", err)
	}
	return o, nil
}

// IssueToken gives a therapist or committee member a new token (their old
// ones keep working until revoked), to be shown this once.
func (s *Service) IssueToken(ctx context.Context, p referral.Principal, role referral.Role, subject string) (string, error) {
	if err := allowed(p, ActIssueToken); err != nil {
		return "", err
	}
	if role != referral.RoleTherapist && role != referral.RoleCommittee {
		return "", FieldError("role", `role must be "therapist" or "committee"`)
	}
	if !validID(subject) {
		return "", FieldError("subject", "subject must be the id of a therapist or committee member")
	}
	var err error
	if role == referral.RoleTherapist {
		_, err = s.DB.Therapist(ctx, subject)
	} else {
		err = s.DB.CommitteeMemberExists(ctx, subject)
	}
	if err != nil {
		return "", s.failed(ctx, "find token subject", "", err)
	}
	token, err := s.DB.IssueToken(ctx, role, subject, nil)
	if err != nil {
		return "", s.failed(ctx, "issue token", "", err)
	}
	return token, nil
}

// RevokeTokens revokes every token of a person (or, for role trainee, of a
// referral). Revoking twice is harmless.
func (s *Service) RevokeTokens(ctx context.Context, p referral.Principal, role referral.Role, subject string) error {
	if err := allowed(p, ActRevokeTokens); err != nil {
		return err
	}
	switch role {
	case referral.RoleTrainee, referral.RoleTherapist, referral.RoleCommittee:
	default:
		return &Error{Outcome: Malformed, Code: "invalid_parameter", Field: "role", Message: "role must be trainee, therapist or committee"}
	}
	if !validID(subject) {
		return ErrNotFound
	}
	if err := s.DB.RevokeTokens(ctx, role, subject); err != nil {
		return s.failed(ctx, "revoke tokens", "", err)
	}
	return nil
}
