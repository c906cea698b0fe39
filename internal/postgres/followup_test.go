package postgres_test

import (
	"context"
	"errors"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/wmtna/referrals/internal/postgres"
	"github.com/wmtna/referrals/internal/referral"
)

var linkSecret = regexp.MustCompile(`secret=(\S+)`)

// followUpLetter is an invitation email whose body is its secret.
func followUpLetter(name, email, secret string) (postgres.Message, error) {
	return postgres.Message{Recipient: email, Kind: "trainee.feedback", Subject: "s", Body: "secret=" + secret}, nil
}

// endedReferral stores a referral whose therapy ended at the given time.
func (s *store) endedReferral(at time.Time) string {
	s.t.Helper()
	id := s.referral(anyTrainee)
	if _, err := s.raw.Exec(context.Background(), `UPDATE referrals SET status = 'ended', ended_at = $2 WHERE id = $1`, id, at); err != nil {
		s.t.Fatal(err)
	}
	return id
}

// invite sends the nth invitation of kind and returns its outcome and
// secret ("" when none was written).
func (s *store) invite(id, kind string, n int) (postgres.InviteOutcome, string) {
	s.t.Helper()
	out, _, err := s.Invite(context.Background(), id, kind, n, 30*24*time.Hour, followUpLetter)
	if err != nil {
		s.t.Fatal(err)
	}
	msgs, err := s.Outbox(context.Background(), id)
	if err != nil {
		s.t.Fatal(err)
	}
	for _, m := range msgs {
		if m.Key == id+"/follow-up/"+kind+"/"+string(rune('0'+n)) {
			return out, linkSecret.FindStringSubmatch(m.Body)[1]
		}
	}
	return out, ""
}

// Feedback is kept with the programme and the quarter of the end of
// therapy only: no column of it, or of the answers to whether a former
// client stayed, can be joined to a person or a referral, and its link
// works once.
func TestFollowUpAnswersCannotBeJoinedToAnyone(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	ended := time.Date(2026, 11, 3, 15, 4, 5, 0, time.UTC)
	id := s.endedReferral(ended)

	out, secret := s.invite(id, referral.FollowUpFeedback, 1)
	if out != postgres.InviteSent || secret == "" {
		t.Fatalf("invite: %s %q", out, secret)
	}
	if again, _ := s.invite(id, referral.FollowUpFeedback, 1); again != postgres.InviteSent || s.count(`SELECT count(*)::int FROM follow_up_invitations`) != 1 {
		t.Errorf("a retried invitation wrote another")
	}
	// The reminder replaces the link: the first no longer works.
	out, reminder := s.invite(id, referral.FollowUpFeedback, 2)
	if out != postgres.InviteSent || reminder == secret {
		t.Fatalf("reminder: %s", out)
	}
	if _, err := s.Invitation(ctx, secret); !errors.Is(err, referral.ErrNotFound) {
		t.Errorf("the first link after the reminder: %v, want not found", err)
	}
	if kind, err := s.Invitation(ctx, reminder); err != nil || kind != referral.FollowUpFeedback {
		t.Fatalf("the reminder's link: %q %v", kind, err)
	}
	four, two := 4, 2
	f := referral.Feedback{Wellbeing: &four, Stay: &two, Comment: "It helped me stay."}
	if err := s.GiveFeedback(ctx, reminder, f); err != nil {
		t.Fatal(err)
	}
	if err := s.GiveFeedback(ctx, reminder, f); !errors.Is(err, referral.ErrNotFound) {
		t.Errorf("the link used twice: %v, want not found", err)
	}
	if out, _ := s.invite(id, referral.FollowUpFeedback, 3); out != postgres.InviteNotNeeded {
		t.Errorf("a reminder after the answer: %s, want not needed", out)
	}

	_, six := s.invite(id, referral.FollowUpStayed6, 1)
	if err := s.AnswerStayed(ctx, six, referral.StayedYes); err != nil {
		t.Fatal(err)
	}

	// What is kept: the programme and the quarter, no more.
	var programme, quarter, comment string
	var wellbeing, stay *int
	if err := s.raw.QueryRow(ctx, `SELECT programme, quarter, wellbeing, stay, comment FROM feedback`).Scan(&programme, &quarter, &wellbeing, &stay, &comment); err != nil {
		t.Fatal(err)
	}
	if programme != anyTrainee.programme || quarter != "2026-Q4" || *wellbeing != 4 || *stay != 2 || comment != f.Comment {
		t.Errorf("feedback stored as %s %s %v %v %q", programme, quarter, *wellbeing, *stay, comment)
	}
	if n := s.count(`SELECT count(*)::int FROM stayed_answers WHERE months = 6 AND answer = 'yes' AND quarter = '2026-Q4'`); n != 1 {
		t.Errorf("%d answers that they stayed, want 1", n)
	}
	// No column of an answer is an ID of anything else, or a time; and no
	// invitation is left to join them through.
	for _, table := range []string{"feedback", "stayed_answers"} {
		rows, err := s.raw.Query(ctx, `SELECT column_name, data_type FROM information_schema.columns WHERE table_name = $1 ORDER BY column_name`, table)
		if err != nil {
			t.Fatal(err)
		}
		var cols []string
		for rows.Next() {
			var name, typ string
			if err := rows.Scan(&name, &typ); err != nil {
				t.Fatal(err)
			}
			cols = append(cols, name)
			if (typ == "uuid" && name != "id") || typ == "date" || typ == "bytea" || typ[:min(len(typ), 9)] == "timestamp" {
				t.Errorf("%s.%s is a %s: a key or a time that could join it to someone", table, name, typ)
			}
		}
		rows.Close()
		if slices.Contains(cols, "referral_id") || slices.Contains(cols, "created_at") {
			t.Errorf("%s has columns %v", table, cols)
		}
		if n := s.count(`SELECT count(*)::int FROM information_schema.table_constraints WHERE table_name = $1 AND constraint_type = 'FOREIGN KEY'`, table); n != 0 {
			t.Errorf("%s has %d foreign keys", table, n)
		}
	}
	if n := s.count(`SELECT count(*)::int FROM follow_up_invitations WHERE referral_id = $1`, id); n != 0 {
		t.Errorf("%d invitations left after both were answered", n)
	}
	// The answer's key shares nothing with the referral's.
	if n := s.count(`SELECT count(*)::int FROM feedback f, referrals r WHERE f.id = r.id`); n != 0 {
		t.Error("a feedback row shares its key with a referral")
	}
}

// A former client who asks for no more follow-ups is sent none, and an
// erased referral none either; neither are follow-ups sent for a referral
// that did not end with therapy.
func TestFollowUpsStop(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	asked := s.endedReferral(time.Now())
	_, secret := s.invite(asked, referral.FollowUpStayed6, 1)
	got, err := s.StopFollowUps(ctx, secret)
	if err != nil || got != asked {
		t.Fatalf("stop: %q %v", got, err)
	}
	if _, err := s.Invitation(ctx, secret); !errors.Is(err, referral.ErrNotFound) {
		t.Errorf("a link after stopping: %v", err)
	}
	if out, _ := s.invite(asked, referral.FollowUpStayed12, 1); out != postgres.InviteStopped {
		t.Errorf("after stopping: %s, want stopped", out)
	}

	erased := s.endedReferral(time.Now())
	_, secret = s.invite(erased, referral.FollowUpFeedback, 1)
	if _, err := s.EraseReferral(ctx, erased, "operator:x", "request"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Invitation(ctx, secret); !errors.Is(err, referral.ErrNotFound) {
		t.Errorf("a link after erasure: %v", err)
	}
	if out, _ := s.invite(erased, referral.FollowUpStayed6, 1); out != postgres.InviteStopped {
		t.Errorf("after erasure: %s, want stopped", out)
	}

	withdrawn := s.referral(anyTrainee)
	if out, _ := s.invite(withdrawn, referral.FollowUpFeedback, 1); out != postgres.InviteStopped {
		t.Errorf("a referral still open: %s, want stopped", out)
	}
}

// The year's summary is checked against a seeded set of answers: counts of
// 1 to 4 are suppressed, and so is the next smallest where a row's total
// would give one away; other years are not counted.
func TestFeedbackSummarySuppresses(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	seed := func(quarter string, wellbeing, n int) {
		for range n {
			if _, err := s.raw.Exec(ctx, `INSERT INTO feedback (id, programme, quarter, wellbeing) VALUES (gen_random_uuid(), 'clinical', $1, $2)`, quarter, wellbeing); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Wellbeing in 2027: 3 said 2, 9 said 4, 6 said 5 (18 in all); one
	// more in 2026, not counted.
	seed("2027-Q1", 2, 3)
	seed("2027-Q2", 4, 9)
	seed("2027-Q4", 5, 6)
	seed("2026-Q4", 1, 1)
	for _, a := range []string{"yes", "yes", "yes", "yes", "yes", "yes", "no", "no"} {
		if _, err := s.raw.Exec(ctx, `INSERT INTO stayed_answers (id, programme, quarter, months, answer) VALUES (gen_random_uuid(), 'clinical', '2027-Q3', 6, $1)`, a); err != nil {
			t.Fatal(err)
		}
	}
	sum, err := s.FeedbackSummary(ctx, referral.YearQuarters(2027))
	if err != nil {
		t.Fatal(err)
	}
	const x = -1
	show := func(cells []referral.Cell) []int64 {
		out := make([]int64, len(cells))
		for i, c := range cells {
			out[i] = x
			if c.N != nil {
				out[i] = *c.N
			}
		}
		return out
	}
	// 2 is small: hidden; the next smallest, 5 (6 people), hidden with it.
	if got, want := show(sum.Questions[0].Answers), []int64{0, x, 0, 9, x}; !slices.Equal(got, want) {
		t.Errorf("wellbeing answers %v, want %v", got, want)
	}
	if n := sum.Questions[0].Answered.N; n == nil || *n != 18 {
		t.Errorf("wellbeing answered %v, want 18", n)
	}
	if n := sum.Given.N; n == nil || *n != 18 {
		t.Errorf("feedback given %v, want 18", n)
	}
	if got, want := show(sum.Questions[1].Answers), []int64{0, 0, 0, 0, 0}; !slices.Equal(got, want) {
		t.Errorf("work answers %v, want none", got)
	}
	// Six months on: 6 yes, 2 no; the 2 and the 6 hidden, the total shown.
	if got, want := show(sum.Stayed[0].Answers), []int64{x, x, 0}; sum.Stayed[0].Months != 6 || !slices.Equal(got, want) {
		t.Errorf("stayed at 6 months %v, want %v", got, want)
	}
	if n := sum.Stayed[0].Answered.N; n == nil || *n != 8 {
		t.Errorf("stayed answered %v, want 8", n)
	}
}
