package activities

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/wmtna/referrals/internal/postgres"
	"github.com/wmtna/referrals/internal/postgres/postgrestest"
	"github.com/wmtna/referrals/internal/referral"
	"github.com/wmtna/referrals/workflows"
)

// The referral's concerns, which no message may carry.
const concerns = "Concerns-that-stay-in-Postgres"

// TestMessagesKeepTheirKeysAndSayOnlyWhatTheyMay writes every message a
// referral's life causes, from a real referral with concerns, and checks
// each one: its key, recipient, kind and subject as they have always been
// (the key is what makes writing a message idempotent), the crisis wording
// once in each message to a trainee and in no other, the sign-off once,
// the reader's own name only, and never the concerns.
func TestMessagesKeepTheirKeysAndSayOnlyWhatTheyMay(t *testing.T) {
	ctx := context.Background()
	db, _ := postgrestest.Open(t, "")
	chair, err := db.CreateCommitteeMember(ctx, referral.Principal{Role: referral.RoleOperator}, referral.CommitteeMember{Name: "Chris Chair", Email: "chair@example.org", Role: "chair"})
	if err != nil {
		t.Fatal(err)
	}
	th, err := db.CreateTherapist(ctx, referral.Principal{Role: referral.RoleOperator}, referral.Therapist{Name: "Terry Therapist", Email: "terry@example.org", HCPCNumber: "PYL1", Active: true, Online: true})
	if err != nil {
		t.Fatal(err)
	}
	ref, _, err := db.CreateReferral(ctx, referral.Submission{
		Name: "Sam Trainee", Email: "sam@nhs.example", Programme: "clinical", Employer: "RXT",
		TrainingStart: referral.Date{Year: time.Now().Year() - 1, Month: 10, Day: 1}, Concerns: concerns, AtRisk: true,
	}, time.Now(), "", "fp")
	if err != nil {
		t.Fatal(err)
	}
	a := &Activities{DB: db, PublicURL: "https://referrals.example/", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	id := ref.ID
	names := map[string]string{"sam@nhs.example": "Sam Trainee", "chair@example.org": "Chris Chair", "terry@example.org": "Terry Therapist"}

	type want struct{ key, to, kind, subject, link string }
	trainee := func(seq int, kind, subject string) want {
		return want{fmt.Sprintf("%s/%d/trainee", id, seq), "sam@nhs.example", kind, subject, "https://referrals.example/my-referral"}
	}
	therapist := func(seq int, kind, subject, link string) want {
		return want{fmt.Sprintf("%s/%d/therapist/%s", id, seq, th.ID), "terry@example.org", kind, subject, link}
	}
	review := "https://referrals.example/committee/referrals/" + id
	offer := func(to, from referral.Status, reason string) referral.Transition {
		return referral.Transition{ReferralID: id, From: from, To: to, Reason: reason, OfferID: "o1", TherapistID: th.ID}
	}
	cases := []struct {
		t    referral.Transition
		want []want
	}{
		{referral.Transition{ReferralID: id, From: referral.StatusSubmitted, To: referral.StatusAwaitingReview}, []want{
			{fmt.Sprintf("%s/committee-review/1/%s", id, chair.ID), "chair@example.org", "committee.review", "A referral is waiting for review", review},
			{fmt.Sprintf("%s/committee-urgent/1/%s", id, chair.ID), "chair@example.org", "committee.urgent", "Same-day attention: a referral is flagged", review},
			trainee(1, "trainee.awaiting_review", "We have received your referral"),
		}},
		{referral.Transition{ReferralID: id, From: referral.StatusSubmitted, To: referral.StatusIneligible, Reason: referral.ReasonUnknownEmployer},
			[]want{trainee(1, "trainee.ineligible", "About your referral")}},
		{referral.Transition{ReferralID: id, From: referral.StatusAwaitingReview, To: referral.StatusDeclined},
			[]want{trainee(1, "trainee.declined", "About your referral")}},
		{referral.Transition{ReferralID: id, From: referral.StatusMatching, To: referral.StatusWaitlisted},
			[]want{trainee(1, "trainee.waitlisted", "You are on the waiting list")}},
		{referral.Transition{ReferralID: id, From: referral.StatusWaitlisted, To: referral.StatusWaitlisted, Reason: referral.CodeStillWaiting}, nil},
		{offer(referral.StatusOffered, referral.StatusMatching, referral.CodePlaceReserved),
			[]want{therapist(1, "therapist.offered", "A referral is offered to you", "https://referrals.example/therapist")}},
		{offer(referral.StatusMatched, referral.StatusOffered, referral.CodeOfferAccepted), []want{
			therapist(1, "therapist.matched", "You have accepted a referral", "https://referrals.example/therapist"),
			trainee(1, "trainee.matched", "A therapist has accepted your referral"),
		}},
		{offer(referral.StatusMatching, referral.StatusOffered, referral.CodeOfferExpired),
			[]want{therapist(1, "therapist.matching", "An offer has expired", "")}},
		{offer(referral.StatusMatching, referral.StatusOffered, referral.CodeTherapistCapacity), nil},
		{offer(referral.StatusEnded, referral.StatusMatched, referral.CodeTherapyEnded),
			[]want{trainee(1, "trainee.ended", "Your therapy has ended")}},
		{offer(referral.StatusWithdrawn, referral.StatusOffered, referral.CodeWithdrawnByTrainee), []want{
			trainee(1, "trainee.withdrawn", "You have withdrawn your referral"),
			therapist(1, "therapist.withdrawn", "A referral has been withdrawn", ""),
		}},
		{referral.Transition{ReferralID: id, From: referral.StatusWaitlisted, To: referral.StatusWithdrawn},
			[]want{trainee(1, "trainee.withdrawn", "You have withdrawn your referral")}},
		{referral.Transition{ReferralID: id, From: referral.StatusWaitlisted, To: referral.StatusClosedNoResponse},
			[]want{trainee(1, "trainee.closed_no_response", "Your referral has closed")}},
		{referral.Transition{ReferralID: id, From: referral.StatusWaitlisted, To: referral.StatusLapsed},
			[]want{trainee(1, "trainee.lapsed", "Your referral has closed")}},
		{referral.Transition{ReferralID: id, From: referral.StatusWaitlisted, To: referral.StatusWaitlisted, Reason: referral.CodePaused}, nil},
		{referral.Transition{ReferralID: id, From: referral.StatusAwaitingReview, To: referral.StatusAwaitingInformation, Reason: referral.CodeInformationRequested},
			[]want{trainee(1, "trainee.awaiting_information", "The committee has a question about your referral")}},
		// The answer goes back to the committee only: the trainee was told
		// their referral is with the committee when it first was.
		{referral.Transition{ReferralID: id, From: referral.StatusAwaitingInformation, To: referral.StatusAwaitingReview, Reason: referral.CodeInformationGiven},
			[]want{{fmt.Sprintf("%s/committee-answered/1/%s", id, chair.ID), "chair@example.org", "committee.answered", "A trainee has answered the committee's question", review}}},
		{referral.Transition{ReferralID: id, From: referral.StatusAwaitingInformation, To: referral.StatusClosedNoResponse, Reason: referral.CodeIncomplete},
			[]want{trainee(1, "trainee.closed_incomplete", "Your referral has closed")}},
	}
	check := func(t *testing.T, got []postgres.Message, want []want) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%d messages, want %d: %+v", len(got), len(want), got)
		}
		for i, w := range want {
			m := got[i]
			if m.Key != w.key || m.Recipient != w.to || m.Kind != w.kind || m.Subject != w.subject {
				t.Errorf("message %d is %s to %s (%s) %q, want %s to %s (%s) %q", i, m.Key, m.Recipient, m.Kind, m.Subject, w.key, w.to, w.kind, w.subject)
			}
			checkBody(t, m, names, w.link)
		}
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s-to-%s-%s", c.t.From, c.t.To, c.t.Reason), func(t *testing.T) {
			c.t.Seq = 1
			got, err := a.messagesFor(ctx, c.t)
			if err != nil {
				t.Fatal(err)
			}
			check(t, got, c.want)
		})
	}

	// The messages the waiting and the reminders write straight to the
	// outbox.
	deadline := time.Date(2027, 3, 3, 12, 0, 0, 0, referral.London)
	if err := a.AskCheckIn(ctx, workflows.CheckInInput{ReferralID: id, N: 1, Deadline: deadline}); err != nil {
		t.Fatal(err)
	}
	if err := a.WarnLapse(ctx, workflows.LapseWarningInput{ReferralID: id, Cutoff: "2027-07-01"}); err != nil {
		t.Fatal(err)
	}
	if err := a.RemindCommittee(ctx, workflows.ReminderInput{ReferralID: id, N: 2}); err != nil {
		t.Fatal(err)
	}
	if err := a.RemindQuestion(ctx, workflows.QuestionReminderInput{ReferralID: id, N: 1, K: 2, Deadline: deadline}); err != nil {
		t.Fatal(err)
	}
	pauseEnds := time.Date(2027, 3, 10, 0, 0, 0, 0, referral.London)
	for range 2 { // retried: one message
		if err := a.RemindPauseEnds(ctx, workflows.PauseReminderInput{ReferralID: id, N: 1, Until: pauseEnds}); err != nil {
			t.Fatal(err)
		}
	}
	outbox, err := db.Outbox(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	var got []postgres.Message
	for _, m := range outbox {
		got = append(got, postgres.Message{Key: m.Key, Recipient: m.Recipient, Kind: m.Kind, Subject: m.Subject, Body: m.Body})
	}
	check(t, got, []want{
		{id + "/check-in/1", "sam@nhs.example", "trainee.check_in", "Do you still want a place with a therapist?", "https://referrals.example/my-referral/check-in"},
		{id + "/lapse-warning", "sam@nhs.example", "trainee.lapse_warning", "Your eligibility for the network ends soon", ""},
		{fmt.Sprintf("%s/committee-reminder/2/%s", id, chair.ID), "chair@example.org", "committee.reminder", "Reminder: a referral is waiting for review", review},
		{id + "/question/1/reminder/2", "sam@nhs.example", "trainee.question_reminder", "Reminder: the committee has a question about your referral", "https://referrals.example/my-referral"},
		{id + "/pause-ends/1", "sam@nhs.example", "trainee.pause_ending", "Your paused place on the waiting list starts again soon", "https://referrals.example/my-referral"},
	})
	if !strings.Contains(got[0].Body, "by 3 March 2027 ") || !strings.Contains(got[1].Body, "ends on 1 July 2027 ") || !strings.Contains(got[3].Body, "by 3 March 2027.") ||
		!strings.Contains(got[4].Body, "From 10 March 2027 ") {
		t.Errorf("dates missing:\n%s\n%s\n%s\n%s", got[0].Body, got[1].Body, got[3].Body, got[4].Body)
	}
}

// checkBody checks what one message says.
func checkBody(t *testing.T, m postgres.Message, names map[string]string, link string) {
	t.Helper()
	if strings.Contains(m.Body, concerns) || strings.Contains(m.Subject, concerns) {
		t.Errorf("%s carries the concerns:\n%s", m.Kind, m.Body)
	}
	crisis := 0
	if strings.HasPrefix(m.Kind, "trainee.") {
		crisis = 1
	}
	if n := strings.Count(m.Body, "116 123"); n != crisis {
		t.Errorf("%s carries the crisis wording %d times, want %d:\n%s", m.Kind, n, crisis, m.Body)
	}
	if n := strings.Count(m.Body, "\nWest Midlands Therapy Network Association"); n != 1 || !strings.HasSuffix(m.Body, "\n\nWest Midlands Therapy Network Association") {
		t.Errorf("%s signs off %d times, want once at the end:\n%s", m.Kind, n, m.Body)
	}
	for to, name := range names {
		want := 0
		if to == m.Recipient {
			want = 1
		}
		if n := strings.Count(m.Body+m.Subject, name); n != want {
			t.Errorf("%s to %s names %s %d times, want %d:\n%s", m.Kind, m.Recipient, name, n, want, m.Body)
		}
	}
	if !strings.HasPrefix(m.Body, "Dear "+names[m.Recipient]+",\n\n") {
		t.Errorf("%s does not greet its reader:\n%s", m.Kind, m.Body)
	}
	if link != "" && !strings.Contains(m.Body, link) {
		t.Errorf("%s has no link to %s:\n%s", m.Kind, link, m.Body)
	}
	if link == "" && strings.Contains(m.Body, "https://") {
		t.Errorf("%s has a link, want none:\n%s", m.Kind, m.Body)
	}
}

// The offer's letter says when the offer lapses, in the UK's time.
func TestOfferLetterSaysWhenToAnswerBy(t *testing.T) {
	db, _ := postgrestest.Open(t, "")
	ctx := context.Background()
	th, err := db.CreateTherapist(ctx, referral.Principal{Role: referral.RoleOperator}, referral.Therapist{Name: "Terry Therapist", Email: "terry@example.org", HCPCNumber: "PYL1", Active: true, Online: true})
	if err != nil {
		t.Fatal(err)
	}
	ref, _, err := db.CreateReferral(ctx, referral.Submission{Name: "Sam", Email: "sam@nhs.example", Programme: "clinical", Employer: "RXT",
		TrainingStart: referral.Date{Year: time.Now().Year() - 1, Month: 10, Day: 1}, Concerns: "c"}, time.Now(), "", "fp")
	if err != nil {
		t.Fatal(err)
	}
	a := &Activities{DB: db, PublicURL: "https://referrals.example/", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	lapses := time.Date(2026, 12, 9, 15, 0, 0, 0, time.UTC) // 3pm in London in December
	msgs, err := a.messagesFor(ctx, referral.Transition{ReferralID: ref.ID, Seq: 1, From: referral.StatusMatching, To: referral.StatusOffered,
		OfferID: "o1", TherapistID: th.ID, OfferExpiresAt: lapses})
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 || !strings.Contains(msgs[0].Body, "by 3:00pm on 9 December 2026") {
		t.Fatalf("the offer's letter does not say when to answer by: %+v", msgs)
	}
}
