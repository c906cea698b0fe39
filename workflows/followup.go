package workflows

import (
	"encoding/json"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/workflow"

	"github.com/wmtna/referrals/internal/referral"
)

// FollowUpWorkflowName is the registered name of the follow-ups of a
// referral whose therapy ended: feedback, then whether its former client
// stayed in an NHS psychology role six and twelve months on.
const FollowUpWorkflowName = "FollowUp"

// FollowUpWorkflowID is the ID of a referral's follow-ups.
func FollowUpWorkflowID(referralID string) string { return "follow-up-" + referralID }

// ActivityInviteFollowUp writes one follow-up invitation.
const ActivityInviteFollowUp = "InviteFollowUp"

// FollowUpTimings shape the follow-ups, from the end of therapy: the
// feedback reminder (two weeks), the first and second "did you stay?"
// (six and twelve months), and how long each link works (eight weeks).
// Zeros take those defaults.
type FollowUpTimings struct {
	Reminder, First, Second, LinkTTL time.Duration
}

// DefaultFollowUpTimings are the follow-ups' timings in production.
func DefaultFollowUpTimings() FollowUpTimings {
	return FollowUpTimings{Reminder: 14 * 24 * time.Hour, First: 182 * 24 * time.Hour, Second: 365 * 24 * time.Hour, LinkTTL: 8 * 7 * 24 * time.Hour}
}

func (t FollowUpTimings) orDefaults() FollowUpTimings {
	d := DefaultFollowUpTimings()
	for _, f := range []struct{ v, def *time.Duration }{{&t.Reminder, &d.Reminder}, {&t.First, &d.First}, {&t.Second, &d.Second}, {&t.LinkTTL, &d.LinkTTL}} {
		if *f.v <= 0 {
			*f.v = *f.def
		}
	}
	return t
}

type followUpTimingsJSON struct {
	Reminder jsonDuration `json:"reminder,omitempty"`
	First    jsonDuration `json:"first,omitempty"`
	Second   jsonDuration `json:"second,omitempty"`
	LinkTTL  jsonDuration `json:"link_ttl,omitempty"`
}

// MarshalJSON writes each duration as an operator reads it ("336h0m0s").
func (t FollowUpTimings) MarshalJSON() ([]byte, error) {
	return json.Marshal(followUpTimingsJSON{jsonDuration(t.Reminder), jsonDuration(t.First), jsonDuration(t.Second), jsonDuration(t.LinkTTL)})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (t *FollowUpTimings) UnmarshalJSON(b []byte) error {
	var j followUpTimingsJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*t = FollowUpTimings{time.Duration(j.Reminder), time.Duration(j.First), time.Duration(j.Second), time.Duration(j.LinkTTL)}
	return nil
}

// FollowUpInput starts a referral's follow-ups; it carries the referral's
// ID only.
type FollowUpInput struct {
	ReferralID string          `json:"referral_id"`
	EndedAt    time.Time       `json:"ended_at"`
	Timings    FollowUpTimings `json:"timings"`
}

// FollowUpInviteInput writes the Nth invitation of Kind
// (referral.FollowUp*), whose link works for TTL.
type FollowUpInviteInput struct {
	ReferralID string        `json:"referral_id"`
	Kind       string        `json:"kind"`
	N          int           `json:"n"`
	TTL        time.Duration `json:"ttl"`
}

// Outcomes of an invitation (as postgres.InviteOutcome).
const (
	InviteSent      = "sent"
	InviteNotNeeded = "not-needed"
	InviteStopped   = "stopped"
)

var inviteFollowUpActivity = declare[FollowUpInviteInput, string](ActivityInviteFollowUp)

// FollowUpWorkflow invites a former client to give feedback when therapy
// ends, reminds them once two weeks later, and asks six and twelve months
// on whether they stayed. Every wait is a durable timer from the end of
// therapy. It stops as soon as an invitation finds the referral erased or
// its former client asking for no more (the store refuses to write one
// then), and cancelling it stops it at once. It returns "stopped" or
// "done".
func FollowUpWorkflow(ctx workflow.Context, in FollowUpInput) (string, error) {
	t := in.Timings.orDefaults()
	for _, step := range []struct {
		after time.Duration
		kind  string
		n     int
	}{
		{0, referral.FollowUpFeedback, 1},
		{t.Reminder, referral.FollowUpFeedback, 2},
		{t.First, referral.FollowUpStayed6, 1},
		{t.Second, referral.FollowUpStayed12, 1},
	} {
		if d := in.EndedAt.Add(step.after).Sub(workflow.Now(ctx)); d > 0 {
			opts := workflow.TimerOptions{Summary: fmt.Sprintf("Follow-up %s %d for referral %s", step.kind, step.n, in.ReferralID)}
			if err := workflow.NewTimerWithOptions(ctx, d, opts).Get(ctx, nil); err != nil {
				return "", err
			}
		}
		out, err := inviteFollowUpActivity.run(activityCtx(ctx), FollowUpInviteInput{ReferralID: in.ReferralID, Kind: step.kind, N: step.n, TTL: t.LinkTTL})
		if err != nil {
			return "", err
		}
		if out == InviteStopped {
			return InviteStopped, nil
		}
	}
	return "done", nil
}

// startFollowUps starts the follow-ups of a referral whose therapy has just
// ended, as a workflow of their own that outlives this one. Histories
// from before follow-ups replay without them.
func (w *referralWorkflow) startFollowUps(ctx workflow.Context) error {
	if workflow.GetVersion(ctx, "follow-ups", workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return nil
	}
	cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
		WorkflowID:        FollowUpWorkflowID(w.in.ReferralID),
		TaskQueue:         TaskQueue,
		ParentClosePolicy: enumspb.PARENT_CLOSE_POLICY_ABANDON,
		StaticSummary:     "Follow-ups of referral " + w.in.ReferralID,
	})
	in := FollowUpInput{ReferralID: w.in.ReferralID, EndedAt: workflow.Now(ctx), Timings: w.in.Timings.FollowUps()}
	return workflow.ExecuteChildWorkflow(cctx, FollowUpWorkflowName, in).GetChildWorkflowExecution().Get(ctx, nil)
}
