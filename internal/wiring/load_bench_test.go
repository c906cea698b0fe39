package wiring_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/wmtna/referrals/internal/referral"
	"github.com/wmtna/referrals/internal/stacktest"
	"github.com/wmtna/referrals/workflows"
)

// Load benchmarks ("Ready for operators"). They measure and report; they
// assert nothing about speed. Every figure that matters is read as a ratio
// against a baseline measured on the same server in the same run. See
// BENCHMARKS.md for the command, the figures and how to read them:
//
//	go test ./internal/wiring/ -run '^$' -bench 'LifecycleThroughput|WaitlistWakeUp|SubmitLatency' -benchtime 40x -timeout 20m

// loadTimings keeps every timer out of the way: nothing expires, reminds or
// rechecks during a run, so what is measured is the work the requests cause.
var loadTimings = workflows.Timings{ReviewReminder: time.Hour, OfferTTL: time.Hour, WaitlistRecheck: time.Hour}

// loadConcurrency is how many referrals are in flight at once in the
// lifecycle benchmark, for the pipeline and its baseline alike.
const loadConcurrency = 8

// loadPoll is how often a driver looks for a stage to be reached (the status
// the stack saw recorded, a status in Postgres, or the baseline's marker). It
// bounds the latency a poll adds.
const loadPoll = 2 * time.Millisecond

// BenchmarkLifecycleThroughput drives b.N referrals, loadConcurrency at a
// time, through submit → eligibility → approve → offer → accept against the
// whole stack, with a simulated committee member and therapists with room
// for all of them. Its baseline, measured first on the same server, is a
// bare workflow of the same shape: the same eight activities doing nothing
// (RecordTransition ×5, CheckEligibility, Enqueue, AcceptOffer), the same
// two updates (approve, accept) sent with client.UpdateWorkflow and applied
// by the main loop as the referral workflow does, and the same concurrency.
// The pipeline's line carries ratio_vs_bare: its referrals/s divided by the
// baseline's.
//
//	go test ./internal/wiring/ -run '^$' -bench LifecycleThroughput -benchtime 40x
func BenchmarkLifecycleThroughput(b *testing.B) {
	s := stacktest.Start(b, loadTimings)
	api := newLoadClient(s, 4*loadConcurrency)
	chair := s.Do("POST", "/v1/committee-members", admin, map[string]any{"name": "Chair", "email": "chair@example.org", "role": "chair"}).Str("token")
	therapistTokens := map[string]string{} // therapist ID → token
	places := 0
	// room makes sure the register has free places for n more referrals
	// (accepted referrals keep theirs).
	room := func(b *testing.B, used, n int) {
		for places < used+n {
			k := len(therapistTokens) + 1
			status, r, err := api.do("POST", "/v1/therapists", admin, map[string]any{
				"name": fmt.Sprintf("Dr Load %d", k), "email": fmt.Sprintf("load%d@example.org", k), "hcpc_number": fmt.Sprintf("PYL9%04d", k),
				"capacity": 50, "online": true, "in_person": true, "areas": []string{"birmingham"},
			})
			if err != nil || status != 201 {
				b.Fatalf("create therapist: %d %v %v", status, r, err)
			}
			id, _ := r["id"].(string)
			token, _ := r["token"].(string)
			therapistTokens[id] = token
			places += 50
		}
	}
	room(b, 0, 200)

	var bareRate, bareE2E float64 // referrals/s and p50 end to end of the baseline's last run
	matched := 0
	var emails atomic.Int64

	b.Run("baseline_bare_workflow", func(b *testing.B) {
		w := s.Temporal.NewWorkerWithOptions(bareTaskQueue, func(r sdkworker.Registry) {
			r.RegisterWorkflowWithOptions(bareLifecycleWorkflow, workflow.RegisterOptions{Name: "BareLifecycle"})
			r.RegisterActivityWithOptions(bareStep, activity.RegisterOptions{Name: "BareStep"})
		}, sdkworker.Options{})
		defer w.Stop()
		run := emails.Add(1)
		var lat lifecycleLatencies
		before := histograms(b, s)
		b.ResetTimer()
		start := time.Now()
		err := runConcurrently(b.N, loadConcurrency, func(i int) error {
			return bareLifecycle(s.Client, fmt.Sprintf("bare-lifecycle-%d-%d", run, i), &lat)
		})
		elapsed := time.Since(start)
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		bareRate, bareE2E = float64(b.N)/elapsed.Seconds(), lat.endToEnd.percentile(50)
		b.ReportMetric(bareRate, "referrals/s")
		lat.report(b)
		logBreakdown(b, before, histograms(b, s))
		reportHeap(b)
		reportCachedWorkflows(b, s)
	})

	b.Run("pipeline", func(b *testing.B) {
		room(b, matched, b.N)
		var lat lifecycleLatencies
		before := histograms(b, s)
		b.ResetTimer()
		start := time.Now()
		err := runConcurrently(b.N, loadConcurrency, func(i int) error {
			return referralLifecycle(api, s, chair, therapistTokens, fmt.Sprintf("load%d@nhs.example", emails.Add(1)), &lat)
		})
		// The run ends when its emails are delivered too: the pipeline's
		// work includes them, though no referral waits for them.
		lastMatched := time.Now()
		if err == nil {
			err = waitEmailsDelivered(s, time.Minute)
		}
		elapsed := time.Since(start)
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(time.Since(lastMatched).Milliseconds()), "email_drain_ms")
		matched += b.N
		rate := float64(b.N) / elapsed.Seconds()
		b.ReportMetric(rate, "referrals/s")
		if bareRate > 0 {
			b.ReportMetric(rate/bareRate, "ratio_vs_bare")
			b.ReportMetric(lat.endToEnd.percentile(50)/bareE2E, "e2e_p50_ratio_vs_bare")
		} else {
			b.Log("no baseline in this run (select it with -bench LifecycleThroughput): ratio_vs_bare not reported")
		}
		lat.report(b)
		logBreakdown(b, before, histograms(b, s))
		// The whole test process: the in-process Temporal server, the API,
		// the worker (with every open workflow in its cache) and this
		// driver. Compare with the baseline's line.
		reportHeap(b)
		reportCachedWorkflows(b, s)
	})
}

// referralLifecycle takes one referral from submission to matched through
// the HTTP API, as the trainee, the committee and the therapist would.
func referralLifecycle(api *loadClient, s *stacktest.Stack, chair string, therapists map[string]string, email string, lat *lifecycleLatencies) error {
	id, took, err := api.refer(s, email)
	if err != nil {
		return err
	}
	// End to end counts the two requests of referring, not the email's
	// journey between them.
	began := time.Now().Add(-took)
	lat.submit.add(took)
	// The committee member learns of the referral as the baseline's driver
	// does, from memory: polling Postgres every loadPoll from 8 goroutines
	// would load the machine the pipeline runs on, and not the baseline's.
	for deadline := time.Now().Add(time.Minute); s.Recorded(id) != referral.StatusAwaitingReview; time.Sleep(loadPoll) {
		if time.Now().After(deadline) {
			return fmt.Errorf("referral %s did not reach awaiting_review", id)
		}
	}

	t := time.Now()
	status, body, err := api.do("POST", "/v1/referrals/"+id+"/review", chair, map[string]any{"decision": "approve"})
	if err != nil || status != 200 || body["status"] != "offered" {
		return fmt.Errorf("approve %s: %d %v %v", id, status, body, err)
	}
	lat.approve.add(time.Since(t))
	offerID, _ := body["offer_id"].(string)
	therapistID, _ := body["therapist_id"].(string)

	t = time.Now()
	status, body, err = api.do("POST", "/v1/offers/"+offerID+"/accept", therapists[therapistID], nil)
	if err != nil || status != 200 || body["status"] != "matched" {
		return fmt.Errorf("accept %s: %d %v %v", offerID, status, body, err)
	}
	lat.accept.add(time.Since(t))
	lat.endToEnd.add(time.Since(began))
	return nil
}

// The baseline: a workflow of the referral's shape with none of the work.

const bareTaskQueue = "bench-bare-lifecycle"

// bareAwaiting marks the baseline workflows whose third activity (the
// transition to awaiting_review) has run: the driver polls it as the
// pipeline's driver polls Postgres.
var bareAwaiting sync.Map

func bareStep(ctx context.Context, referralID, step string) error {
	if step == "record:awaiting_review" {
		bareAwaiting.Store(activity.GetInfo(ctx).WorkflowExecution.ID, true)
	}
	return nil
}

type bareCommand struct {
	done bool
}

// bareLifecycleWorkflow mirrors workflows.ReferralWorkflow on the path
// submitted → awaiting_review → matching → offered → matched: the same
// activities in the same order with the same options, the updates validated
// against the stage and applied one at a time by the main loop, and the
// workflow left running afterwards, as a matched referral's is. It leaves
// out the five search-attribute upserts, the query handler and the other
// update handlers.
func bareLifecycleWorkflow(ctx workflow.Context, referralID string) error {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute},
	})
	stage := "submitted"
	var pending []*bareCommand
	for _, u := range []struct{ name, need string }{{"approve", "awaiting_review"}, {"accept", "offered"}} {
		need := u.need
		err := workflow.SetUpdateHandlerWithOptions(ctx, u.name,
			func(ctx workflow.Context, arg string) (string, error) {
				c := &bareCommand{}
				pending = append(pending, c)
				if err := workflow.Await(ctx, func() bool { return c.done }); err != nil {
					return "", err
				}
				return stage, nil
			},
			workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, arg string) error {
				if stage != need || len(pending) > 0 {
					return temporal.NewApplicationError("not possible while "+stage, workflows.ErrTypeInvalidState)
				}
				return nil
			}})
		if err != nil {
			return err
		}
	}
	step := func(name string) error {
		return workflow.ExecuteActivity(ctx, "BareStep", referralID, name).Get(ctx, nil)
	}
	// The referral workflow moves to a status before recording it.
	if err := step("record:submitted"); err != nil {
		return err
	}
	if err := step("check_eligibility"); err != nil {
		return err
	}
	stage = "awaiting_review"
	if err := step("record:awaiting_review"); err != nil {
		return err
	}
	apply := func(steps ...string) error {
		if err := workflow.Await(ctx, func() bool { return len(pending) > 0 }); err != nil {
			return err
		}
		c := pending[0]
		pending = pending[1:]
		for _, st := range steps {
			switch st {
			case "record:matching":
				stage = "matching"
			case "record:offered":
				stage = "offered"
			case "record:matched":
				stage = "matched"
			}
			if err := step(st); err != nil {
				return err
			}
		}
		c.done = true
		return nil
	}
	if err := apply("record:matching", "enqueue", "record:offered"); err != nil {
		return err
	}
	if err := apply("accept_offer", "record:matched"); err != nil {
		return err
	}
	// Matched: wait, as the referral does, for a decision that will not come
	// during the benchmark.
	return workflow.Await(ctx, func() bool { return len(pending) > 0 })
}

// bareLifecycle drives one baseline workflow as referralLifecycle drives a
// referral, with the Temporal client instead of the API.
func bareLifecycle(c client.Client, id string, lat *lifecycleLatencies) error {
	ctx := context.Background()
	began := time.Now()
	if _, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: bareTaskQueue}, "BareLifecycle", id); err != nil {
		return fmt.Errorf("start %s: %w", id, err)
	}
	lat.submit.add(time.Since(began))
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(loadPoll) {
		if _, ok := bareAwaiting.Load(id); ok {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not reach awaiting_review", id)
		}
	}
	update := func(name, want string, into *latencies) error {
		t := time.Now()
		h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
			WorkflowID: id, UpdateName: name, Args: []any{name}, WaitForStage: client.WorkflowUpdateStageCompleted,
		})
		var got string
		if err == nil {
			err = h.Get(ctx, &got)
		}
		if err == nil && got != want {
			err = fmt.Errorf("status %s, want %s", got, want)
		}
		if err != nil {
			return fmt.Errorf("%s %s: %w", name, id, err)
		}
		into.add(time.Since(t))
		return nil
	}
	if err := update("approve", "offered", &lat.approve); err != nil {
		return err
	}
	if err := update("accept", "matched", &lat.accept); err != nil {
		return err
	}
	lat.endToEnd.add(time.Since(began))
	return nil
}

// BenchmarkWaitlistWakeUp measures how long a freed place takes to reach
// the longest-waiting referral, with W referrals waiting. The oldest is a
// real referral, submitted and approved through the API while no therapist
// was registered, so its workflow waits on the waitlist. The other W-1 are
// rows only (referral and queue rows inserted by one statement, with no
// workflows), all behind it in the queue. One op: register a therapist with
// one place through the API, and poll Postgres until the real referral is
// 'offered' (its workflow writes that status when the offer reaches it).
// ns/op is the wake-up time. Between ops, with the timer stopped, the
// therapist declines (therapist-capacity), which puts the referral back on
// the waitlist at the head of the queue; the place goes to the next row,
// one new row tops the queue back up to W, and the workflow is left idle
// for wakeSettle. alloc_full_therapist_p50_ms times, in the store alone, an
// allocation that finds no one to place (see BENCHMARKS.md). The sizes share
// one stack and grow from 100 to 10,000.
//
//	go test ./internal/wiring/ -run '^$' -bench WaitlistWakeUp -benchtime 20x
func BenchmarkWaitlistWakeUp(b *testing.B) {
	ctx := context.Background()
	s := stacktest.Start(b, loadTimings)
	api := newLoadClient(s, 4)
	chair := s.Do("POST", "/v1/committee-members", admin, map[string]any{"name": "Chair", "email": "chair@example.org", "role": "chair"}).Str("token")
	oldest := s.MustRefer(submission(s, "oldest@nhs.example")).Str("id")
	waitDB(b, s, oldest, "awaiting_review")
	if r := s.Do("POST", "/v1/referrals/"+oldest+"/review", chair, map[string]any{"decision": "approve"}); r.Status != 200 || r.Str("status") != "waitlisted" {
		b.Fatalf("approve with no therapist: %d %s", r.Status, r.Raw)
	}
	conn, err := pgx.Connect(ctx, s.Config.DatabaseURL)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close(context.Background()) })

	batch := 0
	// topUp makes the rows behind the real referral number want.
	topUp := func(b *testing.B, want int) {
		var have int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM queue WHERE state = 'waiting' AND referral_id <> $1`, oldest).Scan(&have); err != nil {
			b.Fatal(err)
		}
		if have >= want {
			return
		}
		batch++
		if _, err := conn.Exec(ctx, `
			WITH r AS (
				INSERT INTO referrals (id, name, email, email_key, programme, employer, training_start, concerns,
				                       request_fingerprint, status, eligible, eligibility_reason, cutoff, last_seq)
				SELECT gen_random_uuid(), 'Bulk Waiting', e, e, 'clinical', 'RXT', DATE '2025-10-01', 'bulk row',
				       'bulk', 'waitlisted', true, 'eligible', DATE '2028-07-01', 3
				FROM (SELECT format('bulk%s-%s@nhs.example', $1::int, g) AS e FROM generate_series(1, $2::int) g) s
				RETURNING id)
			INSERT INTO queue (referral_id, state) SELECT id, 'waiting' FROM r`, batch, want-have); err != nil {
			b.Fatal(err)
		}
		if want-have > 50 {
			// As autovacuum would soon after a load like this in
			// production: the planner sees the tables as they are.
			if _, err := conn.Exec(ctx, `VACUUM ANALYZE queue, referrals, offers`); err != nil {
				b.Fatal(err)
			}
		}
	}

	therapists := 0
	lastTherapist := ""
	var firstWake float64 // p50 wake-up of the smallest queue, the curve's reference
	for _, w := range []int{100, 1000, 10000} {
		b.Run(fmt.Sprintf("waiting=%d", w), func(b *testing.B) {
			var wake, create, signalled latencies
			spent := map[string]histStat{} // SDK and API timers during the timed parts only
			for range b.N {
				b.StopTimer()
				topUp(b, w-1)
				if err := pollStatus(s, oldest, "waitlisted", 30*time.Second); err != nil {
					b.Fatal(err)
				}
				therapists++
				body := map[string]any{
					"name": fmt.Sprintf("Dr Freed %d", therapists), "email": fmt.Sprintf("freed%d@example.org", therapists),
					"hcpc_number": fmt.Sprintf("PYL8%04d", therapists), "capacity": 1, "online": true, "in_person": true, "areas": []string{"birmingham"},
				}
				// A referral is woken after waiting for weeks, its workflow
				// idle. Straight after the decline it is not: woken within a
				// few milliseconds of its last update, its workflow tasks
				// waited ~30 ms each to be dispatched and a wake-up took ~90
				// ms instead of ~30 (2 cores, in-process server). Let it
				// settle first.
				time.Sleep(wakeSettle)
				before := histograms(b, s)
				b.StartTimer()

				began := time.Now()
				status, created, err := api.do("POST", "/v1/therapists", admin, body)
				if err != nil || status != 201 {
					b.Fatalf("create therapist: %d %v %v", status, created, err)
				}
				answered := time.Now()
				if err := pollStatus(s, oldest, "offered", 30*time.Second); err != nil {
					b.Fatal(err)
				}
				done := time.Now()

				b.StopTimer()
				for k, v := range histograms(b, s) {
					spent[k] = histStat{spent[k].n + v.n - before[k].n, spent[k].sum + v.sum - before[k].sum}
				}
				wake.add(done.Sub(began))
				create.add(answered.Sub(began))
				signalled.add(done.Sub(answered))
				// The place reached the head of the queue, not someone behind.
				o, err := s.DB.LiveOffer(ctx, oldest)
				if err != nil || o == nil || o.TherapistID != created["id"] {
					b.Fatalf("offer of the oldest referral: %+v %v, want one with therapist %v", o, err, created["id"])
				}
				lastTherapist, _ = created["id"].(string)
				token, _ := created["token"].(string)
				status, answer, err := api.do("POST", "/v1/offers/"+o.ID+"/decline", token, map[string]any{"reason_code": "therapist-capacity"})
				if err != nil || status != 200 || answer["status"] != "waitlisted" {
					b.Fatalf("decline: %d %v %v", status, answer, err)
				}
				b.StartTimer()
			}
			b.StopTimer()
			wake.reportAs(b, "wake")
			create.reportAs(b, "create_therapist_http")
			signalled.reportAs(b, "http_to_offered")
			// One allocation that cannot place anyone: a change to the last
			// therapist, now full (its place went to the next row when it
			// declined). UpdateTherapist runs fillPlaces under the
			// allocation lock like every place freed or added; with no free
			// place its head-of-queue query finds no one. Timed in the store
			// itself, so no HTTP or Temporal time is in it.
			var full latencies
			for i := range 9 {
				name := fmt.Sprintf("Dr Freed renamed %d", i)
				t := time.Now()
				if _, err := s.DB.UpdateTherapist(ctx, referral.Principal{Role: referral.RoleOperator}, lastTherapist, referral.TherapistPatch{Name: &name}); err != nil {
					b.Fatal(err)
				}
				full.add(time.Since(t))
			}
			b.ReportMetric(full.percentile(50), "alloc_full_therapist_p50_ms")
			if w == 100 {
				firstWake = wake.percentile(50)
			}
			if firstWake > 0 {
				b.ReportMetric(wake.percentile(50)/firstWake, "wake_p50_ratio_vs_w100")
			}
			logBreakdown(b, nil, spent)
		})
	}
}

// wakeSettle is how long BenchmarkWaitlistWakeUp lets the waiting referral's
// workflow sit idle before freeing a place.
const wakeSettle = 250 * time.Millisecond

// BenchmarkSubmitLatency measures POST /v1/referrals with 1, 10 and 50
// clients submitting at once, each one submission after another (a closed
// loop), b.N submissions per client. ns/op is therefore the wall time per
// round of one submission from every client. Its baseline, at the same
// concurrency on the same server just before, starts the bare lifecycle
// workflow with client.ExecuteWorkflow (which then runs the three
// activities of submission to awaiting_review, as a referral's workflow
// does after the API answers). Each run first waits until the workflows
// started by earlier runs have reached awaiting_review, so that it pays only
// for its own.
//
//	go test ./internal/wiring/ -run '^$' -bench SubmitLatency -benchtime 40x
func BenchmarkSubmitLatency(b *testing.B) {
	ctx := context.Background()
	s := stacktest.Start(b, loadTimings)
	api := newLoadClient(s, 64)
	conn, err := pgx.Connect(ctx, s.Config.DatabaseURL)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close(context.Background()) })
	w := s.Temporal.NewWorkerWithOptions(bareTaskQueue, func(r sdkworker.Registry) {
		r.RegisterWorkflowWithOptions(bareLifecycleWorkflow, workflow.RegisterOptions{Name: "BareLifecycle"})
		r.RegisterActivityWithOptions(bareStep, activity.RegisterOptions{Name: "BareStep"})
	}, sdkworker.Options{})
	b.Cleanup(w.Stop)
	var seq atomic.Int64
	var bareStarted []string
	for _, clients := range []int{1, 10, 50} {
		var bare struct{ rate, p50 float64 }
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			b.Run("baseline_start_bare_workflow", func(b *testing.B) {
				drain(b, conn, bareStarted)
				var lat latencies
				var mu sync.Mutex
				b.ResetTimer()
				start := time.Now()
				err := runConcurrently(clients*b.N, clients, func(int) error {
					id := fmt.Sprintf("bare-submit-%d", seq.Add(1))
					t := time.Now()
					if _, err := s.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: bareTaskQueue}, "BareLifecycle", id); err != nil {
						return fmt.Errorf("start %s: %w", id, err)
					}
					lat.add(time.Since(t))
					mu.Lock()
					bareStarted = append(bareStarted, id)
					mu.Unlock()
					return nil
				})
				elapsed := time.Since(start)
				b.StopTimer()
				if err != nil {
					b.Fatal(err)
				}
				bare.rate, bare.p50 = float64(clients*b.N)/elapsed.Seconds(), lat.percentile(50)
				b.ReportMetric(bare.rate, "submits/s")
				lat.reportAs(b, "submit")
			})
			b.Run("api_submit", func(b *testing.B) {
				drain(b, conn, bareStarted)
				var lat latencies
				b.ResetTimer()
				start := time.Now()
				err := runConcurrently(clients*b.N, clients, func(int) error {
					_, took, err := api.refer(s, fmt.Sprintf("submit%d@nhs.example", seq.Add(1)))
					if err != nil {
						return err
					}
					lat.add(took)
					return nil
				})
				elapsed := time.Since(start)
				b.StopTimer()
				if err != nil {
					b.Fatal(err)
				}
				rate := float64(clients*b.N) / elapsed.Seconds()
				b.ReportMetric(rate, "submits/s")
				lat.reportAs(b, "submit")
				if bare.rate > 0 {
					b.ReportMetric(rate/bare.rate, "ratio_vs_bare")
					b.ReportMetric(lat.percentile(50)/bare.p50, "p50_ratio_vs_bare")
				}
			})
		})
	}
}

// drain waits until every referral, and every baseline workflow started, has
// reached awaiting_review.
func drain(b *testing.B, conn *pgx.Conn, bareStarted []string) {
	deadline := time.Now().Add(5 * time.Minute)
	for {
		var n int
		if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM referrals WHERE status <> 'awaiting_review'`).Scan(&n); err != nil {
			b.Fatal(err)
		}
		for _, id := range bareStarted {
			if _, ok := bareAwaiting.Load(id); !ok {
				n++
			}
		}
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d referrals or baseline workflows still not awaiting review", n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// pollStatus waits for a referral's status in Postgres, which the workflow's
// transition activity writes. Safe to call from any goroutine.
func pollStatus(s *stacktest.Stack, id, want string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		r, err := s.DB.Referral(context.Background(), id)
		if err != nil {
			return err
		}
		if string(r.Status) == want {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("referral %s is %s after %s, want %s", id, r.Status, timeout, want)
		}
		time.Sleep(loadPoll)
	}
}

// runConcurrently calls fn(0..n-1) from conc goroutines and returns the
// first error; after an error no new call starts.
func runConcurrently(n, conc int, fn func(i int) error) error {
	var next atomic.Int64
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for range min(conc, n) {
		wg.Go(func() {
			for {
				mu.Lock()
				stop := len(errs) > 0
				mu.Unlock()
				i := int(next.Add(1)) - 1
				if stop || i >= n {
					return
				}
				if err := fn(i); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// loadClient calls the API from many goroutines; it reports failures
// instead of failing the benchmark, which only its own goroutine may do.
// refer submits a referral and confirms it from the emailed link, as a
// trainee does. took is the time of the two requests, without the email's
// journey in between (the mail catcher's, not the pipeline's).
func (c *loadClient) refer(s *stacktest.Stack, email string) (id string, took time.Duration, err error) {
	t := time.Now()
	status, body, err := c.do("POST", "/v1/referrals", "", submission(s, email))
	if err != nil || status != 202 {
		return "", 0, fmt.Errorf("submit: %d %v %v", status, body, err)
	}
	took = time.Since(t)
	code, err := s.NextConfirmCode(email)
	if err != nil {
		return "", 0, err
	}
	t = time.Now()
	status, body, err = c.do("POST", "/v1/confirmations", "", map[string]any{"code": code})
	if err != nil || status != 201 {
		return "", 0, fmt.Errorf("confirm: %d %v %v", status, body, err)
	}
	took += time.Since(t)
	id, _ = body["id"].(string)
	return id, took, nil
}

type loadClient struct {
	base string
	http *http.Client
}

func newLoadClient(s *stacktest.Stack, conns int) *loadClient {
	return &loadClient{base: s.API.URL, http: &http.Client{
		Timeout:   time.Minute,
		Transport: &http.Transport{MaxIdleConns: conns, MaxIdleConnsPerHost: conns, IdleConnTimeout: time.Minute},
	}}
}

func (c *loadClient) do(method, path, token string, body any) (int, map[string]any, error) {
	var rd io.Reader
	if body != nil {
		j, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, nil, err
	}
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return resp.StatusCode, out, nil
}

// latencies collects durations from many goroutines.
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, d)
	l.mu.Unlock()
}

// percentile is the nearest-rank percentile (p in 0..100), in milliseconds.
func (l *latencies) percentile(p float64) float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.d) == 0 {
		return 0
	}
	d := slices.Clone(l.d)
	slices.Sort(d)
	i := max(int(math.Ceil(p/100*float64(len(d))))-1, 0)
	return float64(d[i]) / float64(time.Millisecond)
}

// reportAs reports p50, p95 and p99 as name_pNN_ms.
func (l *latencies) reportAs(b *testing.B, name string) {
	for _, p := range []float64{50, 95, 99} {
		b.ReportMetric(l.percentile(p), fmt.Sprintf("%s_p%.0f_ms", name, p))
	}
}

type lifecycleLatencies struct {
	submit, approve, accept, endToEnd latencies
}

func (l *lifecycleLatencies) report(b *testing.B) {
	l.submit.reportAs(b, "submit")
	l.approve.reportAs(b, "approve")
	l.accept.reportAs(b, "accept")
	l.endToEnd.reportAs(b, "e2e")
}

// heapInuse is the Go heap in use after a collection, in MiB.
func heapInuse() float64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return float64(m.HeapInuse) / (1 << 20)
}

// reportHeap reports the Go heap in use: the whole test process, which holds
// the in-process Temporal server (histories in its in-memory SQLite), the
// API, the worker, the stack's captured logs and this driver.
func reportHeap(b *testing.B) {
	b.ReportMetric(heapInuse(), "heap_inuse_MiB")
}

// reportCachedWorkflows reports how many workflows the SDK's sticky cache
// holds in memory between their tasks (every open workflow of the process,
// up to the cache's size): what the worker's share of the heap grows with.
func reportCachedWorkflows(b *testing.B, s *stacktest.Stack) {
	families, _ := s.Metrics.Gather() // a failed collector leaves the rest
	cached := 0.0
	for _, f := range families {
		if f.GetName() == "temporal_sticky_cache_size" {
			for _, m := range f.GetMetric() {
				cached = max(cached, m.GetGauge().GetValue())
			}
		}
	}
	b.ReportMetric(cached, "cached_workflows")
}

// histStat is a histogram's count and sum (seconds).
type histStat struct {
	n   uint64
	sum float64
}

// breakdownMetrics are the histograms logged by logBreakdown, with the label
// each is broken down by.
var breakdownMetrics = map[string][]string{
	"temporal_activity_execution_latency":              {"activity_type"},
	"temporal_activity_succeed_endtoend_latency":       {"activity_type"},
	"temporal_request_latency":                         {"operation"},
	"temporal_workflow_task_schedule_to_start_latency": {"workflow_type"},
	"temporal_workflow_task_execution_latency":         {"workflow_type"},
	"wmtna_http_request_duration_seconds":              {"method", "route"},
}

// histograms reads the stack's registry: the API's request durations and
// the SDK's timers (worker and clients), by the labels of breakdownMetrics.
func histograms(b *testing.B, s *stacktest.Stack) map[string]histStat {
	families, err := s.Metrics.Gather()
	if err != nil {
		b.Logf("gather metrics: %v", err) // a failed collector leaves the rest
	}
	out := map[string]histStat{}
	for _, f := range families {
		keys, ok := breakdownMetrics[f.GetName()]
		if !ok {
			continue
		}
		for _, m := range f.GetMetric() {
			var vals []string
			for _, k := range keys {
				for _, l := range m.GetLabel() {
					if l.GetName() == k {
						vals = append(vals, l.GetValue())
					}
				}
			}
			key := f.GetName() + "{" + strings.Join(vals, " ") + "}"
			h := out[key]
			h.n += m.GetHistogram().GetSampleCount()
			h.sum += m.GetHistogram().GetSampleSum()
			out[key] = h
		}
	}
	return out
}

// logBreakdown logs, for every series that moved between the two readings,
// how many samples it took and their mean: where the time of a run went.
func logBreakdown(b *testing.B, before, after map[string]histStat) {
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range after {
			if !yield(k) {
				return
			}
		}
	})
	var lines []string
	for _, k := range keys {
		n := after[k].n - before[k].n
		if n == 0 {
			continue
		}
		lines = append(lines, fmt.Sprintf("%s n=%d mean=%.2fms", k, n, (after[k].sum-before[k].sum)/float64(n)*1000))
	}
	// One line: the testing package keeps only the first ten lines of a
	// benchmark's log.
	b.Logf("where the time went (b.N=%d): %s", b.N, strings.Join(lines, "; "))
}

// waitEmailsDelivered waits until the outbox has nothing left to send.
func waitEmailsDelivered(s *stacktest.Stack, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		n, err := s.DB.PendingMessages(context.Background())
		if err != nil || n == 0 {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d emails still undelivered after %s", n, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
