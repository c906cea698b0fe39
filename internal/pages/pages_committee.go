package pages

import (
	"cmp"
	"net/http"
	"slices"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/wmtna/referrals/internal/pipeline"
	"github.com/wmtna/referrals/internal/referral"
)

// committeeRoutes are the pages where the committee keeps itself and the
// employer register. Any member sees them; the Chair alone changes the
// committee (the use cases refuse anyone else, and the pages offer them no
// form).
func (s *Site) committeeRoutes(r chi.Router) {
	r.With(s.signedIn(referral.RoleCommittee)).Get("/committee/members", s.membersPage)
	r.With(s.signedIn(referral.RoleCommittee)).Post("/committee/members", s.addMemberSubmit)
	r.With(s.signedIn(referral.RoleCommittee)).Get("/committee/members/{id}/office", s.officePage)
	r.With(s.signedIn(referral.RoleCommittee)).Post("/committee/members/{id}/office", s.officeSubmit)
	r.With(s.signedIn(referral.RoleCommittee)).Get("/committee/members/{id}/remove", s.removeMemberPage)
	r.With(s.signedIn(referral.RoleCommittee)).Post("/committee/members/{id}/remove", s.removeMemberSubmit)
	r.With(s.signedIn(referral.RoleCommittee)).Get("/committee/employers", s.employersPage)
	r.With(s.signedIn(referral.RoleCommittee)).Post("/committee/employers", s.addEmployerSubmit)
	r.With(s.signedIn(referral.RoleCommittee)).Post("/committee/employers/{code}/listed", s.employerListedSubmit)
}

// option is one choice of a set of radios: its value, and its label.
type option struct{ Value, Label string }

// offices are the committee's offices, as people write them.
var offices = func() []option {
	names := map[string]string{"chair": "Chair", "secretary": "Secretary", "treasurer": "Treasurer", "member": "Member"}
	out := make([]option, len(referral.CommitteeRoles))
	for i, r := range referral.CommitteeRoles {
		out[i] = option{r, names[r]}
	}
	return out
}()

func officeName(role string) string {
	for _, o := range offices {
		if o.Value == role {
			return o.Label
		}
	}
	return role
}

// member is a committee member as the pages show them.
type member struct {
	referral.CommitteeMember
	Office string
}

// staffProblems words the use cases' refusals for the committee's forms:
// what to do, in the form's words, where there is a plainer way to say it.
func staffProblems(words map[string]string, errs ...*pipeline.Error) []*pipeline.Error {
	out := make([]*pipeline.Error, len(errs))
	for i, e := range errs {
		c := *e
		if w, ok := words[c.Code]; ok {
			c.Message = w
		} else if w, ok := words[c.Field]; ok && c.Code == "invalid_field" {
			c.Message = w
		} else if c.Message != "" {
			c.Message = strings.ToUpper(c.Message[:1]) + c.Message[1:]
		}
		out[i] = &c
	}
	return out
}

// errNotChair is pipeline.ErrNotChair in a page's words.
var errNotChair = &pipeline.Error{Outcome: pipeline.Forbidden, Code: "not_chair", Message: "Only the Chair can add, change or remove committee members."}

// refused shows a refusal of a committee form as a page of its own.
func (s *Site) refused(w http.ResponseWriter, r *http.Request, e *pipeline.Error) {
	if e.Code == errNotChair.Code {
		e = errNotChair
	}
	s.pageError(w, r, e)
}

var memberWords = map[string]string{
	"name":       "Enter the member's full name, in at most 200 characters",
	"email":      "Enter the member's email address, such as name@nhs.net",
	"role":       "Choose the member's office",
	"duplicate":  "A member of the committee already has this email address",
	"last_chair": "The committee must keep a Chair. Make another member Chair first.",
	"removed":    "This member has already been removed from the committee.",
}

type memberForm struct {
	Name, Email, Role string
}

type membersView struct {
	Current, Removed []member
	IsChair          bool
	You              string
	Offices          []option
	Form             memberForm
}

// committee loads the committee for a page, and whether the person signed
// in is its Chair.
func (s *Site) committee(r *http.Request) (membersView, error) {
	sess, _ := currentSession(r)
	all, err := s.App.CommitteeMembers(r.Context(), sess.Principal)
	if err != nil {
		return membersView{}, err
	}
	v := membersView{You: sess.Subject, Offices: offices}
	for _, cm := range all {
		m := member{cm, officeName(cm.Role)}
		if m.RemovedAt != nil {
			v.Removed = append(v.Removed, m)
			continue
		}
		v.Current = append(v.Current, m)
		if m.ID == sess.Subject && m.Role == "chair" {
			v.IsChair = true
		}
	}
	return v, nil
}

func (s *Site) membersPage(w http.ResponseWriter, r *http.Request) {
	notice := map[string]string{"added": "Member added. They can sign in with their email address.", "changed": "Office changed.",
		"removed": "Member removed. They have been signed out."}[r.URL.Query().Get("done")]
	s.showMembers(w, r, http.StatusOK, memberForm{}, notice, nil)
}

func (s *Site) showMembers(w http.ResponseWriter, r *http.Request, status int, f memberForm, notice string, problems []*pipeline.Error) {
	v, err := s.committee(r)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	v.Form = f
	title := "Committee members"
	s.render(w, r, status, "committee-members", page{Title: title, Notice: notice, Errors: problems, Data: v})
}

func (s *Site) addMemberSubmit(w http.ResponseWriter, r *http.Request) {
	sess, _ := currentSession(r)
	f := memberForm{Name: r.PostForm.Get("name"), Email: strings.TrimSpace(r.PostForm.Get("email")), Role: r.PostForm.Get("role")}
	if _, _, err := s.App.AddCommitteeMember(r.Context(), sess.Principal, f.Name, f.Email, f.Role); err != nil {
		e := pipeline.AsError(err)
		if e.Outcome != pipeline.Invalid && e.Outcome != pipeline.Conflict {
			s.refused(w, r, e)
			return
		}
		s.showMembers(w, r, int(e.Outcome), f, "", staffProblems(memberWords, e))
		return
	}
	http.Redirect(w, r, "/committee/members?done=added", http.StatusSeeOther)
}

type memberView struct {
	Member  member
	Offices []option
	Role    string
	Self    bool
}

// chairsMember loads the member a Chair's page is about: NotFound for
// anyone not on the committee now, Forbidden for a member who is not the
// Chair (the page has nothing for them).
func (s *Site) chairsMember(r *http.Request) (memberView, error) {
	v, err := s.committee(r)
	if err != nil {
		return memberView{}, err
	}
	i := slices.IndexFunc(v.Current, func(m member) bool { return m.ID == chi.URLParam(r, "id") })
	switch {
	case !v.IsChair:
		return memberView{}, errNotChair
	case i < 0:
		return memberView{}, pipeline.ErrNotFound
	}
	m := v.Current[i]
	return memberView{Member: m, Offices: offices, Role: m.Role, Self: m.ID == v.You}, nil
}

func (s *Site) officePage(w http.ResponseWriter, r *http.Request) {
	s.showOffice(w, r, http.StatusOK, "", nil)
}

func (s *Site) showOffice(w http.ResponseWriter, r *http.Request, status int, role string, problems []*pipeline.Error) {
	v, err := s.chairsMember(r)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	if role != "" || len(problems) > 0 {
		v.Role = role
	}
	title := "Change the office of " + v.Member.Name
	s.render(w, r, status, "committee-office", page{Title: title, Errors: problems, Data: v})
}

func (s *Site) officeSubmit(w http.ResponseWriter, r *http.Request) {
	sess, _ := currentSession(r)
	role := r.PostForm.Get("role")
	if _, err := s.App.ChangeCommitteeRole(r.Context(), sess.Principal, chi.URLParam(r, "id"), role); err != nil {
		e := pipeline.AsError(err)
		if e.Outcome != pipeline.Invalid && e.Outcome != pipeline.Conflict {
			s.refused(w, r, e)
			return
		}
		s.showOffice(w, r, int(e.Outcome), role, staffProblems(memberWords, e))
		return
	}
	http.Redirect(w, r, "/committee/members?done=changed", http.StatusSeeOther)
}

// removeMemberPage asks the Chair to confirm a removal: it cannot be undone
// (the member can only be added again).
func (s *Site) removeMemberPage(w http.ResponseWriter, r *http.Request) {
	s.showRemove(w, r, http.StatusOK, nil)
}

func (s *Site) showRemove(w http.ResponseWriter, r *http.Request, status int, problems []*pipeline.Error) {
	v, err := s.chairsMember(r)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	title := "Remove " + v.Member.Name + " from the committee"
	s.render(w, r, status, "committee-remove", page{Title: title, Errors: problems, Data: v})
}

func (s *Site) removeMemberSubmit(w http.ResponseWriter, r *http.Request) {
	sess, _ := currentSession(r)
	if _, err := s.App.RemoveCommitteeMember(r.Context(), sess.Principal, chi.URLParam(r, "id")); err != nil {
		e := pipeline.AsError(err)
		if e.Outcome != pipeline.Conflict {
			s.refused(w, r, e)
			return
		}
		s.showRemove(w, r, int(e.Outcome), staffProblems(memberWords, e))
		return
	}
	http.Redirect(w, r, "/committee/members?done=removed", http.StatusSeeOther)
}

var employerWords = map[string]string{
	"code":     "Enter the employer's ODS code: 3 to 6 letters and digits, such as RXT",
	"name":     "Enter the employer's name, in at most 200 characters",
	"kind":     "Choose whether the employer is an NHS trust or an NHS-contracted service",
	"existing": "An employer with this ODS code is already on the register",
}

// kinds are the kinds of employer, as people name them.
var kinds = []option{{"nhs_trust", "NHS trust"}, {"nhs_contracted", "NHS-contracted service"}}

// employer is an employer as the pages show them.
type employer struct {
	referral.Organisation
	KindName string
}

type employerForm struct {
	Code, Name, Kind string
}

type employersView struct {
	Listed, Unlisted []employer
	Kinds            []option
	Form             employerForm
}

func (s *Site) employersPage(w http.ResponseWriter, r *http.Request) {
	notice := map[string]string{"added": "Employer added.", "unlisted": "Employer marked as no longer listed.",
		"listed": "Employer listed again."}[r.URL.Query().Get("done")]
	s.showEmployers(w, r, http.StatusOK, employerForm{}, notice, nil)
}

// employers is the employer register by name, as people look for one (the
// API lists it by code).
func (s *Site) employers(r *http.Request) ([]referral.Organisation, error) {
	sess, _ := currentSession(r)
	orgs, err := s.App.Organisations(r.Context(), sess.Principal)
	slices.SortFunc(orgs, func(a, b referral.Organisation) int {
		return cmp.Or(cmp.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)), cmp.Compare(a.Code, b.Code))
	})
	return orgs, err
}

func (s *Site) showEmployers(w http.ResponseWriter, r *http.Request, status int, f employerForm, notice string, problems []*pipeline.Error) {
	orgs, err := s.employers(r)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	v := employersView{Kinds: kinds, Form: f}
	for _, org := range orgs {
		o := employer{org, org.Kind}
		if i := slices.IndexFunc(kinds, func(k option) bool { return k.Value == org.Kind }); i >= 0 {
			o.KindName = kinds[i].Label
		}
		if o.Active {
			v.Listed = append(v.Listed, o)
		} else {
			v.Unlisted = append(v.Unlisted, o)
		}
	}
	title := "Employers"
	s.render(w, r, status, "committee-employers", page{Title: title, Notice: notice, Errors: problems, Data: v})
}

// addEmployerSubmit adds an employer. The API's save replaces an employer
// with the same code; the form is for adding, so it refuses a code already
// on the register rather than renaming that employer unseen.
func (s *Site) addEmployerSubmit(w http.ResponseWriter, r *http.Request) {
	sess, _ := currentSession(r)
	f := employerForm{Code: strings.ToUpper(strings.Join(strings.Fields(r.PostForm.Get("code")), "")), Name: r.PostForm.Get("name"), Kind: r.PostForm.Get("kind")}
	refuse := func(e *pipeline.Error) {
		if e.Outcome != pipeline.Invalid && e.Outcome != pipeline.Conflict {
			s.pageError(w, r, e)
			return
		}
		s.showEmployers(w, r, int(e.Outcome), f, "", staffProblems(employerWords, e))
	}
	orgs, err := s.employers(r)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	if slices.ContainsFunc(orgs, func(o referral.Organisation) bool { return o.Code == f.Code }) {
		refuse(&pipeline.Error{Outcome: pipeline.Conflict, Code: "existing", Field: "code", Message: "an employer with this code is on the register"})
		return
	}
	o := referral.Organisation{Code: f.Code, Name: f.Name, Kind: f.Kind, Active: true}
	if _, err := s.App.SaveOrganisation(r.Context(), sess.Principal, o); err != nil {
		refuse(pipeline.AsError(err))
		return
	}
	http.Redirect(w, r, "/committee/employers?done=added", http.StatusSeeOther)
}

// employerListedSubmit marks an employer no longer listed (trainees there
// can no longer choose it; referrals already made are untouched), or lists
// it again.
func (s *Site) employerListedSubmit(w http.ResponseWriter, r *http.Request) {
	sess, _ := currentSession(r)
	var active bool
	switch r.PostForm.Get("listed") {
	case "yes":
		active = true
	case "no":
	default:
		s.showEmployers(w, r, http.StatusUnprocessableEntity, employerForm{}, "",
			[]*pipeline.Error{{Outcome: pipeline.Invalid, Code: "invalid_field", Message: "Choose whether the employer is listed"}})
		return
	}
	orgs, err := s.employers(r)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	i := slices.IndexFunc(orgs, func(o referral.Organisation) bool { return o.Code == chi.URLParam(r, "code") })
	if i < 0 {
		s.pageError(w, r, pipeline.ErrNotFound)
		return
	}
	o := orgs[i]
	o.Active = active
	if _, err := s.App.SaveOrganisation(r.Context(), sess.Principal, o); err != nil {
		s.pageError(w, r, err)
		return
	}
	done := "unlisted"
	if active {
		done = "listed"
	}
	http.Redirect(w, r, "/committee/employers?done="+done, http.StatusSeeOther)
}
