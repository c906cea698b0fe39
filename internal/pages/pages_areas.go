package pages

import (
	"net/http"
	"regexp"
	"strings"

	"github.com/wmtna/referrals/internal/pipeline"
	"github.com/wmtna/referrals/internal/referral"
)

type areasPage struct {
	Areas []referral.Area
	Name  string // what was typed in the add form
}

// areasList shows the committee the areas where people meet in person, the
// one list that trainees and therapists choose from, with a form to add
// one and a button to stop or start offering each.
func (s *Site) areasList(w http.ResponseWriter, r *http.Request) {
	notice := map[string]string{
		"added":   "The area is added: trainees and therapists can now choose it.",
		"stopped": "The area is no longer offered. Trainees and therapists who chose it keep it.",
		"started": "The area is offered again.",
	}[r.URL.Query().Get("done")]
	s.showAreas(w, r, http.StatusOK, notice, areasPage{}, nil)
}

func (s *Site) showAreas(w http.ResponseWriter, r *http.Request, status int, notice string, d areasPage, problems []*pipeline.Error) {
	sess, _ := currentSession(r)
	areas, err := s.App.Areas(r.Context(), sess.Principal)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	d.Areas = areas
	title := "Areas where people meet"
	s.render(w, r, status, "areas", page{Title: title, Notice: notice, Errors: problems, Data: d})
}

var notCode = regexp.MustCompile(`[^a-z0-9]+`)

// areaCode makes an area's code from its name ("Telford and Wrekin" is
// telford-and-wrekin), so the committee types only the name.
func areaCode(name string) string {
	return strings.Trim(notCode.ReplaceAllString(strings.ToLower(name), "-"), "-")
}

// areaSubmit adds an area (name), or stops or starts offering one (code and
// active).
func (s *Site) areaSubmit(w http.ResponseWriter, r *http.Request) {
	sess, _ := currentSession(r)
	v := r.PostForm.Get
	a := referral.Area{Name: strings.TrimSpace(v("name")), Code: v("code"), Active: v("active") != "no"}
	done := "added"
	if a.Code == "" {
		a.Code = areaCode(a.Name)
		if a.Name == "" {
			s.showAreas(w, r, http.StatusUnprocessableEntity, "", areasPage{}, []*pipeline.Error{pipeline.FieldError("name", "Enter the name of the area")})
			return
		}
		if !referral.AreaCodePattern.MatchString(a.Code) {
			s.showAreas(w, r, http.StatusUnprocessableEntity, "", areasPage{Name: a.Name},
				[]*pipeline.Error{pipeline.FieldError("name", "Enter a name of letters and numbers, starting with a letter, such as Stoke-on-Trent")})
			return
		}
		areas, err := s.App.Areas(r.Context(), sess.Principal)
		if err != nil {
			s.pageError(w, r, err)
			return
		}
		for _, old := range areas {
			if old.Code == a.Code {
				s.showAreas(w, r, http.StatusUnprocessableEntity, "", areasPage{Name: a.Name},
					[]*pipeline.Error{pipeline.FieldError("name", "%s is already on the list", old.Name)})
				return
			}
		}
	} else {
		// Stopping or starting an area keeps its name.
		areas, err := s.App.Areas(r.Context(), sess.Principal)
		if err != nil {
			s.pageError(w, r, err)
			return
		}
		found := false
		for _, old := range areas {
			if old.Code == a.Code {
				a.Name, found = old.Name, true
			}
		}
		if !found {
			s.pageError(w, r, pipeline.ErrNotFound)
			return
		}
		done = map[bool]string{true: "started", false: "stopped"}[a.Active]
	}
	if _, err := s.App.SaveArea(r.Context(), sess.Principal, a); err != nil {
		e := pipeline.AsError(err)
		if e.Field == "" {
			s.pageError(w, r, err)
			return
		}
		s.showAreas(w, r, int(e.Outcome), "", areasPage{Name: a.Name}, []*pipeline.Error{pipeline.FieldError("name", "%s", e.Message)})
		return
	}
	http.Redirect(w, r, "/committee/areas?done="+done, http.StatusSeeOther)
}
