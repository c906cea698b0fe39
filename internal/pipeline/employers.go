package pipeline

import (
	"context"
	"slices"
	"strings"

	"github.com/wmtna/referrals/internal/referral"
)

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

// SaveOrganisation adds an employer to the register, or changes one (its
// name, kind, or whether it is listed: one no longer listed is offered to
// no new trainee), recording who did it in the register's history.
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
	o, err := s.DB.SaveOrganisation(ctx, p, o)
	if err != nil {
		return o, s.failed(ctx, "save organisation", "", err)
	}
	return o, nil
}

// EligibleToday applies the network's rules to a checked submission as if
// it were sent now, for the referral form to tell a trainee the network is
// not for them before they type their concerns. The workflow still decides
// on the referral itself, by the same rules. A service not on the register
// passes the employer rule: the committee checks it before approving.
func (s *Service) EligibleToday(ctx context.Context, sub referral.Submission) (referral.Eligibility, error) {
	registered := sub.EmployerName != ""
	if !registered {
		orgs, err := s.Employers(ctx)
		if err != nil {
			return referral.Eligibility{}, err
		}
		registered = slices.ContainsFunc(orgs, func(o referral.Organisation) bool { return o.Code == sub.Employer })
	}
	return referral.CheckEligibility(referral.DateOf(s.now()), sub.Programme, registered, sub.TrainingStart, sub.ExpectedQualification), nil
}
