package referral

import (
	"fmt"
	"unicode/utf8"
)

// What a former client is asked after therapy: feedback once it ends, and
// whether they stayed six and twelve months on.
const (
	FollowUpFeedback = "feedback"
	FollowUpStayed6  = "stayed-6"
	FollowUpStayed12 = "stayed-12"
)

// Feedback is a former client's answers about their therapy, each on a
// scale of 1 to 5 and each optional (nil: not answered), with an optional
// comment. It carries nothing about who gave it.
type Feedback struct {
	// Wellbeing and Work: how much therapy helped their wellbeing, and
	// their work in their NHS role (1 not at all, 5 a great deal).
	Wellbeing, Work *int
	// Stay: whether it made them more likely to stay in the profession
	// (1 much less likely, 3 no difference, 5 much more likely).
	Stay    *int
	Comment string
}

// MaxComment is the longest comment kept.
const MaxComment = 2000

// Check says what is wrong with the feedback, if anything.
func (f Feedback) Check() *Problem {
	for _, q := range []struct {
		field string
		v     *int
	}{{"wellbeing", f.Wellbeing}, {"work", f.Work}, {"stay", f.Stay}} {
		if q.v != nil && (*q.v < 1 || *q.v > 5) {
			return &Problem{Field: q.field, Message: q.field + " must be from 1 to 5"}
		}
	}
	if utf8.RuneCountInString(f.Comment) > MaxComment {
		return &Problem{Field: "comment", Message: fmt.Sprintf("comment must be at most %d characters", MaxComment)}
	}
	if !Typed(f.Comment, true) {
		return &Problem{Field: "comment", Message: "comment must be plain text, without control characters"}
	}
	return nil
}

// Answers to "are you still working or training in an NHS or
// NHS-contracted psychology role?".
const (
	StayedYes          = "yes"
	StayedNo           = "no"
	StayedRatherNotSay = "prefer-not-to-say"
)

// ValidStayed reports whether a is one of the answers.
func ValidStayed(a string) bool {
	return a == StayedYes || a == StayedNo || a == StayedRatherNotSay
}

// Quarters are a run of calendar quarters, both included, as feedback
// keeps them: "2026-Q1". Feedback knows only the quarter in which therapy
// ended, so a period is counted by the quarters it touches.
type Quarters struct{ From, To string }

// QuarterOf is the quarter a day is in.
func QuarterOf(d Date) string { return fmt.Sprintf("%04d-Q%d", d.Year, (int(d.Month)+2)/3) }

// QuartersOf are the quarters a period of days touches.
func QuartersOf(from, to Date) Quarters { return Quarters{QuarterOf(from), QuarterOf(to)} }

// YearQuarters are a calendar year's quarters.
func YearQuarters(year int) Quarters {
	return Quarters{fmt.Sprintf("%04d-Q1", year), fmt.Sprintf("%04d-Q4", year)}
}

// FeedbackSummary is what former clients said, by the quarter in which
// their therapy ended, with every count through the small-number rule and
// secondary suppression (SuppressRow): each row's counts and its total.
type FeedbackSummary struct {
	Quarters Quarters
	// Questions are the feedback's three questions: for each, how many
	// gave each answer, 1 to 5, and how many answered it.
	Questions []ScaleSummary
	// Stayed are the answers six and twelve months on: yes, no and rather
	// not say, and how many answered.
	Stayed []StayedSummary
	// Given is how many gave feedback at all.
	Given Cell
}

// ScaleSummary is one question's answers.
type ScaleSummary struct {
	Question string // wellbeing, work or stay
	Answers  []Cell // for 1 to 5
	Answered Cell
}

// StayedSummary is the answers to "did you stay?" at Months.
type StayedSummary struct {
	Months   int
	Answers  []Cell // yes, no, prefer-not-to-say
	Answered Cell
}

// StayedAnswers are the answers in the order a StayedSummary counts them.
var StayedAnswers = []string{StayedYes, StayedNo, StayedRatherNotSay}
