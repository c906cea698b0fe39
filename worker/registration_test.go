package worker_test

import (
	"context"
	"fmt"
	"reflect"
	"testing"

	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/wmtna/referrals/activities"
	"github.com/wmtna/referrals/worker"
	"github.com/wmtna/referrals/workflows"
)

// recorder is a registry that keeps what worker.Register gives it.
type recorder struct{ activities []any }

func (r *recorder) RegisterWorkflowWithOptions(any, workflow.RegisterOptions) {}
func (r *recorder) RegisterActivity(a any)                                    { r.activities = append(r.activities, a) }

var (
	contextType = reflect.TypeFor[context.Context]()
	errorType   = reflect.TypeFor[error]()
)

// TestWorkerRegistersEveryActivityTheWorkflowsCall checks each activity the
// workflows call (workflows.ActivityContract, the declarations their typed
// calls are built from) against what the worker registers: Temporal knows
// the name, and the method behind it takes the argument and returns the
// result the workflow expects. Without this a renamed method or a changed
// type is found only by a full-stack test, or in production, as an activity
// that is never picked up or a payload that does not decode.
func TestWorkerRegistersEveryActivityTheWorkflowsCall(t *testing.T) {
	acts := &activities.Activities{}

	// Temporal registers a struct's exported methods under their names.
	var r recorder
	worker.Register(&r, acts)
	methods := map[string]reflect.Type{}
	for _, a := range r.activities {
		v := reflect.ValueOf(a)
		if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
			t.Fatalf("worker.Register registered a %T; this test knows only structs of activity methods", a)
		}
		for i := range v.NumMethod() {
			methods[v.Type().Method(i).Name] = v.Method(i).Type()
		}
	}

	// And the SDK's own registry, as the worker fills it, has each name.
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	worker.Register(env, acts)

	contract := workflows.ActivityContract()
	if len(contract) == 0 {
		t.Fatal("the workflows declare no activities")
	}
	for _, want := range contract {
		if err := registered(env, want.Name); err != nil {
			t.Errorf("%s: %v", want.Name, err)
		}
		fn, ok := methods[want.Name]
		if !ok {
			t.Errorf("%s: no method of *activities.Activities has that name", want.Name)
			continue
		}
		if err := matches(fn, want); err != nil {
			t.Errorf("%s: %v", want.Name, err)
		}
	}
}

// registered reports whether the test environment's registry knows the
// activity: OnActivity panics for a name nobody registered.
func registered(env *testsuite.TestWorkflowEnvironment, name string) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("not registered: %v", p)
		}
	}()
	env.OnActivity(name, nil, nil).Maybe()
	return nil
}

// matches checks an activity method (receiver bound) against what the
// workflows expect: func(context.Context, Arg) (Result, error), or
// func(context.Context, Arg) error when Result is nil.
func matches(fn reflect.Type, want workflows.ActivitySignature) error {
	if fn.NumIn() != 2 || fn.In(0) != contextType || fn.In(1) != want.Arg {
		return fmt.Errorf("method is %v, want it to take (context.Context, %v)", fn, want.Arg)
	}
	var results []reflect.Type
	for i := range fn.NumOut() {
		results = append(results, fn.Out(i))
	}
	wantResults := []reflect.Type{errorType}
	if want.Result != nil {
		wantResults = []reflect.Type{want.Result, errorType}
	}
	if !reflect.DeepEqual(results, wantResults) {
		return fmt.Errorf("method returns %v, want %v", results, wantResults)
	}
	return nil
}
