package pages

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/wmtna/referrals/internal/pipeline"
	"github.com/wmtna/referrals/internal/referral"
)

// registerRoutes are the committee's pages for the therapist register and
// the therapist's page for their own availability.
func (s *Site) registerRoutes(r chi.Router) {
	committee := r.With(s.signedIn(referral.RoleCommittee))
	committee.Get("/committee/register", s.registerPage)
	committee.Get("/committee/register/new", s.newTherapistPage)
	committee.Post("/committee/register/new", s.newTherapistSubmit)
	committee.Get("/committee/register/history", s.registerHistoryPage)
	committee.Get("/committee/register/{id}", s.registerEntryPage)
	committee.Get("/committee/register/{id}/edit", s.editTherapistPage)
	committee.Post("/committee/register/{id}/edit", s.editTherapistSubmit)
	committee.Get("/committee/register/{id}/availability", s.committeeAvailabilityPage)
	committee.Post("/committee/register/{id}/availability", s.committeeAvailabilitySubmit)
	committee.Post("/committee/register/{id}/back", s.markBackSubmit)
	committee.Get("/committee/register/{id}/retire", s.retirePage)
	committee.Post("/committee/register/{id}/retire", s.retireSubmit)
	therapist := r.With(s.signedIn(referral.RoleTherapist))
	therapist.Get("/therapist/availability", s.ownAvailabilityPage)
	therapist.Post("/therapist/availability", s.ownAvailabilitySubmit)
}

// registerNames turns the codes a therapist's entry holds into the names
// people read.
type registerNames struct {
	areas     map[string]string
	employers map[string]string
}

func (s *Site) registerNames(ctx context.Context, p referral.Principal) (registerNames, error) {
	n := registerNames{areas: map[string]string{}, employers: map[string]string{}}
	areas, err := s.App.Areas(ctx, p)
	if err != nil {
		return n, err
	}
	for _, a := range areas {
		n.areas[a.Code] = a.Name
	}
	if p.Role == referral.RoleTherapist {
		return n, nil // a therapist's own page names no employers
	}
	orgs, err := s.App.Organisations(ctx, p)
	if err != nil {
		return n, err
	}
	for _, o := range orgs {
		n.employers[o.Code] = o.Name
	}
	return n, nil
}

func (n registerNames) area(code string) string     { return cmp.Or(n.areas[code], code) }
func (n registerNames) employer(code string) string { return cmp.Or(n.employers[code], code) }

// entry is a therapist as the register pages show them: codes in words.
type entry struct {
	referral.Therapist
	DisciplineNames    string
	Works              string
	Status             string
	CapacityNote       string
	ConflictProgrammes string
	ConflictEmployers  string
}

func (n registerNames) entry(t referral.Therapist) entry {
	return entry{
		Therapist:          t,
		DisciplineNames:    orNone(mapJoin(t.Disciplines, referral.ProgrammeName)),
		Works:              works(t, n.area),
		Status:             therapistStatus(t),
		CapacityNote:       capacityNote(t),
		ConflictProgrammes: orNone(mapJoin(t.Conflicts.Programmes, referral.ProgrammeName)),
		ConflictEmployers:  orNone(mapJoin(t.Conflicts.Employers, n.employer)),
	}
}

// Away reports whether the therapist is away (and not retired).
func (e entry) Away() bool { return !e.Active && e.RetiredAt == nil }

// Retired reports whether the therapist has left the register.
func (e entry) Retired() bool { return e.RetiredAt != nil }

func mapJoin(codes []string, name func(string) string) string {
	names := make([]string, len(codes))
	for i, c := range codes {
		names[i] = name(c)
	}
	return andList(names)
}

// andList writes "a", "a and b", "a, b and c".
func andList(items []string) string {
	switch len(items) {
	case 0:
		return ""
	case 1:
		return items[0]
	}
	return strings.Join(items[:len(items)-1], ", ") + " and " + items[len(items)-1]
}

func orNone(s string) string { return cmp.Or(s, "None") }

// works says how a therapist works: "Online", "In person in Birmingham and
// Coventry", or both.
func works(t referral.Therapist, area func(string) string) string {
	inPerson := "in person"
	if len(t.Areas) > 0 {
		inPerson += " in " + mapJoin(t.Areas, area)
	}
	switch {
	case t.Online && t.InPerson:
		return "Online, and " + inPerson
	case t.InPerson:
		return strings.ToUpper(inPerson[:1]) + inPerson[1:]
	case t.Online:
		return "Online"
	}
	return "Not set"
}

// therapistStatus is a therapist's status on the register, for the
// committee: Active, Away until 3 March 2027, Away until further notice, or
// Retired.
func therapistStatus(t referral.Therapist) string {
	switch {
	case t.RetiredAt != nil:
		return "Retired on " + t.RetiredAt.In(referral.London).Format("2 January 2006")
	case !t.Active && t.AwayUntil != nil:
		return "Away until " + day(t.AwayUntil)
	case !t.Active:
		return "Away until further notice"
	}
	return "Active"
}

// capacityNote says plainly what a capacity lowered below the places in
// use means: the clients keep their places, and no new offers come until
// enough of them finish.
func capacityNote(t referral.Therapist) string {
	if t.RetiredAt != nil || t.PlacesUsed <= t.Capacity {
		return ""
	}
	inUse := places(t.PlacesUsed) + " are still in use, and those clients keep them"
	if t.PlacesUsed == 1 {
		inUse = "1 place is still in use, and that client keeps it"
	}
	if t.Capacity == 0 {
		return fmt.Sprintf("Capacity lowered to 0: %s until their therapy ends. No new referrals will be offered.", inUse)
	}
	return fmt.Sprintf("Capacity lowered to %d: %s. No new referrals will be offered until %s in use.", t.Capacity, inUse, fewerThan(t.Capacity))
}

// fewerThan says "fewer than n places are", as in "until fewer than 2
// places are in use".
func fewerThan(n int) string {
	if n == 1 {
		return "no places are"
	}
	return "fewer than " + strconv.Itoa(n) + " places are"
}

func places(n int) string {
	if n == 1 {
		return "1 place"
	}
	return strconv.Itoa(n) + " places"
}

// ownStatus tells a therapist where they stand, at the top of their page.
func ownStatus(t referral.Therapist) string {
	switch {
	case t.RetiredAt != nil:
		return "You have retired from the register: you will not be offered new referrals. Your current clients stay with you until their therapy ends."
	case !t.Active && t.AwayUntil != nil:
		return "You are away until " + day(t.AwayUntil) + ": you will not be offered referrals until then."
	case !t.Active:
		return "You are away until further notice: you will not be offered referrals until you say you are available again."
	case t.Capacity == 0:
		return "You are available, but you take no clients through the network just now: you will not be offered a referral until you raise the number you can see."
	case t.PlacesUsed > t.Capacity:
		return fmt.Sprintf("You are available, but you take %s and %s in use: you will not be offered a referral until %s in use.",
			clients(t.Capacity), isAre(t.PlacesUsed), fewerThan(t.Capacity))
	case t.FreePlaces() == 0:
		return fmt.Sprintf("You are available, and all the places you offer (%d) are in use: you will be offered a referral when one becomes free.", t.Capacity)
	case t.PlacesUsed > 0:
		return fmt.Sprintf("You are available: you can be offered %d more %s.", t.FreePlaces(), plural(t.FreePlaces(), "client"))
	}
	return fmt.Sprintf("You are available: you can be offered %s.", clients(t.FreePlaces()))
}

// plural is word, or words for any number but 1.
func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

func clients(n int) string {
	if n == 1 {
		return "1 client"
	}
	return strconv.Itoa(n) + " clients"
}

func isAre(n int) string {
	if n == 1 {
		return "1 place is"
	}
	return strconv.Itoa(n) + " places are"
}

type registerList struct {
	Therapists []entry
}

// registerPage lists the register: who, how they work, their places and
// status, oldest entry first.
func (s *Site) registerPage(w http.ResponseWriter, r *http.Request) {
	sess, _ := currentSession(r)
	ctx, p := r.Context(), sess.Principal
	ts, err := s.App.Therapists(ctx, p)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	n, err := s.registerNames(ctx, p)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	var d registerList
	for _, t := range ts {
		d.Therapists = append(d.Therapists, n.entry(t))
	}
	s.render(w, r, http.StatusOK, "register", page{Title: "Therapist register", Data: d})
}

// therapistForm is the add and change form as typed, kept to show it again
// with its errors.
type therapistForm struct {
	ID                     string // "" while adding
	Name, Email, HCPC      string
	Disciplines            []string
	Online, InPerson       bool
	Areas                  []string
	Capacity               string
	ConflictProgrammeCodes []string
	ConflictEmployerCodes  []string
	Programmes             []string
	AreaList               []referral.Area
	Organisations          []referral.Organisation
}

// Action is where the form posts.
func (f therapistForm) Action() string {
	if f.ID == "" {
		return "/committee/register/new"
	}
	return "/committee/register/" + f.ID + "/edit"
}

// HasDiscipline and the like report whether a box was ticked.
func (f therapistForm) HasDiscipline(code string) bool { return slices.Contains(f.Disciplines, code) }
func (f therapistForm) HasArea(code string) bool       { return slices.Contains(f.Areas, code) }
func (f therapistForm) HasConflictProgramme(code string) bool {
	return slices.Contains(f.ConflictProgrammeCodes, code)
}
func (f therapistForm) HasConflictEmployer(code string) bool {
	return slices.Contains(f.ConflictEmployerCodes, code)
}

func formOf(t referral.Therapist) therapistForm {
	return therapistForm{ID: t.ID, Name: t.Name, Email: t.Email, HCPC: t.HCPCNumber, Disciplines: t.Disciplines,
		Online: t.Online, InPerson: t.InPerson, Areas: t.Areas, Capacity: strconv.Itoa(t.Capacity),
		ConflictProgrammeCodes: t.Conflicts.Programmes, ConflictEmployerCodes: t.Conflicts.Employers}
}

func readTherapistForm(r *http.Request) therapistForm {
	v := r.PostForm.Get
	f := therapistForm{
		Name: v("name"), Email: strings.TrimSpace(v("email")), HCPC: strings.ToUpper(strings.TrimSpace(v("hcpc_number"))),
		Disciplines: r.PostForm["disciplines"], Online: v("online") == "yes", InPerson: v("in_person") == "yes",
		Areas: r.PostForm["areas"], Capacity: strings.TrimSpace(v("capacity")),
		ConflictProgrammeCodes: r.PostForm["conflict_programmes"], ConflictEmployerCodes: r.PostForm["conflict_employers"],
	}
	if !f.InPerson {
		f.Areas = nil // the areas are for seeing people in person; a tick left there means nothing
	}
	return f
}

// change is the use case's request from the form, or the problems the
// form can see for itself (all at once, as the use case reports only its
// first).
func (f therapistForm) change(adding bool) (pipeline.TherapistChange, []*pipeline.Error) {
	var problems []*pipeline.Error
	if strings.TrimSpace(f.Name) == "" {
		problems = append(problems, pipeline.FieldError("name", "Enter the therapist's full name"))
	}
	if f.Email == "" {
		problems = append(problems, pipeline.FieldError("email", "Enter the therapist's email address"))
	}
	if adding && f.HCPC == "" {
		problems = append(problems, pipeline.FieldError("hcpc_number", "Enter the therapist's HCPC registration number"))
	}
	if !f.Online && !f.InPerson {
		problems = append(problems, pipeline.FieldError("works", "Choose how the therapist works: online, in person or both"))
	}
	if f.InPerson && len(f.Areas) == 0 {
		problems = append(problems, pipeline.FieldError("areas", "Choose at least one area where the therapist sees people in person"))
	}
	capacity, problem := readCapacity(f.Capacity, false)
	if problem != nil {
		problems = append(problems, problem)
	}
	q := pipeline.TherapistChange{
		Name: &f.Name, Email: &f.Email, Disciplines: ptr(orNil(f.Disciplines)), Capacity: &capacity,
		Online: &f.Online, InPerson: &f.InPerson, Areas: ptr(orNil(f.Areas)),
		Conflicts: &referral.Conflicts{Programmes: orNil(f.ConflictProgrammeCodes), Employers: orNil(f.ConflictEmployerCodes)},
	}
	if adding {
		q.HCPCNumber = &f.HCPC
	}
	return q, problems
}

// verb agrees a verb with "you" (self) or "the therapist".
func verb(self bool, v string) string {
	if self {
		return v
	}
	return v + "s"
}

func ptr[T any](v T) *T { return &v }

// orNil is an empty list for no ticks, so that clearing every box clears
// the field rather than leaving it as it was.
func orNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func readCapacity(typed string, self bool) (int, *pipeline.Error) {
	who := "the therapist takes"
	if self {
		who = "you can see"
	}
	if typed == "" {
		return 0, pipeline.FieldError("capacity", "Enter how many clients %s", who)
	}
	n, err := strconv.Atoi(typed)
	if err != nil {
		return 0, pipeline.FieldError("capacity", "Enter how many clients %s as a number, like 2", who)
	}
	return n, nil
}

func (s *Site) newTherapistPage(w http.ResponseWriter, r *http.Request) {
	s.showTherapistForm(w, r, http.StatusOK, therapistForm{}, nil)
}

func (s *Site) showTherapistForm(w http.ResponseWriter, r *http.Request, status int, f therapistForm, problems []*pipeline.Error) {
	sess, _ := currentSession(r)
	ctx := r.Context()
	areas, err := s.App.Areas(ctx, sess.Principal)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	// An area no longer on the list stays where it was already chosen.
	f.AreaList = slices.DeleteFunc(areas, func(a referral.Area) bool { return !a.Active && !f.HasArea(a.Code) })
	orgs, err := s.App.Organisations(ctx, sess.Principal)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	f.Organisations = slices.DeleteFunc(orgs, func(o referral.Organisation) bool { return !o.Active && !f.HasConflictEmployer(o.Code) })
	slices.SortFunc(f.Organisations, func(a, b referral.Organisation) int { return strings.Compare(a.Name, b.Name) })
	f.Programmes = referral.Programmes
	title := "Add a therapist"
	if f.ID != "" {
		title = "Change " + f.Name + "'s entry"
	}
	s.render(w, r, status, "register-form", page{Title: title, Errors: problems, Data: f})
}

func (s *Site) newTherapistSubmit(w http.ResponseWriter, r *http.Request) {
	sess, _ := currentSession(r)
	f := readTherapistForm(r)
	q, problems := f.change(true)
	if len(problems) > 0 {
		s.showTherapistForm(w, r, http.StatusUnprocessableEntity, f, problems)
		return
	}
	// The therapist's token is not shown: they sign in with an emailed
	// link, as everyone does.
	t, _, err := s.App.AddTherapist(r.Context(), sess.Principal, q)
	if e := pipeline.AsError(err); e != nil && e.Code == "duplicate" {
		// The same form sent twice (a double click, a resubmit after a
		// timeout) finds the entry the first one made.
		if id := s.sameTherapist(r, f); id != "" {
			http.Redirect(w, r, "/committee/register/"+id+"?done=added", http.StatusSeeOther)
			return
		}
	}
	if err != nil {
		s.formFailed(w, r, err, func(status int, problems []*pipeline.Error) { s.showTherapistForm(w, r, status, f, problems) })
		return
	}
	http.Redirect(w, r, "/committee/register/"+t.ID+"?done=added", http.StatusSeeOther)
}

// sameTherapist is the ID of the therapist on the register whom the add
// form f describes exactly (HCPC number, name and email), or "".
func (s *Site) sameTherapist(r *http.Request, f therapistForm) string {
	sess, _ := currentSession(r)
	ts, err := s.App.Therapists(r.Context(), sess.Principal)
	if err != nil {
		return ""
	}
	for _, t := range ts {
		if t.HCPCNumber == f.HCPC && t.Email == f.Email && t.Name == strings.TrimSpace(f.Name) && t.RetiredAt == nil {
			return t.ID
		}
	}
	return ""
}

// formFailed shows a refusal that names a field beside it, on the form
// again, and any other as an error page.
func (s *Site) formFailed(w http.ResponseWriter, r *http.Request, err error, again func(int, []*pipeline.Error)) {
	e := pipeline.AsError(err)
	if e.Field == "" {
		s.pageError(w, r, e)
		return
	}
	again(int(e.Outcome), []*pipeline.Error{registerProblem(e, false)})
}

func (s *Site) editTherapistPage(w http.ResponseWriter, r *http.Request) {
	t, ok := s.loadTherapist(w, r)
	if !ok {
		return
	}
	s.showTherapistForm(w, r, http.StatusOK, formOf(t), nil)
}

func (s *Site) editTherapistSubmit(w http.ResponseWriter, r *http.Request) {
	sess, _ := currentSession(r)
	t, ok := s.loadTherapist(w, r)
	if !ok {
		return
	}
	f := readTherapistForm(r)
	f.ID, f.HCPC = t.ID, t.HCPCNumber
	q, problems := f.change(false)
	if len(problems) > 0 {
		s.showTherapistForm(w, r, http.StatusUnprocessableEntity, f, problems)
		return
	}
	if _, err := s.App.ChangeTherapist(r.Context(), sess.Principal, t.ID, q); err != nil {
		s.formFailed(w, r, err, func(status int, problems []*pipeline.Error) { s.showTherapistForm(w, r, status, f, problems) })
		return
	}
	http.Redirect(w, r, "/committee/register/"+t.ID+"?done=changed", http.StatusSeeOther)
}

// loadTherapist loads the therapist the path names, or shows why not.
func (s *Site) loadTherapist(w http.ResponseWriter, r *http.Request) (referral.Therapist, bool) {
	sess, _ := currentSession(r)
	t, err := s.App.Therapist(r.Context(), sess.Principal, chi.URLParam(r, "id"))
	if err != nil {
		s.pageError(w, r, err)
		return t, false
	}
	return t, true
}

type registerEntry struct {
	entry
	History []historyEntry
	Older   string
}

var entryNotices = map[string]string{
	"added":        "%s is on the register. Their free places have been offered to the waiting list.",
	"changed":      "%s's entry is changed.",
	"availability": "%s's availability is saved.",
	"back":         "%s is back. Their free places have been offered to the waiting list.",
	"retired":      "%s has retired from the register. Their current clients stay with them until their therapy ends.",
}

// registerEntryPage is one therapist's entry: their details, what the
// committee can do about their availability, and their history.
func (s *Site) registerEntryPage(w http.ResponseWriter, r *http.Request) {
	sess, _ := currentSession(r)
	ctx, p := r.Context(), sess.Principal
	t, ok := s.loadTherapist(w, r)
	if !ok {
		return
	}
	n, err := s.registerNames(ctx, p)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	d := registerEntry{entry: n.entry(t)}
	before, _ := strconv.ParseInt(r.URL.Query().Get("before"), 10, 64)
	changes, err := s.App.RegisterHistory(ctx, p, "therapist", t.ID, max(before, 0), historyPage+1)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	d.History, d.Older = n.history(changes, nil, "/committee/register/"+t.ID)
	notice := ""
	if format, ok := entryNotices[r.URL.Query().Get("done")]; ok {
		notice = fmt.Sprintf(format, t.Name)
	}
	s.render(w, r, http.StatusOK, "register-therapist", page{Title: t.Name, Notice: notice, Data: d})
}

// historyPage is how many changes a page of history shows.
const historyPage = 25

type historyEntry struct {
	At      time.Time
	Who     string
	What    string
	Entry   string // which entry, on the whole register's history
	Link    string
	Changes []changeText
}

type changeText struct {
	Field, From, To string
	Added           bool // a new entry's value, with no "from"
}

// history words a page of changes (one more than a page, if there are
// more): who did what, to which entry, from what to what. therapists names
// the entries on the whole register's history; nil for one entry's.
func (n registerNames) history(changes []referral.RegisterChange, therapists map[string]string, path string) ([]historyEntry, string) {
	older := ""
	if len(changes) > historyPage {
		changes = changes[:historyPage]
		older = path + "?before=" + strconv.FormatInt(changes[len(changes)-1].ID, 10)
	}
	out := make([]historyEntry, 0, len(changes))
	for _, c := range changes {
		h := historyEntry{At: c.At, Who: actorText(c.Actor), What: actionText(c)}
		if therapists != nil {
			h.Entry, h.Link = n.entryName(c, therapists)
		}
		fields := make([]string, 0, len(c.Changes))
		for f := range c.Changes {
			fields = append(fields, f)
		}
		slices.SortFunc(fields, func(a, b string) int {
			return cmp.Or(cmp.Compare(fieldRank(a), fieldRank(b)), cmp.Compare(a, b))
		})
		for _, f := range fields {
			fc := c.Changes[f]
			ct := changeText{Field: cmp.Or(fieldText[f], strings.ReplaceAll(f, "_", " ")),
				From: n.value(f, fc.From), To: n.value(f, fc.To), Added: c.Action == "added"}
			if ct.Added && unset(f, ct.To) {
				continue // a new entry's blanks say nothing
			}
			h.Changes = append(h.Changes, ct)
		}
		out = append(out, h)
	}
	return out, older
}

// unset reports whether a new entry's value is a blank or a default not
// worth listing: not away, not retired, no conflicts.
func unset(field, value string) bool {
	switch value {
	case "not set", "none":
		return true
	case "no":
		return field == "away" || field == "retired"
	}
	return false
}

func (n registerNames) entryName(c referral.RegisterChange, therapists map[string]string) (string, string) {
	switch c.Entity {
	case "therapist":
		return cmp.Or(therapists[c.EntityID], "A therapist"), "/committee/register/" + c.EntityID
	case "area":
		return "Area: " + n.area(c.EntityID), ""
	case "organisation":
		return "Employer: " + n.employer(c.EntityID), ""
	case "committee_member":
		return "A committee member's entry", ""
	}
	return strings.ReplaceAll(c.Entity, "_", " "), ""
}

// actorText names who made a change by their part, not their ID.
func actorText(a referral.Principal) string {
	switch a.Role {
	case referral.RoleCommittee:
		return "a committee member"
	case referral.RoleOperator:
		return "an operator"
	case referral.RoleTherapist:
		return "the therapist"
	case referral.RoleSystem:
		if a.Subject == "away-until" {
			return "automatic return, on the day they had given"
		}
		return "the service"
	}
	return "someone"
}

func actionText(c referral.RegisterChange) string {
	switch c.Action {
	case "added":
		return "Added to the register"
	case "changed":
		return "Changed the entry"
	case "away":
		return "Marked away"
	case "back":
		if c.Actor.Role == referral.RoleSystem {
			return "Came back"
		}
		return "Marked available again"
	case "retired":
		return "Retired from the register"
	case "removed":
		return "Removed"
	}
	return strings.ReplaceAll(c.Action, "_", " ")
}

var fieldOrder = []string{"name", "email", "hcpc_number", "role", "kind", "disciplines", "online", "in_person", "areas", "capacity",
	"away", "away_until", "retired", "active", "conflicts.programmes", "conflicts.employers"}

func fieldRank(f string) int {
	if i := slices.Index(fieldOrder, f); i >= 0 {
		return i
	}
	return len(fieldOrder)
}

var fieldText = map[string]string{
	"name": "Name", "email": "Email", "hcpc_number": "HCPC number", "disciplines": "Disciplines",
	"online": "Works online", "in_person": "Works in person", "areas": "Areas for in-person work",
	"capacity": "Clients they take", "away": "Away", "away_until": "Away until", "retired": "Retired",
	"conflicts.programmes": "Programmes they teach or supervise", "conflicts.employers": "Employers they work for",
	"active": "On the list", "role": "Role", "kind": "Kind",
}

// value writes a field's value from the history (as JSON decoded it) in
// words.
func (n registerNames) value(field string, v any) string {
	switch v := v.(type) {
	case nil:
		return "not set"
	case bool:
		if v {
			return "yes"
		}
		return "no"
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case string:
		if field == "away_until" {
			if d, err := referral.ParseDate(v); err == nil {
				return day(&d)
			}
		}
		return v
	case []any:
		name := func(s string) string { return s }
		switch field {
		case "disciplines", "conflicts.programmes":
			name = referral.ProgrammeName
		case "areas":
			name = n.area
		case "conflicts.employers":
			name = n.employer
		}
		var items []string
		for _, x := range v {
			items = append(items, name(fmt.Sprint(x)))
		}
		return cmp.Or(andList(items), "none")
	}
	return fmt.Sprint(v)
}

type registerHistory struct {
	History []historyEntry
	Older   string
	Newer   bool
}

// registerHistoryPage is the whole register's history, newest first, a
// page at a time.
func (s *Site) registerHistoryPage(w http.ResponseWriter, r *http.Request) {
	sess, _ := currentSession(r)
	ctx, p := r.Context(), sess.Principal
	n, err := s.registerNames(ctx, p)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	ts, err := s.App.Therapists(ctx, p)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	names := map[string]string{}
	for _, t := range ts {
		names[t.ID] = t.Name
	}
	before, _ := strconv.ParseInt(r.URL.Query().Get("before"), 10, 64)
	changes, err := s.App.RegisterHistory(ctx, p, "", "", max(before, 0), historyPage+1)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	var d registerHistory
	d.History, d.Older = n.history(changes, names, "/committee/register/history")
	d.Newer = before > 0
	s.render(w, r, http.StatusOK, "register-history", page{Title: "History of the register", Data: d})
}

// availabilityForm is a therapist's availability as typed: by the
// therapist themselves (Self), or by the committee for them.
type availabilityForm struct {
	Self             bool
	Action, Back     string
	Therapist        entry
	Current          string // where they stand now, in words
	Capacity         string
	Online, InPerson bool
	Areas            []string
	Away             string // available, until, indefinitely
	Day, Month, Year string
	AreaList         []referral.Area
}

// HasArea reports whether an area is ticked.
func (f availabilityForm) HasArea(code string) bool { return slices.Contains(f.Areas, code) }

func availabilityOf(t referral.Therapist) availabilityForm {
	f := availabilityForm{Capacity: strconv.Itoa(t.Capacity), Online: t.Online, InPerson: t.InPerson, Areas: t.Areas, Away: "available"}
	switch {
	case !t.Active && t.AwayUntil != nil:
		f.Away = "until"
		f.Day, f.Month, f.Year = strconv.Itoa(t.AwayUntil.Day), strconv.Itoa(int(t.AwayUntil.Month)), strconv.Itoa(t.AwayUntil.Year)
	case !t.Active:
		f.Away = "indefinitely"
	}
	return f
}

func (s *Site) ownAvailabilityPage(w http.ResponseWriter, r *http.Request) {
	sess, _ := currentSession(r)
	t, err := s.App.Therapist(r.Context(), sess.Principal, sess.Subject)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	s.showAvailability(w, r, http.StatusOK, t, availabilityOf(t), nil)
}

func (s *Site) committeeAvailabilityPage(w http.ResponseWriter, r *http.Request) {
	t, ok := s.loadTherapist(w, r)
	if !ok {
		return
	}
	s.showAvailability(w, r, http.StatusOK, t, availabilityOf(t), nil)
}

func (s *Site) showAvailability(w http.ResponseWriter, r *http.Request, status int, t referral.Therapist, f availabilityForm, problems []*pipeline.Error) {
	sess, _ := currentSession(r)
	ctx := r.Context()
	n, err := s.registerNames(ctx, sess.Principal)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	areas, err := s.App.Areas(ctx, sess.Principal)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	f.AreaList = slices.DeleteFunc(areas, func(a referral.Area) bool { return !a.Active && !f.HasArea(a.Code) })
	f.Therapist = n.entry(t)
	f.Self = sess.Role == referral.RoleTherapist
	f.Current = ownStatus(t)
	if !f.Self {
		f.Current = fmt.Sprintf("%s: %s. They take %s, and %s in use.", t.Name, strings.ToLower(f.Therapist.Status[:1])+f.Therapist.Status[1:], clients(t.Capacity), isAre(t.PlacesUsed))
	}
	title := "Your availability"
	f.Action, f.Back = "/therapist/availability", "/therapist"
	if !f.Self {
		title = "Availability of " + t.Name
		f.Action, f.Back = "/committee/register/"+t.ID+"/availability", "/committee/register/"+t.ID
	}
	s.render(w, r, status, "availability", page{Title: title, Errors: problems, Data: f})
}

func (s *Site) ownAvailabilitySubmit(w http.ResponseWriter, r *http.Request) {
	sess, _ := currentSession(r)
	s.saveAvailability(w, r, sess.Subject, "/therapist?done=availability")
}

func (s *Site) committeeAvailabilitySubmit(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	s.saveAvailability(w, r, id, "/committee/register/"+id+"?done=availability")
}

func (s *Site) saveAvailability(w http.ResponseWriter, r *http.Request, id, done string) {
	sess, _ := currentSession(r)
	ctx, p := r.Context(), sess.Principal
	self := sess.Role == referral.RoleTherapist
	t, err := s.App.Therapist(ctx, p, id)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	v := r.PostForm.Get
	f := availabilityForm{Capacity: strings.TrimSpace(v("capacity")), Online: v("online") == "yes", InPerson: v("in_person") == "yes",
		Areas: r.PostForm["areas"], Away: v("away"),
		Day: strings.TrimSpace(v("away_until-day")), Month: strings.TrimSpace(v("away_until-month")), Year: strings.TrimSpace(v("away_until-year"))}
	if !f.InPerson {
		f.Areas = nil
	}
	var problems []*pipeline.Error
	capacity, problem := readCapacity(f.Capacity, self)
	if problem != nil {
		problems = append(problems, problem)
	}
	who, they := "the therapist", "they come"
	if self {
		who, they = "you", "you come"
	}
	if !f.Online && !f.InPerson {
		problems = append(problems, pipeline.FieldError("works", "Choose how %s %s: online, in person or both", who, verb(self, "work")))
	}
	if f.InPerson && len(f.Areas) == 0 {
		problems = append(problems, pipeline.FieldError("areas", "Choose at least one area where %s %s people in person", who, verb(self, "see")))
	}
	a := pipeline.Availability{Capacity: &capacity, Online: &f.Online, InPerson: &f.InPerson, Areas: ptr(orNil(f.Areas))}
	switch f.Away {
	case "available":
		a.Away = ptr(false)
	case "indefinitely":
		a.Away = ptr(true)
	case "until":
		d, msg := readDate(f.Day, f.Month, f.Year, "The date "+they+" back")
		if msg != "" {
			problems = append(problems, pipeline.FieldError("away_until", "%s", msg))
		} else {
			a.AwayUntil = &d
		}
	default:
		if self {
			problems = append(problems, pipeline.FieldError("away", "Choose whether you are available or away"))
		} else {
			problems = append(problems, pipeline.FieldError("away", "Choose whether the therapist is available or away"))
		}
	}
	if len(problems) > 0 {
		s.showAvailability(w, r, http.StatusUnprocessableEntity, t, f, problems)
		return
	}
	if _, err := s.App.SetAvailability(ctx, p, t.ID, pipeline.Given(a)); err != nil {
		e := pipeline.AsError(err)
		if e.Code == "retired" {
			e = &pipeline.Error{Outcome: e.Outcome, Code: e.Code, Message: t.Name + " has retired from the register, so their availability can no longer be changed."}
			if self {
				e.Message = "You have retired from the register, so your availability can no longer be changed."
			}
		}
		if e.Field == "" {
			s.pageError(w, r, e)
			return
		}
		s.showAvailability(w, r, int(e.Outcome), t, f, []*pipeline.Error{registerProblem(e, self)})
		return
	}
	http.Redirect(w, r, done, http.StatusSeeOther)
}

// readDate reads a GOV.UK date input, or says what is wrong with it,
// starting with what ("The date you come back").
func readDate(dd, mm, yyyy, what string) (referral.Date, string) {
	var missing []string
	for _, part := range []struct{ name, typed string }{{"a day", dd}, {"a month", mm}, {"a year", yyyy}} {
		if part.typed == "" {
			missing = append(missing, part.name)
		}
	}
	switch len(missing) {
	case 0:
	case 3:
		return referral.Date{}, "Enter " + strings.ToLower(what[:1]) + what[1:]
	default:
		return referral.Date{}, what + " must include " + andList(missing)
	}
	d, errD := strconv.Atoi(dd)
	m, errM := strconv.Atoi(mm)
	y, errY := strconv.Atoi(yyyy)
	if errD != nil || errM != nil || errY != nil || len(yyyy) != 4 {
		return referral.Date{}, what + " must be a real date, like 3 3 2027"
	}
	date, err := referral.ParseDate(fmt.Sprintf("%04d-%02d-%02d", y, m, d))
	if err != nil {
		return referral.Date{}, what + " must be a real date, like 3 3 2027"
	}
	return date, ""
}

// markBackSubmit brings an away therapist back at once.
func (s *Site) markBackSubmit(w http.ResponseWriter, r *http.Request) {
	sess, _ := currentSession(r)
	id := chi.URLParam(r, "id")
	if _, err := s.App.SetAvailability(r.Context(), sess.Principal, id, pipeline.Given(pipeline.Availability{Away: ptr(false)})); err != nil {
		s.pageError(w, r, err)
		return
	}
	http.Redirect(w, r, "/committee/register/"+id+"?done=back", http.StatusSeeOther)
}

// retirePage asks before retiring: it cannot be undone from the pages.
func (s *Site) retirePage(w http.ResponseWriter, r *http.Request) {
	t, ok := s.loadTherapist(w, r)
	if !ok {
		return
	}
	if t.RetiredAt != nil {
		http.Redirect(w, r, "/committee/register/"+t.ID, http.StatusSeeOther)
		return
	}
	s.render(w, r, http.StatusOK, "register-retire", page{Title: "Retire " + t.Name + " from the register?", Data: t})
}

func (s *Site) retireSubmit(w http.ResponseWriter, r *http.Request) {
	sess, _ := currentSession(r)
	id := chi.URLParam(r, "id")
	if _, err := s.App.RetireTherapist(r.Context(), sess.Principal, id); err != nil {
		s.pageError(w, r, err)
		return
	}
	http.Redirect(w, r, "/committee/register/"+id+"?done=retired", http.StatusSeeOther)
}

// registerProblem words a use case's refusal of a register form's field
// for the person filling it in, beside the field as the form names it.
func registerProblem(e *pipeline.Error, self bool) *pipeline.Error {
	c := *e
	who, their := "the therapist", "the therapist's"
	if self {
		who, their = "you", "your"
	}
	switch c.Field {
	case "name":
		c.Message = "Enter " + their + " name: up to 200 characters of plain text"
	case "email":
		c.Message = "Enter an email address in the correct format, like name@example.org"
	case "hcpc_number":
		if c.Code == "duplicate" {
			c.Message = "A therapist with this HCPC number is already on the register"
		} else {
			c.Message = "Enter the HCPC number as PYL followed by digits, like PYL01234"
		}
	case "disciplines":
		c.Message = "Choose the disciplines from the list"
	case "capacity":
		c.Message = "Enter a number of clients from 0 to 50"
	case "online", "in_person":
		c.Field, c.Message = "works", "Choose how "+who+" "+verb(self, "work")+": online, in person or both"
	case "areas":
		c.Message = "Choose areas from the list, where " + who + " " + verb(self, "see") + " people in person"
	case "conflicts.programmes":
		c.Field, c.Message = "conflict_programmes", "Choose the programmes from the list"
	case "conflicts.employers":
		c.Field, c.Message = "conflict_employers", "Choose the employers from the list"
	case "away_until":
		come := "they come"
		if self {
			come = "you come"
		}
		switch {
		case strings.Contains(c.Message, "after today"):
			c.Message = "The date " + come + " back must be in the future"
		case strings.Contains(c.Message, "two years"):
			c.Message = "The date " + come + " back must be within two years; if it is later, choose away until further notice"
		default:
			c.Message = "Enter the date " + come + " back as a real date, like 3 3 2027"
		}
	}
	if c.Message != "" {
		c.Message = strings.ToUpper(c.Message[:1]) + c.Message[1:]
	}
	return &c
}
