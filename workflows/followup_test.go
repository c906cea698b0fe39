package workflows_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/testsuite"

	"github.com/wmtna/referrals/activities"
	"github.com/wmtna/referrals/internal/referral"
	"github.com/wmtna/referrals/worker"
	"github.com/wmtna/referrals/workflows"
)

type invited struct {
	kind string
	n    int
	at   time.Duration // after the end of therapy
}

// runFollowUps runs a referral's follow-ups, the store answering each
// invitation with answer(kind, n).
func runFollowUps(t *testing.T, answer func(kind string, n int) string) (string, []invited) {
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	env.SetStartTime(start)
	worker.Register(env, &activities.Activities{})
	var got []invited
	env.OnActivity(workflows.ActivityInviteFollowUp, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in workflows.FollowUpInviteInput) (string, error) {
			if in.TTL != 8*7*24*time.Hour || in.ReferralID != "r1" {
				t.Errorf("invitation %+v, want r1's with links for 8 weeks", in)
			}
			got = append(got, invited{in.Kind, in.N, env.Now().Sub(start)})
			return answer(in.Kind, in.N), nil
		})
	env.ExecuteWorkflow(workflows.FollowUpWorkflowName, workflows.FollowUpInput{ReferralID: "r1", EndedAt: start, Timings: workflows.Timings{}.FollowUps()})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	var res string
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	return res, got
}

// Feedback is asked when therapy ends, with one reminder two weeks later;
// whether they stayed, at six months and at a year; each on its day.
func TestFollowUpsGoOnTheirDays(t *testing.T) {
	res, got := runFollowUps(t, func(string, int) string { return workflows.InviteSent })
	want := []invited{
		{referral.FollowUpFeedback, 1, 0},
		{referral.FollowUpFeedback, 2, 14 * 24 * time.Hour},
		{referral.FollowUpStayed6, 1, 182 * 24 * time.Hour},
		{referral.FollowUpStayed12, 1, 365 * 24 * time.Hour},
	}
	if res != "done" || len(got) != len(want) {
		t.Fatalf("%s after %+v, want done after %+v", res, got, want)
	}
	for i := range want {
		if got[i].kind != want[i].kind || got[i].n != want[i].n || got[i].at < want[i].at || got[i].at > want[i].at+time.Minute {
			t.Errorf("invitation %d: %+v, want %+v", i+1, got[i], want[i])
		}
	}
}

// Once the store says the follow-ups are stopped (erased, or the former
// client asked), nothing more is asked.
func TestFollowUpsStopWhenAsked(t *testing.T) {
	res, got := runFollowUps(t, func(kind string, _ int) string {
		if kind == referral.FollowUpStayed6 {
			return workflows.InviteStopped
		}
		return workflows.InviteNotNeeded
	})
	if res != workflows.InviteStopped || len(got) != 3 {
		t.Errorf("%s after %+v, want stopped at the six-month question", res, got)
	}
}
