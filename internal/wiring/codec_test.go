package wiring_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	sdklog "go.temporal.io/sdk/log"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/wmtna/referrals/internal/codec"
	"github.com/wmtna/referrals/internal/referral"
	"github.com/wmtna/referrals/internal/stacktest"
	"github.com/wmtna/referrals/workflows"
)

// TestPayloadsAreEncryptedInTemporal: with the stack's encrypting client,
// what Temporal stores is ciphertext. A client without the key sees
// binary/encrypted payloads and cannot read them; the stack's client, and
// an operator through the codec endpoint, can.
func TestPayloadsAreEncryptedInTemporal(t *testing.T) {
	s := stacktest.Start(t, workflows.Timings{ReviewReminder: time.Hour, OfferTTL: time.Hour, WaitlistRecheck: time.Hour})
	if s.PayloadKeys == nil {
		t.Skip("payload encryption is off while recording histories (WMTNA_RECORD_HISTORIES=1)")
	}
	r := s.MustRefer(map[string]any{
		"name": "Priya Example", "email": "codec@nhs.example", "programme": "clinical", "employer": "RXT",
		"training_start": s.TrainingMonth(), "concerns": "codec test",
		"preferences": map[string]any{"meeting": "either", "areas": []string{"birmingham"}}, "consent": true,
	})
	id, traineeToken := r.Str("id"), r.Str("token")
	s.WaitStatus(id, string(referral.StatusAwaitingReview), 30*time.Second)
	ctx := context.Background()
	wfID := workflows.WorkflowID(id)

	// A client with the plain default converter, as anyone with access to
	// Temporal but not to the key would have.
	plain := s.Temporal.NewClientWithOptions(client.Options{Logger: sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler))})
	var events []*historypb.HistoryEvent
	it := plain.GetWorkflowHistory(ctx, wfID, "", false, 0)
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, e)
	}
	input := events[0].GetWorkflowExecutionStartedEventAttributes().GetInput()
	if len(input.GetPayloads()) != 1 {
		t.Fatalf("first event %v has no workflow input", events[0].GetEventType())
	}
	in := input.Payloads[0]
	if got := string(in.Metadata[converter.MetadataEncoding]); got != codec.EncodingEncrypted {
		t.Fatalf("workflow input encoding %q, want %q", got, codec.EncodingEncrypted)
	}
	if got := string(in.Metadata[codec.MetadataKeyID]); got != s.PayloadKeys.CurrentID() {
		t.Errorf("workflow input key id %q, want %q", got, s.PayloadKeys.CurrentID())
	}
	if raw, _ := proto.Marshal(in); bytes.Contains(raw, []byte(id)) {
		t.Fatal("the workflow input shows the referral ID in clear")
	}
	// Not the input alone: every payload of the history (activity inputs
	// and results, markers...) is encrypted. Search attributes are the
	// exception by design: Temporal indexes them.
	payloads := historyPayloads(events)
	if len(payloads) < 3 {
		t.Fatalf("only %d payloads in a history of %d events", len(payloads), len(events))
	}
	for _, p := range payloads {
		raw, _ := proto.Marshal(p)
		if string(p.Metadata[converter.MetadataEncoding]) != codec.EncodingEncrypted || bytes.Contains(raw, []byte(id)) {
			t.Errorf("payload in clear in the history: %v", p)
		}
	}

	// Without the key, nothing reads: neither the stored input nor a query
	// answered by the worker.
	var wfIn workflows.Input
	if err := converter.GetDefaultDataConverter().FromPayloads(input, &wfIn); err == nil {
		t.Fatal("the default converter read the encrypted workflow input")
	}
	var view workflows.StatusView
	pv, err := plain.QueryWorkflow(ctx, wfID, "", workflows.QueryStatus)
	if err != nil {
		t.Fatal(err)
	}
	if err := pv.Get(&view); err == nil {
		t.Fatalf("a client without the key read the query result: %+v", view)
	}

	// With the key, everything does.
	if err := codec.DataConverter(s.PayloadKeys).FromPayloads(input, &wfIn); err != nil || wfIn.ReferralID != id {
		t.Fatalf("decrypt workflow input: %+v, %v", wfIn, err)
	}
	v, err := s.Client.QueryWorkflow(ctx, wfID, "", workflows.QueryStatus)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Get(&view); err != nil || view.Status != referral.StatusAwaitingReview {
		t.Fatalf("query with the stack's client: %+v, %v", view, err)
	}

	// The codec endpoint decodes the stored input for an operator only.
	body, err := protojson.Marshal(input)
	if err != nil {
		t.Fatal(err)
	}
	codecPost := func(token string) (int, []byte) {
		r, err := stacktest.Call(http.DefaultClient, s.API.URL, "POST", "/codec/decode", token, string(body))
		if err != nil {
			t.Fatal(err)
		}
		return r.Status, []byte(r.Raw)
	}
	for name, token := range map[string]string{"no token": "", "trainee": traineeToken, "unknown": "not-a-token-0123456789abcdef0123"} {
		if status, b := codecPost(token); status != http.StatusUnauthorized || bytes.Contains(b, []byte(id)) {
			t.Errorf("codec endpoint, %s: %d %s", name, status, b)
		}
	}
	status, b := codecPost(stacktest.AdminToken)
	if status != 200 {
		t.Fatalf("codec endpoint, operator: %d %s", status, b)
	}
	var decoded commonpb.Payloads
	if err := protojson.Unmarshal(b, &decoded); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	wfIn = workflows.Input{}
	if err := converter.GetDefaultDataConverter().FromPayloads(&decoded, &wfIn); err != nil || wfIn.ReferralID != id {
		t.Fatalf("payloads decoded by the codec endpoint: %+v, %v", wfIn, err)
	}
}

// historyPayloads collects every payload in the events, except search
// attributes.
func historyPayloads(events []*historypb.HistoryEvent) []*commonpb.Payload {
	var out []*commonpb.Payload
	payloadName := (&commonpb.Payload{}).ProtoReflect().Descriptor().FullName()
	searchAttributesName := (&commonpb.SearchAttributes{}).ProtoReflect().Descriptor().FullName()
	var walk func(m protoreflect.Message)
	walk = func(m protoreflect.Message) {
		switch m.Descriptor().FullName() {
		case payloadName:
			out = append(out, m.Interface().(*commonpb.Payload))
			return
		case searchAttributesName:
			return
		}
		m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
			switch {
			case fd.IsMap():
				if fd.MapValue().Message() != nil {
					v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
						walk(mv.Message())
						return true
					})
				}
			case fd.IsList():
				if fd.Message() != nil {
					for i := 0; i < v.List().Len(); i++ {
						walk(v.List().Get(i).Message())
					}
				}
			case fd.Message() != nil:
				walk(v.Message())
			}
			return true
		})
	}
	for _, e := range events {
		walk(e.ProtoReflect())
	}
	return out
}
