package activities_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/wmtna/referrals/activities"
	"github.com/wmtna/referrals/internal/devmail"
	"github.com/wmtna/referrals/internal/email"
	"github.com/wmtna/referrals/internal/pgtest"
	"github.com/wmtna/referrals/internal/postgres"
	"github.com/wmtna/referrals/internal/postgres/postgrestest"
	"github.com/wmtna/referrals/internal/referral"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

type mailFixture struct {
	db   *postgres.DB
	box  *devmail.Box
	acts *activities.Activities
	ref  string
}

func newMailFixture(t *testing.T) *mailFixture {
	t.Helper()
	db, _ := postgrestest.Open(t, "")
	box, err := devmail.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = box.Close() })
	sender, err := email.New(box.URL(), "WMTNA <no-reply@wmtna.example>", "http://127.0.0.1:8080")
	if err != nil {
		t.Fatal(err)
	}
	ref, _, err := db.CreateReferral(context.Background(), referral.Submission{
		Name: "Sam", Email: "sam@nhs.example", Programme: "clinical", Employer: "RXT",
		TrainingStart: referral.Date{Year: time.Now().Year() - 1, Month: 10, Day: 1}, Concerns: "private",
	}, time.Now(), "", "fp")
	if err != nil {
		t.Fatal(err)
	}
	return &mailFixture{db: db, box: box, ref: ref.ID, acts: &activities.Activities{
		DB: db, Mailer: sender, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}}
}

// message writes one outbox message about the fixture's referral.
func (f *mailFixture) message(t *testing.T, key string) int64 {
	t.Helper()
	ids, err := f.db.WriteMessages(context.Background(), f.ref, []postgres.Message{{
		Key: key, Recipient: "sam@nhs.example", Kind: "trainee.test", Subject: "Subject " + key, Body: "Body " + key,
	}})
	if err != nil || len(ids) != 1 {
		t.Fatalf("write message: %v %v", ids, err)
	}
	return ids[0]
}

func (f *mailFixture) delivery(t *testing.T, id int64) postgres.Delivery {
	t.Helper()
	d, err := f.db.Delivery(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// received waits for n messages, then returns all there are.
func (f *mailFixture) received(t *testing.T, n int) []devmail.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	msgs, err := f.box.Wait(ctx, func(m []devmail.Message) bool { return len(m) >= n })
	if err != nil {
		t.Fatalf("received %d messages, want %d", len(msgs), n)
	}
	return msgs
}

func TestDeliverMessageSendsOnce(t *testing.T) {
	f := newMailFixture(t)
	ctx := context.Background()
	id := f.message(t, "once")
	for range 3 { // retries of a finished activity change nothing
		if err := f.acts.DeliverMessages(ctx, []int64{id}); err != nil {
			t.Fatal(err)
		}
	}
	// A second message proves the box has seen all the first's copies.
	if err := f.acts.DeliverMessages(ctx, []int64{f.message(t, "next")}); err != nil {
		t.Fatal(err)
	}
	msgs := f.received(t, 2)
	if len(msgs) != 2 || msgs[0].Subject != "Subject once" {
		t.Errorf("received %v, want the message once and the next one", msgs)
	}
	// The outbox keeps the text; the HTML part is made from it as it goes.
	if m := msgs[0]; m.ContentType != "multipart/alternative" || m.Body != "Body once" ||
		!strings.Contains(m.HTML, "<p>Body once</p>") || !strings.Contains(m.HTML, "<title>Subject once</title>") {
		t.Errorf("sent as %s, text %q, HTML:\n%s", m.ContentType, m.Body, m.HTML)
	}
	if d := f.delivery(t, id); d.SentAt == nil || d.Uncertain || d.Attempts != 1 {
		t.Errorf("delivery state %+v", d)
	}
}

// TestDeliverMessageAfterACrashAtTheDot: an attempt that reached the point
// of no return and died is not repeated; the message is recorded as sent,
// uncertain.
func TestDeliverMessageAfterACrashAtTheDot(t *testing.T) {
	f := newMailFixture(t)
	ctx := context.Background()
	id := f.message(t, "crash")
	if err := f.db.MarkSending(ctx, id); err != nil { // what the dead attempt left
		t.Fatal(err)
	}
	if err := f.acts.DeliverMessages(ctx, []int64{id}); err != nil {
		t.Fatal(err)
	}
	if err := f.acts.DeliverMessages(ctx, []int64{f.message(t, "next")}); err != nil {
		t.Fatal(err)
	}
	if msgs := f.received(t, 1); len(msgs) != 1 || msgs[0].Subject != "Subject next" {
		t.Errorf("received %v, want only the next message", msgs)
	}
	if d := f.delivery(t, id); d.SentAt == nil || !d.Uncertain {
		t.Errorf("delivery state %+v, want sent and uncertain", d)
	}
}

// TestDeliverMessageRetriesARefusal: a temporary "no" after the dot leaves
// the message unsent, and the retry sends it.
func TestDeliverMessageRetriesARefusal(t *testing.T) {
	f := newMailFixture(t)
	ctx := context.Background()
	refusals := 1
	f.box.OnData = func(devmail.Message) error {
		if refusals > 0 {
			refusals--
			return &smtp.SMTPError{Code: 451, Message: "try again later"}
		}
		return nil
	}
	id := f.message(t, "refused")
	if err := f.acts.DeliverMessages(ctx, []int64{id}); err == nil {
		t.Fatal("a refused message reported as delivered")
	}
	if d := f.delivery(t, id); d.SendingAt != nil || d.SentAt != nil {
		t.Fatalf("after a refusal: %+v, want neither sending nor sent", d)
	}
	if err := f.acts.DeliverMessages(ctx, []int64{id}); err != nil {
		t.Fatal(err)
	}
	if msgs := f.received(t, 1); len(msgs) != 1 {
		t.Errorf("received %d messages, want 1", len(msgs))
	}
}

// TestDeliverMessageSkipsErased: a referral erased before its message went
// has nobody to send it to.
func TestDeliverMessageSkipsErased(t *testing.T) {
	f := newMailFixture(t)
	ctx := context.Background()
	id := f.message(t, "erased")
	withdrawn := referral.Transition{ReferralID: f.ref, Seq: 1, At: time.Now(), Actor: referral.Actor{Role: referral.RoleTrainee},
		From: referral.StatusSubmitted, To: referral.StatusWithdrawn}
	if _, _, err := f.db.RecordTransition(ctx, withdrawn, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := f.db.EraseReferral(ctx, f.ref, "operator:admin", postgres.ErasureRequest); err != nil {
		t.Fatal(err)
	}
	if err := f.acts.DeliverMessages(ctx, []int64{id}); err != nil {
		t.Fatal(err)
	}
	if d := f.delivery(t, id); d.FailedAt == nil || d.SentAt != nil {
		t.Errorf("delivery state %+v, want failed and not sent", d)
	}
	if n := len(f.box.Messages()); n != 0 {
		t.Errorf("received %d messages of an erased referral", n)
	}
}

// TestDeliverMessagesGoesOnAfterAPermanentRefusal: in a batch, a message
// refused for good is recorded as failed, and the next one still goes.
func TestDeliverMessagesGoesOnAfterAPermanentRefusal(t *testing.T) {
	f := newMailFixture(t)
	ctx := context.Background()
	f.box.OnData = func(m devmail.Message) error {
		if m.Subject == "Subject bad" {
			return &smtp.SMTPError{Code: 550, Message: "no such user"}
		}
		return nil
	}
	bad, good := f.message(t, "bad"), f.message(t, "good")
	if err := f.acts.DeliverMessages(ctx, []int64{bad, good}); err != nil {
		t.Fatal(err)
	}
	if d := f.delivery(t, bad); d.FailedAt == nil || d.SentAt != nil || d.SendingAt != nil {
		t.Errorf("refused message: %+v, want failed", d)
	}
	if d := f.delivery(t, good); d.SentAt == nil {
		t.Errorf("next message: %+v, want sent", d)
	}
	if msgs := f.received(t, 1); len(msgs) != 1 || msgs[0].Subject != "Subject good" {
		t.Errorf("received %v", msgs)
	}
}
