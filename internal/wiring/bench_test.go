package wiring_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/wmtna/referrals/internal/referral"
	"github.com/wmtna/referrals/internal/stacktest"
)

// BenchmarkPipeline measures the two automatic stretches of a referral's
// life on a real Temporal server and PostgreSQL, next to a baseline measured
// on the same server in the same run: a bare workflow with the same number of
// activities that do nothing. Compare ns/op of each to the baseline:
//
//	go test ./internal/wiring/ -run '^$' -bench Pipeline -benchtime 50x
func BenchmarkPipeline(b *testing.B) {
	s := stacktest.Start(b, fast)
	chair := s.Do("POST", "/v1/committee-members", admin, map[string]any{"name": "Chair", "email": "chair@example.org", "role": "chair"}).Str("token")
	s.Do("POST", "/v1/therapists", admin, map[string]any{"name": "Dr Big", "email": "big@example.org", "hcpc_number": "PYL1", "capacity": 50})
	n := 0
	submitAndWait := func(b *testing.B) submitted {
		n++
		r := s.MustRefer(submission(s, fmt.Sprintf("bench%d@nhs.example", n)))
		waitDB(b, s, r.Str("id"), "awaiting_review")
		return submitted{id: r.Str("id"), token: r.Str("token")}
	}

	b.Run("baseline_bare_workflow_3_activities", func(b *testing.B) {
		w := s.Temporal.NewWorker("bench-bare", func(r sdkworker.Registry) {
			r.RegisterWorkflowWithOptions(bareWorkflow, workflow.RegisterOptions{Name: "Bare"})
			r.RegisterActivity(noop)
		})
		defer w.Stop()
		for i := 0; b.Loop(); i++ {
			run, err := s.Client.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{ID: fmt.Sprintf("bare-%d", i), TaskQueue: "bench-bare"}, "Bare")
			if err != nil {
				b.Fatal(err)
			}
			if err := run.Get(context.Background(), nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("submit_to_awaiting_review", func(b *testing.B) {
		for b.Loop() {
			submitAndWait(b)
		}
	})
	b.Run("approve_to_offered", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			ref := submitAndWait(b)
			b.StartTimer()
			r := s.Do("POST", "/v1/referrals/"+ref.id+"/review", chair, map[string]any{"decision": "approve"})
			if r.Status != 200 || r.Str("status") != "offered" {
				b.Fatalf("approve: %d %s", r.Status, r.Raw)
			}
			b.StopTimer()
			// Free the place for the next iteration.
			if r := s.Do("POST", "/v1/referrals/"+ref.id+"/withdraw", ref.token, nil); r.Status != 200 {
				b.Fatalf("withdraw: %d %s", r.Status, r.Raw)
			}
			b.StartTimer()
		}
	})
}

// waitDB polls the referral's status in Postgres, which the workflow's
// transition activity writes.
func waitDB(b *testing.B, s *stacktest.Stack, id, want string) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, err := s.DB.Referral(context.Background(), id)
		if err != nil {
			b.Fatal(err)
		}
		if string(r.Status) == want {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("referral %s is %s, want %s", id, r.Status, want)
		}
		time.Sleep(time.Millisecond)
	}
}

// bareWorkflow has the shape of submission to review (three activities in
// sequence) with none of the work.
func bareWorkflow(ctx workflow.Context) error {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 10 * time.Second})
	for range 3 {
		if err := workflow.ExecuteActivity(ctx, noop).Get(ctx, nil); err != nil {
			return err
		}
	}
	return nil
}

func noop(context.Context) error { return nil }

// BenchmarkSubmissionAnswer times the answer to a submission for an
// address that already has an open referral next to one for a new
// address, in the same run: the answers are the same, and so should the
// work behind them be, or the time would tell what the words do not. Each
// submission is an address's first, as a prober's would be (a repeated
// one meets the cap on emails per address).
//
//	go test ./internal/wiring/ -run '^$' -bench SubmissionAnswer -benchtime 200x -count 5
func BenchmarkSubmissionAnswer(b *testing.B) {
	s := stacktest.Start(b, fast)
	ctx := context.Background()
	n := 0
	for _, c := range []struct {
		name string
		open bool
	}{{"new_address", false}, {"open_referral", true}} {
		b.Run(c.name, func(b *testing.B) {
			emails := make([]string, b.N)
			for i := range emails {
				n++
				emails[i] = fmt.Sprintf("answer%d@nhs.example", n)
				if c.open {
					// Open as far as a submission can tell: stored, and
					// not closed.
					sub := referral.Submission{Name: "Open", Email: emails[i], Programme: "clinical", Employer: "RXT",
						TrainingStart: stacktest.TrainingStart(s.Now()), Concerns: "c"}
					if _, _, err := s.DB.CreateReferral(ctx, sub, s.Now(), "", "open-"+emails[i]); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ResetTimer()
			for i := range b.N {
				if r := s.Do("POST", "/v1/referrals", "", submission(s, emails[i])); r.Status != 202 {
					b.Fatalf("submit: %d %s", r.Status, r.Raw)
				}
			}
		})
	}
}
