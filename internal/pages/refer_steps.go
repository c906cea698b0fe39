package pages

import "slices"

// The self-referral asks GOV.UK's question pages one at a time: first the
// questions that decide whether the network is for the trainee, so that
// nobody types their concerns only to be told it is not, then the rest, a
// page each, then check your answers. Nothing is stored until it is sent:
// every answer given so far travels in hidden fields (referForm.Carry), so
// the pages need no session and work without JavaScript.
type referStep struct {
	Name string
	// Fields are the API's names of the answers asked on the page, the
	// names its problems carry.
	Fields []string
	// Title is the page's title, its question.
	Title string
}

const (
	stepProgramme = "programme"
	stepEmployer  = "employer"
	stepService   = "service"
	stepStart     = "training-start"
	stepQualify   = "qualify"
	stepAbout     = "about"
	stepConcerns  = "concerns"
	stepMeeting   = "meeting"
)

// notListed is the employer question's answer for a service not on the
// register: the next page asks its name. (The programme question's "None
// of these" needs no name: any programme not on the list is ruled out.)
const notListed = "not-listed"

var referSteps = []referStep{
	{stepProgramme, []string{"programme"}, "Which psychology training programme are you on?"},
	{stepEmployer, []string{"employer"}, "Who do you work for during your training?"},
	{stepService, []string{"employer_name"}, "What is the name of the service you work for?"},
	{stepStart, []string{"training_start"}, "When did your training start?"},
	{stepQualify, []string{"expected_qualification"}, "When do you expect to qualify?"},
	// The questions for a referral the network can take, once the ones
	// above have said it can.
	{stepAbout, []string{"name", "email"}, "Your name and email address"},
	{stepConcerns, []string{"concerns", "at_risk", "consent"}, "What would you like to bring to therapy?"},
	{stepMeeting, []string{"meeting", "areas", "same_discipline", "note"}, "How can you meet a therapist?"},
}

func stepNamed(name string) (referStep, bool) {
	i := slices.IndexFunc(referSteps, func(s referStep) bool { return s.Name == name })
	if i < 0 {
		return referStep{}, false
	}
	return referSteps[i], true
}

// steps are the pages this trainee is asked, in order: the service's name
// only for an employer not on the register.
func (f referForm) steps() []referStep {
	return slices.DeleteFunc(slices.Clone(referSteps), func(s referStep) bool { return s.Name == stepService && f.Employer != notListed })
}

// stepOf is the page that asks a field.
func (f referForm) stepOf(field string) string {
	for _, s := range f.steps() {
		if slices.Contains(s.Fields, field) {
			return s.Name
		}
	}
	return stepMeeting
}

// next is the page after the named one, "" after the last.
func (f referForm) next(step string) string {
	steps := f.steps()
	i := slices.IndexFunc(steps, func(s referStep) bool { return s.Name == step })
	if i < 0 || i+1 >= len(steps) {
		return ""
	}
	return steps[i+1].Name
}

// Previous is the page before the one shown, "" on the first.
func (f referForm) Previous() string {
	steps := f.steps()
	i := slices.IndexFunc(steps, func(s referStep) bool { return s.Name == f.Step })
	if i <= 0 {
		return ""
	}
	return steps[i-1].Name
}

// hidden is one answer carried to the next page in a hidden field.
type hidden struct{ Name, Value string }

// Carry is every answer given so far but those the shown page asks, as
// hidden fields, in the form's order. Carry with All set carries them all
// (the Back button, check your answers, the not-eligible page).
func (f referForm) Carry() []hidden {
	asked := map[string]bool{}
	if step, ok := stepNamed(f.Step); ok && !f.All {
		for _, field := range step.Fields {
			asked[field] = true
		}
	}
	var out []hidden
	add := func(field, name, value string) {
		if value != "" && !asked[field] {
			out = append(out, hidden{name, value})
		}
	}
	yes := func(b bool) string {
		if b {
			return "yes"
		}
		return ""
	}
	add("", "key", f.Key)
	add("", "return", f.Return)
	add("programme", "programme", f.Programme)
	add("employer", "employer", f.Employer)
	if f.Employer == notListed {
		add("employer_name", "employer_name", f.Service)
	}
	add("training_start", "training_start-month", f.TrainingStart.Month)
	add("training_start", "training_start-year", f.TrainingStart.Year)
	add("expected_qualification", "expected_qualification-day", f.Qualify.Day)
	add("expected_qualification", "expected_qualification-month", f.Qualify.Month)
	add("expected_qualification", "expected_qualification-year", f.Qualify.Year)
	add("name", "name", f.Name)
	add("email", "email", f.Email)
	add("concerns", "concerns", f.Concerns)
	add("at_risk", "at_risk", f.AtRisk)
	add("meeting", "meeting", f.Meeting)
	for _, a := range f.Areas {
		add("areas", "areas", a)
	}
	add("same_discipline", "same_discipline", yes(f.SameDiscipline))
	add("note", "note", f.Note)
	add("consent", "consent", yes(f.Consent))
	return out
}

// CarryingAll is the form with every answer to carry, for a page that
// asks none.
func (f referForm) CarryingAll() referForm {
	f.All = true
	return f
}
