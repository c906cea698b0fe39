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

// TestTherapistReturnWaitsForTheDay checks that an away therapist is
// brought back at the start of the day they gave (midnight in the UK, not
// UTC), and not a moment before.
func TestTherapistReturnWaitsForTheDay(t *testing.T) {
	tests := []struct {
		name  string
		now   time.Time
		until referral.Date
		want  time.Time // when the activity runs
	}{
		{
			name:  "summer: midnight BST is 23:00 UTC the day before",
			now:   time.Date(2027, time.June, 1, 9, 30, 0, 0, time.UTC),
			until: referral.Date{Year: 2027, Month: time.July, Day: 3},
			want:  time.Date(2027, time.July, 2, 23, 0, 0, 0, time.UTC),
		},
		{
			name:  "winter: midnight GMT",
			now:   time.Date(2027, time.January, 10, 15, 0, 0, 0, time.UTC),
			until: referral.Date{Year: 2027, Month: time.March, Day: 3},
			want:  time.Date(2027, time.March, 3, 0, 0, 0, 0, time.UTC),
		},
		{
			// A timer started late (the worker was down past the day)
			// brings them back at once.
			name:  "the day has passed",
			now:   time.Date(2027, time.March, 5, 8, 0, 0, 0, time.UTC),
			until: referral.Date{Year: 2027, Month: time.March, Day: 3},
			want:  time.Date(2027, time.March, 5, 8, 0, 0, 0, time.UTC),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var suite testsuite.WorkflowTestSuite
			env := suite.NewTestWorkflowEnvironment()
			env.SetStartTime(tt.now)
			worker.Register(env, &activities.Activities{})
			var ranAt time.Time
			var got workflows.TherapistReturnInput
			env.OnActivity(workflows.ActivityReturnTherapist, mock.Anything, mock.Anything).Return(
				func(_ context.Context, in workflows.TherapistReturnInput) (bool, error) {
					ranAt, got = env.Now().UTC(), in
					return true, nil
				})
			in := workflows.TherapistReturnInput{TherapistID: "t-1", Until: tt.until}
			env.ExecuteWorkflow(workflows.TherapistReturnWorkflowName, in)
			if err := env.GetWorkflowError(); err != nil {
				t.Fatal(err)
			}
			var res workflows.TherapistReturnResult
			if err := env.GetWorkflowResult(&res); err != nil || !res.Back {
				t.Fatalf("result %+v, %v; want back", res, err)
			}
			if got != in {
				t.Errorf("activity got %+v, want %+v", got, in)
			}
			if d := ranAt.Sub(tt.want); d < -time.Second || d > time.Second {
				t.Errorf("brought back at %s, want %s", ranAt, tt.want)
			}
		})
	}
}

// A stale timer (the therapist came back early or moved the day) runs to
// its end and reports that nothing changed: the activity decides, from
// PostgreSQL, so the workflow never has to be found and cancelled.
func TestTherapistReturnStaleTimerChangesNothing(t *testing.T) {
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	env.SetStartTime(time.Date(2027, time.January, 10, 15, 0, 0, 0, time.UTC))
	worker.Register(env, &activities.Activities{})
	env.OnActivity(workflows.ActivityReturnTherapist, mock.Anything, mock.Anything).Return(false, nil)
	env.ExecuteWorkflow(workflows.TherapistReturnWorkflowName, workflows.TherapistReturnInput{TherapistID: "t-1", Until: referral.Date{Year: 2027, Month: time.January, Day: 20}})
	var res workflows.TherapistReturnResult
	if err := env.GetWorkflowResult(&res); err != nil || res.Back {
		t.Fatalf("result %+v, %v; want not back, no error", res, err)
	}
}

func TestTherapistReturnRefusesAnEmptyInput(t *testing.T) {
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	worker.Register(env, &activities.Activities{})
	env.ExecuteWorkflow(workflows.TherapistReturnWorkflowName, workflows.TherapistReturnInput{})
	if err := env.GetWorkflowError(); err == nil {
		t.Fatal("an input with no therapist and no day was accepted")
	}
}
