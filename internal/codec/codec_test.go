package codec_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/wmtna/referrals/internal/codec"
)

type input struct {
	ReferralID string `json:"referral_id"`
	Note       string `json:"note"`
}

const secretID = "ref-7f3c-plaintext-marker"

func keys(t *testing.T, ids ...string) (*codec.Keys, string) {
	t.Helper()
	var entries []string
	for _, id := range ids {
		e, err := codec.GenerateKey(id)
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, e)
	}
	spec := strings.Join(entries, ",")
	k, err := codec.ParseKeys(spec)
	if err != nil {
		t.Fatal(err)
	}
	return k, spec
}

func mustParse(t *testing.T, spec string) *codec.Keys {
	t.Helper()
	k, err := codec.ParseKeys(spec)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestRoundTripThroughDataConverter(t *testing.T) {
	k, _ := keys(t, "k1")
	dc := codec.DataConverter(k)
	in := input{ReferralID: secretID, Note: "hello"}
	ps, err := dc.ToPayloads(in, "second")
	if err != nil {
		t.Fatal(err)
	}
	if len(ps.Payloads) != 2 {
		t.Fatalf("got %d payloads", len(ps.Payloads))
	}
	for _, p := range ps.Payloads {
		if got := string(p.Metadata[converter.MetadataEncoding]); got != codec.EncodingEncrypted {
			t.Errorf("encoding = %q, want %q", got, codec.EncodingEncrypted)
		}
		if got := string(p.Metadata[codec.MetadataKeyID]); got != "k1" {
			t.Errorf("key id = %q, want k1", got)
		}
		raw, _ := proto.Marshal(p)
		for _, clear := range []string{secretID, "hello", "json/plain", "referral_id"} {
			if bytes.Contains(raw, []byte(clear)) {
				t.Errorf("encrypted payload contains %q in clear", clear)
			}
		}
	}
	var out input
	var second string
	if err := dc.FromPayloads(ps, &out, &second); err != nil {
		t.Fatal(err)
	}
	if out != in || second != "second" {
		t.Fatalf("round trip: got %+v %q", out, second)
	}
	// Without the codec the payload cannot be read.
	if err := converter.GetDefaultDataConverter().FromPayloads(ps, &out); err == nil {
		t.Fatal("the default data converter read an encrypted payload")
	}
	// The same plaintext encrypts differently every time (random nonce).
	p1, _ := dc.ToPayload(in)
	p2, _ := dc.ToPayload(in)
	if bytes.Equal(p1.Data, p2.Data) {
		t.Fatal("two encryptions of the same value are identical")
	}
}

func TestNilKeysMeansDefaultConverter(t *testing.T) {
	if codec.DataConverter(nil) != converter.GetDefaultDataConverter() {
		t.Fatal("DataConverter(nil) is not the default data converter")
	}
}

func TestDecodeReadsPayloadsWrittenBeforeEncryption(t *testing.T) {
	k, _ := keys(t, "k1")
	plain, err := converter.GetDefaultDataConverter().ToPayload(input{ReferralID: "old"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := codec.NewCodec(k).Decode([]*commonpb.Payload{plain})
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(got[0], plain) {
		t.Fatalf("unencrypted payload changed: %v", got[0])
	}
	var out input
	if err := codec.DataConverter(k).FromPayload(plain, &out); err != nil || out.ReferralID != "old" {
		t.Fatalf("read old payload: %+v, %v", out, err)
	}
}

func TestRotation(t *testing.T) {
	oldKeys, oldSpec := keys(t, "old")
	oldPayload, err := codec.DataConverter(oldKeys).ToPayload(input{ReferralID: secretID})
	if err != nil {
		t.Fatal(err)
	}
	newEntry, err := codec.GenerateKey("new")
	if err != nil {
		t.Fatal(err)
	}
	rotated := mustParse(t, newEntry+","+oldSpec)
	if rotated.CurrentID() != "new" || strings.Join(rotated.IDs(), ",") != "new,old" {
		t.Fatalf("rotated keys: current %q, ids %v", rotated.CurrentID(), rotated.IDs())
	}
	dc := codec.DataConverter(rotated)
	var out input
	if err := dc.FromPayload(oldPayload, &out); err != nil || out.ReferralID != secretID {
		t.Fatalf("decrypt with the old key after rotation: %+v, %v", out, err)
	}
	p, err := dc.ToPayload(input{ReferralID: "fresh"})
	if err != nil {
		t.Fatal(err)
	}
	if got := string(p.Metadata[codec.MetadataKeyID]); got != "new" {
		t.Fatalf("new encryptions use key %q, want new", got)
	}
	// The old key alone cannot read what the new key wrote.
	if err := codec.DataConverter(oldKeys).FromPayload(p, &out); err == nil {
		t.Fatal("old key set decrypted a payload of the new key")
	}
}

func TestUnknownKeyID(t *testing.T) {
	a, _ := keys(t, "a")
	b, _ := keys(t, "b")
	p, err := codec.DataConverter(a).ToPayload("x")
	if err != nil {
		t.Fatal(err)
	}
	_, err = codec.NewCodec(b).Decode([]*commonpb.Payload{p})
	if err == nil || !strings.Contains(err.Error(), `key id "a"`) || !strings.Contains(err.Error(), codec.EnvKeys) {
		t.Fatalf("decode with unknown key id: %v", err)
	}
}

func TestTamperedPayloadFails(t *testing.T) {
	k, _ := keys(t, "a", "b")
	c := codec.NewCodec(k)
	enc, err := c.Encode([]*commonpb.Payload{{Metadata: map[string][]byte{"encoding": []byte("json/plain")}, Data: []byte(`"x"`)}})
	if err != nil {
		t.Fatal(err)
	}
	for name, tamper := range map[string]func(p *commonpb.Payload){
		"flipped ciphertext bit": func(p *commonpb.Payload) { p.Data[len(p.Data)-20] ^= 1 },
		"flipped nonce bit":      func(p *commonpb.Payload) { p.Data[0] ^= 1 },
		"truncated":              func(p *commonpb.Payload) { p.Data = p.Data[:10] },
		"other key id":           func(p *commonpb.Payload) { p.Metadata[codec.MetadataKeyID] = []byte("b") },
	} {
		t.Run(name, func(t *testing.T) {
			p := proto.Clone(enc[0]).(*commonpb.Payload)
			tamper(p)
			if _, err := c.Decode([]*commonpb.Payload{p}); err == nil {
				t.Fatal("tampered payload decoded")
			}
		})
	}
	if _, err := c.Decode(enc); err != nil {
		t.Fatalf("untouched payload: %v", err)
	}
}

func TestKeysFromEnv(t *testing.T) {
	key := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	short := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 16))
	env := func(v string) func(string) string {
		return func(name string) string {
			if name == codec.EnvKeys {
				return v
			}
			return ""
		}
	}
	k, err := codec.KeysFromEnv(env(""))
	if k != nil || err != nil {
		t.Fatalf("unset: %v, %v", k, err)
	}
	k, err = codec.KeysFromEnv(env(" k2:" + key + " , k1:" + strings.TrimRight(key, "=") + ","))
	if err != nil {
		t.Fatal(err)
	}
	if k.CurrentID() != "k2" || len(k.IDs()) != 2 {
		t.Fatalf("keys: %v", k)
	}
	if s := k.String(); strings.Contains(s, key[:20]) || !strings.Contains(s, "k2") {
		t.Fatalf("String shows key material or no id: %s", s)
	}

	for _, tc := range []struct {
		name, value, want string
	}{
		{"bad base64", "k1:not*base64!", "not valid base64"},
		{"wrong length", "k1:" + short, "16 bytes, want 32"},
		{"duplicate id", "k1:" + key + ",k1:" + key, `"k1" appears twice`},
		{"empty id", ":" + key, "empty key id"},
		{"no separator", key, "no ':'"},
		{"id with space", "my key:" + key, "printable ASCII"},
		{"only commas", ",,", "no keys"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := codec.KeysFromEnv(env(tc.value))
			if err == nil || k != nil {
				t.Fatalf("accepted %q", tc.value)
			}
			msg := err.Error()
			if !strings.Contains(msg, codec.EnvKeys) || !strings.Contains(msg, tc.want) {
				t.Fatalf("error %q does not name %s and say %q", msg, codec.EnvKeys, tc.want)
			}
			if strings.Contains(msg, key[:20]) {
				t.Fatalf("error shows key material: %s", msg)
			}
		})
	}
}

const (
	uiOrigin      = "http://127.0.0.1:8233"
	operatorToken = "operator-token"
)

// codecServer mounts the handler under /codec/ as cmd/wmtna does.
func codecServer(t *testing.T, k *codec.Keys, authorize func(context.Context, *http.Request) bool) *httptest.Server {
	t.Helper()
	h := codec.Handler(k, []string{uiOrigin}, authorize)
	mux := http.NewServeMux()
	mux.Handle("/codec/", http.StripPrefix("/codec", h))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func operatorOnly(_ context.Context, token string) bool { return token == operatorToken }

func post(t *testing.T, url string, payloads []*commonpb.Payload, headers ...string) (*http.Response, []byte) {
	t.Helper()
	body, err := protojson.Marshal(&commonpb.Payloads{Payloads: payloads})
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest("POST", url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func TestHandlerDecodesWhatTheCodecEncoded(t *testing.T) {
	k, _ := keys(t, "k1")
	srv := codecServer(t, k, codec.Bearer(operatorOnly))
	p, err := codec.DataConverter(k).ToPayload(input{ReferralID: secretID})
	if err != nil {
		t.Fatal(err)
	}
	// As the Temporal UI sends it: from its origin, with the namespace.
	resp, body := post(t, srv.URL+"/codec/decode?preserveStorageRefs=true", []*commonpb.Payload{p},
		"Authorization", "Bearer "+operatorToken, "Origin", uiOrigin, "X-Namespace", "default")
	if resp.StatusCode != 200 {
		t.Fatalf("decode: %d %s", resp.StatusCode, body)
	}
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != uiOrigin {
		t.Errorf("Access-Control-Allow-Origin = %q", got)
	}
	var out commonpb.Payloads
	if err := protojson.Unmarshal(body, &out); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	var in input
	if len(out.Payloads) != 1 {
		t.Fatalf("decoded %d payloads", len(out.Payloads))
	}
	if err := converter.GetDefaultDataConverter().FromPayload(out.Payloads[0], &in); err != nil || in.ReferralID != secretID {
		t.Fatalf("decoded payload: %+v, %v", in, err)
	}

	// /encode gives what the codec decodes.
	resp, body = post(t, srv.URL+"/codec/encode", out.Payloads, "Authorization", "Bearer "+operatorToken)
	if resp.StatusCode != 200 {
		t.Fatalf("encode: %d %s", resp.StatusCode, body)
	}
	var enc commonpb.Payloads
	if err := protojson.Unmarshal(body, &enc); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(body, []byte(secretID)) || string(enc.Payloads[0].Metadata[converter.MetadataEncoding]) != codec.EncodingEncrypted {
		t.Fatalf("encode did not encrypt: %s", body)
	}
	if err := codec.DataConverter(k).FromPayload(enc.Payloads[0], &in); err != nil || in.ReferralID != secretID {
		t.Fatalf("decode what /encode gave: %+v, %v", in, err)
	}

	// A payload of an unknown key is a clear 400, not a 500 or garbage.
	other, _ := keys(t, "other")
	po, _ := codec.DataConverter(other).ToPayload("x")
	resp, body = post(t, srv.URL+"/codec/decode", []*commonpb.Payload{po}, "Authorization", "Bearer "+operatorToken)
	if resp.StatusCode != 400 || !strings.Contains(string(body), `"other"`) {
		t.Fatalf("unknown key: %d %s", resp.StatusCode, body)
	}
}

func TestHandlerRefusesWithoutAuthorization(t *testing.T) {
	k, _ := keys(t, "k1")
	srv := codecServer(t, k, codec.Bearer(operatorOnly))
	p, _ := codec.DataConverter(k).ToPayload(input{ReferralID: secretID})
	for name, headers := range map[string][]string{
		"no header":      {"Origin", uiOrigin},
		"wrong token":    {"Authorization", "Bearer someone-else"},
		"not bearer":     {"Authorization", "Basic " + operatorToken},
		"empty bearer":   {"Authorization", "Bearer "},
		"token in query": {},
	} {
		t.Run(name, func(t *testing.T) {
			url := srv.URL + "/codec/decode"
			if name == "token in query" {
				url += "?token=" + operatorToken
			}
			resp, body := post(t, url, []*commonpb.Payload{p}, headers...)
			if resp.StatusCode != 401 {
				t.Fatalf("status %d, want 401: %s", resp.StatusCode, body)
			}
			if bytes.Contains(body, []byte(secretID)) {
				t.Fatal("refused answer contains the plaintext")
			}
		})
	}
	resp, err := http.Get(srv.URL + "/codec/decode")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 405 {
		t.Fatalf("GET: %d, want 405", resp.StatusCode)
	}
}

func TestHandlerAnswersCORSPreflight(t *testing.T) {
	k, _ := keys(t, "k1")
	srv := codecServer(t, k, codec.Bearer(operatorOnly))
	preflight := func(origin string) *http.Response {
		req, _ := http.NewRequest("OPTIONS", srv.URL+"/codec/decode", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "content-type,x-namespace,authorization")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	resp := preflight(uiOrigin)
	if resp.StatusCode != 204 {
		t.Fatalf("preflight from the UI: %d", resp.StatusCode)
	}
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != uiOrigin {
		t.Errorf("Access-Control-Allow-Origin = %q", got)
	}
	if got := resp.Header.Get("Access-Control-Allow-Methods"); !strings.Contains(got, "POST") {
		t.Errorf("Access-Control-Allow-Methods = %q", got)
	}
	allowed := strings.ToLower(resp.Header.Get("Access-Control-Allow-Headers"))
	for _, h := range []string{"content-type", "x-namespace", "authorization"} {
		if !strings.Contains(allowed, h) {
			t.Errorf("Access-Control-Allow-Headers = %q lacks %s", allowed, h)
		}
	}
	resp = preflight("https://evil.example")
	if resp.StatusCode == 204 || resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("preflight from another origin: %d, allow-origin %q", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
	}
	// An authorised request from another origin gets no CORS grant, so a
	// browser will not let that page read the answer.
	p, _ := codec.DataConverter(k).ToPayload("x")
	r, _ := post(t, srv.URL+"/codec/decode", []*commonpb.Payload{p}, "Authorization", "Bearer "+operatorToken, "Origin", "https://evil.example")
	if r.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatal("CORS granted to another origin")
	}
}

func TestPathSecret(t *testing.T) {
	k, _ := keys(t, "k1")
	const secret = "0123456789abcdef0123456789abcdef"
	srv := codecServer(t, k, codec.PathSecret(secret, codec.Bearer(operatorOnly)))
	p, _ := codec.DataConverter(k).ToPayload(input{ReferralID: secretID})
	for _, tc := range []struct {
		path    string
		headers []string
		want    int
	}{
		{"/codec/" + secret + "/decode", nil, 200},
		{"/codec/decode", []string{"Authorization", "Bearer " + operatorToken}, 200},
		{"/codec/decode", nil, 401},
		{"/codec/" + secret[:31] + "/decode", nil, 401},
		{"/codec/" + secret + "x/decode", nil, 401},
		{"/codec/x/" + secret + "/decode", nil, 401},
	} {
		resp, body := post(t, srv.URL+tc.path, []*commonpb.Payload{p}, tc.headers...)
		if resp.StatusCode != tc.want {
			t.Errorf("%s: %d, want %d: %s", tc.path, resp.StatusCode, tc.want, body)
		}
	}
}
