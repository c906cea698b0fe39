package pipeline

import (
	"context"
	"errors"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/wmtna/referrals/internal/referral"
	"github.com/wmtna/referrals/workflows"
)

// hcpcPattern is the shape of an HCPC practitioner psychologist number.
var hcpcPattern = regexp.MustCompile(`^PYL[0-9]{1,8}$`)

// TherapistChange adds a therapist to the register or changes one; nil
// leaves a field as it is (on adding: as its default).
type TherapistChange struct {
	Name, Email, HCPCNumber *string
	Disciplines             *[]string
	Capacity                *int
	Online, InPerson        *bool
	Areas                   *[]string
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
		return FieldError("hcpc_number", "hcpc_number must be an HCPC practitioner psychologist number: PYL followed by digits, such as PYL01234")
	}
	if q.Disciplines != nil {
		for _, p := range *q.Disciplines {
			if !referral.KnownProgramme(p) {
				return FieldError("disciplines", "%q is not a practitioner psychologist discipline; use %s", p, strings.Join(referral.Programmes, ", "))
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
	return Availability{Capacity: q.Capacity, Online: q.Online, InPerson: q.InPerson, Areas: q.Areas}.checkShape()
}

// Availability is what a therapist keeps of their own entry: how many
// clients they take, how and where they work, and whether they are away
// (until a date, or until further notice). nil leaves a field as it is.
type Availability struct {
	Capacity         *int
	Online, InPerson *bool
	Areas            *[]string
	// Away, when given, pauses (true) or resumes (false) them; AwayUntil
	// is the day they come back by themselves, and implies Away.
	Away      *bool
	AwayUntil *referral.Date
}

func (a Availability) checkShape() error {
	if a.Capacity != nil && (*a.Capacity < 0 || *a.Capacity > 50) {
		return FieldError("capacity", "capacity must be from 0 to 50")
	}
	if a.Areas != nil {
		if len(*a.Areas) > referral.MaxAreas {
			return FieldError("areas", "areas may name at most %d areas", referral.MaxAreas)
		}
		for _, code := range *a.Areas {
			if !referral.AreaCodePattern.MatchString(code) {
				return FieldError("areas", "areas must be area codes such as birmingham; GET /v1/areas lists them")
			}
		}
	}
	if a.Online != nil && a.InPerson != nil && !*a.Online && !*a.InPerson {
		return FieldError("online", "a therapist works online, in person or both")
	}
	return nil
}

// checkAreas refuses an area that is not on the committee's list (an area
// no longer active may stay where it was, but not be newly chosen).
func (s *Service) checkAreas(ctx context.Context, field string, codes, had []string) error {
	if len(codes) == 0 {
		return nil
	}
	areas, err := s.DB.Areas(ctx)
	if err != nil {
		return s.failed(ctx, "load areas", "", err)
	}
	for _, code := range codes {
		ok := slices.ContainsFunc(areas, func(a referral.Area) bool { return a.Code == code && (a.Active || slices.Contains(had, code)) })
		if !ok {
			return FieldError(field, "%q is not one of the network's areas; GET /v1/areas lists them", code)
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
	t := referral.Therapist{Name: strings.TrimSpace(*q.Name), Email: *q.Email, HCPCNumber: *q.HCPCNumber, Capacity: *q.Capacity,
		Active: true, Online: true}
	if q.Disciplines != nil {
		t.Disciplines = *q.Disciplines
	}
	if q.Online != nil {
		t.Online = *q.Online
	}
	if q.InPerson != nil {
		t.InPerson = *q.InPerson
	}
	if q.Areas != nil {
		t.Areas = *q.Areas
	}
	if q.Conflicts != nil {
		t.Conflicts = *q.Conflicts
	}
	if err := checkWorks(t.Online, t.InPerson, t.Areas); err != nil {
		return t, "", err
	}
	if err := s.checkAreas(ctx, "areas", t.Areas, nil); err != nil {
		return t, "", err
	}
	t, err := s.DB.CreateTherapist(ctx, p, t)
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

// checkWorks refuses a way of working that no trainee could meet: neither
// online nor in person, or in person with no area.
func checkWorks(online, inPerson bool, areas []string) error {
	switch {
	case !online && !inPerson:
		return FieldError("online", "a therapist works online, in person or both")
	case inPerson && len(areas) == 0:
		return FieldError("areas", "areas must name at least one area where the therapist sees people in person")
	case !inPerson && len(areas) > 0:
		return FieldError("areas", "areas are where the therapist sees people in person; set in_person, or leave areas empty")
	}
	return nil
}

// ChangeTherapist changes a therapist's entry in the register. Capacity may
// go below the places already offered or taken: it takes effect as those
// clients finish.
func (s *Service) ChangeTherapist(ctx context.Context, p referral.Principal, id string, q TherapistChange) (referral.Therapist, error) {
	if err := allowed(p, ActChangeTherapist); err != nil {
		return referral.Therapist{}, err
	}
	if err := q.check(false); err != nil {
		return referral.Therapist{}, err
	}
	before, err := s.therapist(ctx, id)
	if err != nil {
		return before, err
	}
	if err := s.checkWorking(ctx, before, q.Online, q.InPerson, q.Areas); err != nil {
		return before, err
	}
	t, err := s.DB.UpdateTherapist(ctx, p, id, referral.TherapistPatch{
		Name: q.Name, Email: q.Email, Disciplines: q.Disciplines, Capacity: q.Capacity,
		Online: q.Online, InPerson: q.InPerson, Areas: withoutAreas(q.InPerson, q.Areas), Conflicts: q.Conflicts,
	})
	if err != nil {
		return t, s.failed(ctx, "change therapist", "", err)
	}
	s.placesChanged(ctx, id)
	return t, nil
}

// therapist loads the therapist id names, NotFound for any id not on the
// register.
func (s *Service) therapist(ctx context.Context, id string) (referral.Therapist, error) {
	if !validID(id) {
		return referral.Therapist{}, ErrNotFound
	}
	t, err := s.DB.Therapist(ctx, id)
	if err != nil {
		return t, s.failed(ctx, "load therapist", "", err)
	}
	return t, nil
}

// checkWorking checks how a therapist would work after a change.
func (s *Service) checkWorking(ctx context.Context, t referral.Therapist, online, inPerson *bool, areas *[]string) error {
	had := t.Areas
	if online != nil {
		t.Online = *online
	}
	if inPerson != nil {
		t.InPerson = *inPerson
	}
	if areas != nil {
		t.Areas = *areas
	} else if inPerson != nil && !*inPerson {
		t.Areas = nil // no longer in person: their areas go with it
	}
	if err := checkWorks(t.Online, t.InPerson, t.Areas); err != nil {
		return err
	}
	if areas != nil {
		return s.checkAreas(ctx, "areas", *areas, had)
	}
	return nil
}

// withoutAreas clears the areas of a therapist who stops seeing people in
// person, unless the change names them itself.
func withoutAreas(inPerson *bool, areas *[]string) *[]string {
	if inPerson != nil && !*inPerson && areas == nil {
		return &[]string{}
	}
	return areas
}

// Therapist is one therapist's entry: for the committee and operators, any;
// for a therapist, their own only.
func (s *Service) Therapist(ctx context.Context, p referral.Principal, id string) (referral.Therapist, error) {
	if err := allowed(p, ActReadTherapist); err != nil {
		return referral.Therapist{}, err
	}
	if p.Role == referral.RoleTherapist && p.Subject != id {
		return referral.Therapist{}, ErrNotFound
	}
	return s.therapist(ctx, id)
}

// SetAvailability changes what a therapist keeps of their own entry. A
// therapist may change only their own; the committee and operators anyone's.
// Coming back, or more room, gives the free places to the waitlist at once.
// Going away until a date arranges, durably, that they come back on it.
//
// The change is read (in) only once the caller is known to be allowed it,
// so someone else's therapist learns nothing from a malformed body.
func (s *Service) SetAvailability(ctx context.Context, p referral.Principal, id string, in Input[Availability]) (referral.Therapist, error) {
	if err := allowed(p, ActSetAvailability); err != nil {
		return referral.Therapist{}, err
	}
	if p.Role == referral.RoleTherapist && p.Subject != id {
		return referral.Therapist{}, ErrNotFound
	}
	a, err := in()
	if err != nil {
		return referral.Therapist{}, err
	}
	if err := a.checkShape(); err != nil {
		return referral.Therapist{}, err
	}
	if a.AwayUntil != nil {
		if a.Away != nil && !*a.Away {
			return referral.Therapist{}, FieldError("away_until", "away_until is the day an away therapist comes back; leave it out to come back now")
		}
		if !s.today().Before(*a.AwayUntil) {
			return referral.Therapist{}, FieldError("away_until", "away_until must be a day after today")
		}
		if s.today().AddMonths(24).Before(*a.AwayUntil) {
			return referral.Therapist{}, FieldError("away_until", "away_until must be within two years; choose \"until further notice\" instead")
		}
		away := true
		a.Away = &away
	}
	t, err := s.therapist(ctx, id)
	if err != nil {
		return t, err
	}
	if t.RetiredAt != nil {
		return t, &Error{Outcome: Conflict, Code: "retired", Message: "this therapist has retired from the register"}
	}
	if err := s.checkWorking(ctx, t, a.Online, a.InPerson, a.Areas); err != nil {
		return t, err
	}
	if a.Capacity != nil || a.Online != nil || a.InPerson != nil || a.Areas != nil {
		patch := referral.TherapistPatch{Capacity: a.Capacity, Online: a.Online, InPerson: a.InPerson, Areas: withoutAreas(a.InPerson, a.Areas)}
		if t, err = s.DB.UpdateTherapist(ctx, p, id, patch); err != nil {
			return t, s.failed(ctx, "change availability", "", err)
		}
	}
	switch {
	case a.Away == nil:
	case *a.Away:
		if a.AwayUntil != nil {
			// The timer starts before the pause is stored: if storing
			// fails, the timer wakes to find them not away until that
			// day and changes nothing; the other way round, a crash
			// between the two would leave them away for good.
			if err := s.startReturn(ctx, id, *a.AwayUntil); err != nil {
				return t, s.failed(ctx, "arrange return", "", err)
			}
		}
		if t, err = s.DB.PauseTherapist(ctx, p, id, a.AwayUntil); err != nil {
			return t, s.failed(ctx, "mark away", "", err)
		}
	default:
		if t, err = s.DB.ResumeTherapist(ctx, p, id); err != nil {
			return t, s.failed(ctx, "mark back", "", err)
		}
	}
	s.placesChanged(ctx, id)
	return t, nil
}

// startReturn starts the durable timer that brings a therapist back on the
// day they said. One workflow per therapist and day, so asking twice starts
// one.
func (s *Service) startReturn(ctx context.Context, id string, until referral.Date) error {
	_, err := s.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       workflows.TherapistReturnWorkflowID(id, until),
		TaskQueue:                workflows.TaskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		StaticSummary:            "Therapist " + id + " comes back on " + until.String(),
	}, workflows.TherapistReturnWorkflowName, workflows.TherapistReturnInput{TherapistID: id, Until: until})
	return err
}

// RetireTherapist takes a therapist off the register: they are offered no
// new referral, and keep their current clients until therapy ends.
func (s *Service) RetireTherapist(ctx context.Context, p referral.Principal, id string) (referral.Therapist, error) {
	if err := allowed(p, ActRetireTherapist); err != nil {
		return referral.Therapist{}, err
	}
	if _, err := s.therapist(ctx, id); err != nil {
		return referral.Therapist{}, err
	}
	t, err := s.DB.RetireTherapist(ctx, p, id)
	if err != nil {
		return t, s.failed(ctx, "retire therapist", "", err)
	}
	return t, nil
}

// RegisterHistory is the register's history, newest first, a page at a
// time: all of it, or one entry's (entity and id). before is the ID of the
// last change already seen, 0 for the newest.
func (s *Service) RegisterHistory(ctx context.Context, p referral.Principal, entity, id string, before int64, limit int) ([]referral.RegisterChange, error) {
	if err := allowed(p, ActRegisterHistory); err != nil {
		return nil, err
	}
	if limit <= 0 || limit > 200 {
		limit = 50
	}
	h, err := s.DB.RegisterHistory(ctx, entity, id, before, limit)
	if err != nil {
		return nil, s.failed(ctx, "load register history", "", err)
	}
	return h, nil
}

// Areas is the committee's list of areas where people meet in person: for
// anyone, as the referral form offers them.
func (s *Service) Areas(ctx context.Context, p referral.Principal) ([]referral.Area, error) {
	if err := allowed(p, ActListAreas); err != nil {
		return nil, err
	}
	areas, err := s.DB.Areas(ctx)
	if err != nil {
		return nil, s.failed(ctx, "load areas", "", err)
	}
	return areas, nil
}

// SaveArea adds an area to the list, or renames one or retires it.
func (s *Service) SaveArea(ctx context.Context, p referral.Principal, a referral.Area) (referral.Area, error) {
	if err := allowed(p, ActSaveArea); err != nil {
		return a, err
	}
	switch {
	case !referral.AreaCodePattern.MatchString(a.Code):
		return a, FieldError("code", "code must be 2 to 40 lower-case letters, digits and hyphens, starting with a letter, such as stoke-on-trent")
	case !oneLine(a.Name, 100):
		return a, FieldError("name", "name must be 1 to 100 characters of plain text")
	}
	a.Name = strings.TrimSpace(a.Name)
	a, err := s.DB.SaveArea(ctx, p, a)
	if err != nil {
		return a, s.failed(ctx, "save area", "", err)
	}
	return a, nil
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
