package pages

import (
	"fmt"
	"net/http"
	"time"
)

type privacyNotice struct {
	Retention string // how long details are kept after a referral ends, in words
}

// privacyPage is the privacy notice: what is kept, why, for how long, who
// sees it and how to ask for it to be erased. For a service holding health
// details of NHS staff, it is what trust rests on.
func (s *Site) privacyPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "privacy", page{Title: "Privacy notice", Data: privacyNotice{Retention: inYears(s.Retention)}})
}

// accessibilityPage is the accessibility statement, in the shape GOV.UK
// services publish it.
func (s *Site) accessibilityPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "accessibility", page{Title: "Accessibility statement"})
}

// inYears says a retention period in whole years where it is one, else in
// days.
func inYears(d time.Duration) string {
	const year = 365 * 24 * time.Hour
	switch {
	case d <= 0:
		return "the period the network has set"
	case d%year == 0 && d == year:
		return "1 year"
	case d%year == 0:
		return fmt.Sprintf("%d years", d/year)
	}
	days := int((d + 12*time.Hour) / (24 * time.Hour))
	if days == 1 {
		return "1 day"
	}
	return fmt.Sprintf("%d days", days)
}
