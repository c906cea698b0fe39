// Package codec encrypts every Temporal payload the pipeline writes (workflow
// and activity inputs and results, update, signal and query payloads, memos)
// with AES-256-GCM, as defence in depth: workflows carry IDs and statuses
// only, and with encryption on, a copy of the Temporal database or an
// unauthorised look at the Temporal UI shows not even those.
//
// Keys come from WMTNA_PAYLOAD_KEYS, a comma-separated list of
// id:base64key entries (32-byte keys). The first key encrypts; every key
// decrypts. To rotate, prepend a new key and keep the old ones until no
// history written with them is left (closed workflows leave after the
// namespace's retention period).
//
// An encrypted payload has the metadata encoding "binary/encrypted" and
// encryption-key-id "<id>"; its data is nonce||ciphertext, the AES-GCM seal
// of the whole original payload (proto.Marshal of *commonpb.Payload, its
// metadata included) with the key ID as additional authenticated data.
// Payloads written before encryption was switched on are read as they are.
//
// Search attributes are not payloads that go through the codec: Temporal
// must index them, so they stay readable. Failure messages and stack traces
// are not encrypted either (the SDK's failure converter only encodes them
// when asked to); the workflows put IDs and statuses there only.
//
// Handler serves Temporal's remote codec protocol so that the Temporal UI or
// CLI (temporal --codec-endpoint ... --codec-auth "Bearer <token>") can show
// decrypted histories to an operator.
package codec

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/proto"
)

const (
	// EnvKeys is the environment variable holding the keys.
	EnvKeys = "WMTNA_PAYLOAD_KEYS"
	// EncodingEncrypted is the metadata encoding of an encrypted payload.
	EncodingEncrypted = "binary/encrypted"
	// MetadataKeyID names the key that encrypted a payload.
	MetadataKeyID = "encryption-key-id"
	// KeySize is the length of a key in bytes (AES-256).
	KeySize = 32

	maxKeyIDLen = 64
	// maxCodecBody bounds a request to the codec endpoint. Temporal refuses
	// payloads over 2 MB by default, and the UI sends one event's payloads
	// at a time.
	maxCodecBody = 8 << 20
)

// Keys is a parsed key set: the current key, which encrypts, and older ones
// kept to decrypt. Its String method never shows key material.
type Keys struct {
	ids   []string // in the configured order; ids[0] is current
	aeads map[string]cipher.AEAD
}

// KeysFromEnv reads WMTNA_PAYLOAD_KEYS; getenv is os.Getenv outside tests.
// It returns nil, nil when the variable is unset or blank: encryption off.
func KeysFromEnv(getenv func(string) string) (*Keys, error) {
	v := strings.TrimSpace(getenv(EnvKeys))
	if v == "" {
		return nil, nil
	}
	k, err := ParseKeys(v)
	if err != nil {
		return nil, fmt.Errorf("%s: %w (want comma-separated id:base64key entries with 32-byte keys, the current key first)", EnvKeys, err)
	}
	return k, nil
}

// ParseKeys parses comma-separated id:base64key entries (standard or URL
// base64, padded or not), the current key first. Surrounding spaces and
// empty entries (such as a trailing comma) are ignored. Error messages
// never contain key material.
func ParseKeys(s string) (*Keys, error) {
	k := &Keys{aeads: map[string]cipher.AEAD{}}
	for i, entry := range strings.Split(s, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		n := i + 1
		id, b64, ok := strings.Cut(entry, ":")
		id = strings.TrimSpace(id)
		if !ok {
			return nil, fmt.Errorf("entry %d has no ':' between key id and key", n)
		}
		if id == "" {
			return nil, fmt.Errorf("entry %d has an empty key id", n)
		}
		if len(id) > maxKeyIDLen || strings.ContainsFunc(id, func(r rune) bool { return r <= ' ' || r > '~' }) {
			return nil, fmt.Errorf("entry %d: key id must be 1 to %d printable ASCII characters without spaces", n, maxKeyIDLen)
		}
		if _, dup := k.aeads[id]; dup {
			return nil, fmt.Errorf("key id %q appears twice", id)
		}
		raw, err := decodeBase64(strings.TrimSpace(b64))
		if err != nil {
			return nil, fmt.Errorf("key %q is not valid base64", id)
		}
		if len(raw) != KeySize {
			return nil, fmt.Errorf("key %q is %d bytes, want %d (AES-256)", id, len(raw), KeySize)
		}
		block, err := aes.NewCipher(raw)
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", id, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", id, err)
		}
		k.ids = append(k.ids, id)
		k.aeads[id] = aead
	}
	if len(k.ids) == 0 {
		return nil, errors.New("no keys")
	}
	return k, nil
}

func decodeBase64(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, errors.New("invalid base64")
}

// GenerateKey returns a new random key entry "id:base64key", in the format
// of WMTNA_PAYLOAD_KEYS, for ParseKeys. Use it for dev and tests, or:
//
//	echo "k$(date +%Y%m%d):$(openssl rand -base64 32)"
func GenerateKey(id string) (string, error) {
	raw := make([]byte, KeySize)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("generate payload key: %w", err)
	}
	return id + ":" + base64.StdEncoding.EncodeToString(raw), nil
}

// CurrentID is the ID of the key that encrypts.
func (k *Keys) CurrentID() string { return k.ids[0] }

// IDs lists every key ID, the current one first.
func (k *Keys) IDs() []string { return slices.Clone(k.ids) }

// String describes the key set without its key material.
func (k *Keys) String() string {
	if k == nil {
		return "payload encryption off"
	}
	return fmt.Sprintf("payload keys %s (current %s)", strings.Join(k.ids, ","), k.ids[0])
}

// GoString keeps %#v from printing key material.
func (k *Keys) GoString() string { return k.String() }

// Codec is a converter.PayloadCodec that encrypts with the current key and
// decrypts with any known key.
type Codec struct {
	keys *Keys
}

var _ converter.PayloadCodec = (*Codec)(nil)

// NewCodec returns the codec for keys, which must not be nil.
func NewCodec(keys *Keys) *Codec {
	if keys == nil {
		panic("codec.NewCodec: nil keys")
	}
	return &Codec{keys: keys}
}

// Encode encrypts every payload with the current key.
func (c *Codec) Encode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	id := c.keys.CurrentID()
	aead := c.keys.aeads[id]
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		plain, err := proto.Marshal(p)
		if err != nil {
			return nil, fmt.Errorf("payload codec: serialize payload: %w", err)
		}
		nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
		if _, err := rand.Read(nonce); err != nil {
			return nil, fmt.Errorf("payload codec: nonce: %w", err)
		}
		out[i] = &commonpb.Payload{
			Metadata: map[string][]byte{
				converter.MetadataEncoding: []byte(EncodingEncrypted),
				MetadataKeyID:              []byte(id),
			},
			Data: aead.Seal(nonce, nonce, plain, []byte(id)),
		}
	}
	return out, nil
}

// Decode decrypts encrypted payloads and passes any other payload through
// unchanged, so histories written before encryption was on still read.
func (c *Codec) Decode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		if string(p.GetMetadata()[converter.MetadataEncoding]) != EncodingEncrypted {
			out[i] = p
			continue
		}
		id := string(p.GetMetadata()[MetadataKeyID])
		aead, ok := c.keys.aeads[id]
		if !ok {
			return nil, fmt.Errorf("payload codec: payload was encrypted with key id %q, which is not in %s (known: %s)",
				id, EnvKeys, strings.Join(c.keys.ids, ", "))
		}
		data := p.GetData()
		if len(data) < aead.NonceSize()+aead.Overhead() {
			return nil, fmt.Errorf("payload codec: encrypted payload (key %q) is too short", id)
		}
		ns := aead.NonceSize()
		plain, err := aead.Open(nil, data[:ns], data[ns:], []byte(id))
		if err != nil {
			return nil, fmt.Errorf("payload codec: cannot decrypt payload with key %q: it was altered or the key is wrong", id)
		}
		var orig commonpb.Payload
		if err := proto.Unmarshal(plain, &orig); err != nil {
			return nil, fmt.Errorf("payload codec: decrypted payload (key %q) is not a payload: %w", id, err)
		}
		out[i] = &orig
	}
	return out, nil
}

// DataConverter returns the SDK's default data converter wrapped with the
// encrypting codec, or the default data converter alone when keys is nil.
// Every client and worker of a namespace must use the same keys.
func DataConverter(keys *Keys) converter.DataConverter {
	if keys == nil {
		return converter.GetDefaultDataConverter()
	}
	return converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), NewCodec(keys))
}

// Handler serves Temporal's remote codec protocol (POST .../encode and
// POST .../decode with a JSON {"payloads": [...]} body) for the Temporal UI
// and CLI. keys must not be nil.
//
// Every request except a CORS preflight must pass authorize, or is refused
// with 401; use Bearer for the usual Authorization: Bearer check. Browser
// requests are allowed from allowedOrigins only (such as the Temporal UI's
// http://127.0.0.1:8233), with the headers the UI sends: Content-Type,
// X-Namespace and Authorization.
func Handler(keys *Keys, allowedOrigins []string, authorize func(context.Context, *http.Request) bool) http.Handler {
	if authorize == nil {
		panic("codec.Handler: nil authorize")
	}
	codecHandler := converter.NewPayloadCodecHTTPHandler(NewCodec(keys))
	origins := map[string]bool{}
	for _, o := range allowedOrigins {
		origins[strings.TrimSuffix(o, "/")] = true
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Add("Vary", "Origin")
		origin := r.Header.Get("Origin")
		if origin != "" && origins[origin] {
			// No Allow-Credentials: the codec reads no cookies, and the
			// UI sends its token in the Authorization header.
			h.Set("Access-Control-Allow-Origin", origin)
		}
		if r.Method == http.MethodOptions {
			if origin == "" || !origins[origin] {
				http.Error(w, "origin not allowed", http.StatusForbidden)
				return
			}
			h.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
			h.Set("Access-Control-Allow-Headers", "Content-Type, X-Namespace, Authorization")
			h.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if r.Method != http.MethodPost {
			h.Set("Allow", "POST, OPTIONS")
			http.Error(w, "use POST", http.StatusMethodNotAllowed)
			return
		}
		if !authorize(r.Context(), r) {
			h.Set("WWW-Authenticate", `Bearer realm="wmtna-codec"`)
			http.Error(w, "an operator's bearer token is required", http.StatusUnauthorized)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxCodecBody)
		codecHandler.ServeHTTP(w, r)
	})
}

// Bearer adapts a token check to Handler's authorize: the request must
// carry Authorization: Bearer <token> and check must accept the token.
func Bearer(check func(ctx context.Context, token string) bool) func(context.Context, *http.Request) bool {
	return func(ctx context.Context, r *http.Request) bool {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || token == "" || len(token) > 200 {
			return false
		}
		return check(ctx, token)
	}
}

// PathSecret adapts Handler's authorize to also accept requests whose path
// starts with /<secret>/, for a codec endpoint such as
// http://127.0.0.1:8080/codec/<secret> given to a Temporal UI that has no
// user login and so no bearer token to pass (the dev stack). The URL is then
// the credential: use a long random secret and such a UI on loopback only.
func PathSecret(secret string, next func(context.Context, *http.Request) bool) func(context.Context, *http.Request) bool {
	if len(secret) < 16 {
		panic("codec.PathSecret: secret too short")
	}
	return func(ctx context.Context, r *http.Request) bool {
		first, _, ok := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
		if ok && subtle.ConstantTimeCompare([]byte(first), []byte(secret)) == 1 {
			return true
		}
		return next(ctx, r)
	}
}
