package faulttest

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/wmtna/referrals/internal/devmail"
	"github.com/wmtna/referrals/internal/stacktest"
	"github.com/wmtna/referrals/workflows"
)

// TestWorkerKilledBetweenSendingAndRecordingSendsOnce SIGKILLs the real
// `wmtna worker` at the worst moment for email: the SMTP server has the
// whole message, dot included, and the worker has not yet heard "250" nor
// recorded the message as sent. After a restart every message has arrived
// exactly once; the one caught in the crash is recorded as sent, uncertain.
func TestWorkerKilledBetweenSendingAndRecordingSendsOnce(t *testing.T) {
	binDir := t.TempDir()
	built := make(chan error, 1)
	go func() { built <- buildWMTNA(binDir) }()
	st := newStack(t, "")
	box, err := devmail.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = box.Close() })
	if err := <-built; err != nil {
		t.Fatal(err)
	}
	w := &workerProc{bin: filepath.Join(binDir, "wmtna"), env: append(st.workerEnv(t), "SMTP_URL="+box.URL()), out: &syncBuffer{}}
	t.Cleanup(w.stop)
	if err := w.start(); err != nil {
		t.Fatal(err)
	}
	if err := w.waitOutput("worker polling", 30*time.Second); err != nil {
		t.Fatalf("%v; worker output:\n%s", err, w.out.tail(40))
	}

	var once sync.Once
	var caught string
	box.OnData = func(m devmail.Message) error {
		once.Do(func() {
			caught = m.MessageID
			w.kill() // before the worker reads "250" and records the message sent
			if err := w.start(); err != nil {
				t.Errorf("restart worker: %v", err)
			}
		})
		return nil
	}

	st.committeeMember(t)
	if r := st.do(t, "POST", "/v1/referrals", "", submission(st.trainingMonth(), "caught@nhs.example")); r.Status != 202 {
		t.Fatalf("submit: %d %s", r.Status, r.Raw)
	}
	// The lost attempt is retried when its start-to-close timeout has
	// passed, so allow for it.
	limit := workflows.DefaultMailTimings.Attempt + 45*time.Second
	// The first message, the one the crash catches, is the one asking the
	// trainee to confirm: its link comes from the mailbox, as a person's
	// would.
	waitCtx, stopWaiting := context.WithTimeout(context.Background(), limit)
	defer stopWaiting()
	code, err := stacktest.ConfirmCode(waitCtx, box, "caught@nhs.example", func(string) bool { return false })
	if err != nil {
		t.Fatalf("%v; worker output:\n%s", err, w.out.tail(40))
	}
	sub := st.do(t, "POST", "/v1/confirmations", "", map[string]any{"code": code})
	if sub.Status != 201 {
		t.Fatalf("confirm: %d %s", sub.Status, sub.Raw)
	}
	if r, err := st.api().waitStatus(sub.Str("id"), "awaiting_review", time.Now().Add(limit)); err != nil {
		t.Fatalf("%v: %s", err, r.Raw)
	}
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	for {
		n, err := st.db.PendingMessages(ctx)
		if err != nil {
			t.Fatalf("%v; worker output:\n%s", err, w.out.tail(40))
		}
		if n == 0 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%d messages still undelivered; worker output:\n%s", n, w.out.tail(60))
		case <-time.After(100 * time.Millisecond):
		}
	}

	msgs := box.Messages()
	seen := map[string]int{}
	for _, m := range msgs {
		seen[m.MessageID]++
	}
	if len(msgs) != 3 || len(seen) != 3 {
		t.Errorf("received %d messages (%d different), want the request to confirm, the committee's and the trainee's once each: %v", len(msgs), len(seen), seen)
	}
	if caught == "" {
		t.Fatal("no message reached the server, so the worker was never killed")
	}
	var id int64
	if _, err := fmt.Sscanf(caught, "<outbox-%d@", &id); err != nil {
		t.Fatalf("Message-ID %q: %v", caught, err)
	}
	d, err := st.db.Delivery(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if d.SentAt == nil || !d.Uncertain {
		t.Errorf("the message caught in the crash: %+v, want sent and uncertain", d)
	}
}
