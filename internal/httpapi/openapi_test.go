package httpapi

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
	"go.yaml.in/yaml/v3"

	"github.com/wmtna/referrals/internal/referral"
)

// openAPIMethods are the keys of an OpenAPI path item that are operations.
var openAPIMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

type openAPIOperation struct {
	// Security is nil when the operation has no security key at all.
	Security *[]map[string][]string `yaml:"security"`
}

type openAPIDoc struct {
	OpenAPI string                          `yaml:"openapi"`
	Paths   map[string]map[string]yaml.Node `yaml:"paths"`
}

func loadOpenAPI(t *testing.T) (openAPIDoc, map[string]openAPIOperation) {
	t.Helper()
	var doc openAPIDoc
	if err := yaml.Unmarshal(OpenAPI, &doc); err != nil {
		t.Fatalf("parse openapi.yaml: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.1.") {
		t.Fatalf("openapi = %q, want 3.1.x", doc.OpenAPI)
	}
	ops := map[string]openAPIOperation{}
	for path, item := range doc.Paths {
		for key, node := range item {
			if !slices.Contains(openAPIMethods, key) {
				continue
			}
			var op openAPIOperation
			if err := node.Decode(&op); err != nil {
				t.Fatalf("%s %s: %v", key, path, err)
			}
			ops[strings.ToUpper(key)+" "+path] = op
		}
	}
	return doc, ops
}

func servedRoutes(t *testing.T, h http.Handler) []string {
	t.Helper()
	routes, ok := h.(chi.Routes)
	if !ok {
		t.Fatalf("Handler() is a %T, not a chi router", h)
	}
	var served []string
	err := chi.Walk(routes, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		route = strings.ReplaceAll(route, "/*/", "/")
		if len(route) > 1 {
			route = strings.TrimSuffix(route, "/")
		}
		served = append(served, method+" "+route)
		return nil
	})
	if err != nil {
		t.Fatalf("walk routes: %v", err)
	}
	sort.Strings(served)
	return served
}

// isPage reports whether a served route is a web page (HTML, for people)
// rather than part of the API: everything outside /v1 but the health,
// readiness and metrics endpoints.
func isPage(route string) bool {
	_, path, _ := strings.Cut(route, " ")
	return !strings.HasPrefix(path, "/v1/") && !slices.Contains([]string{"/healthz", "/readyz", "/metrics"}, path)
}

// TestOpenAPIRoutes checks that the document describes exactly the routes
// the router serves, with the same methods.
func TestOpenAPIRoutes(t *testing.T) {
	_, ops := loadOpenAPI(t)
	served := servedRoutes(t, (&Server{}).Handler())
	if len(served) == 0 {
		t.Fatal("the router serves no routes")
	}
	for _, r := range served {
		if isPage(r) {
			continue
		}
		if _, ok := ops[r]; !ok {
			t.Errorf("%s is served but not in openapi.yaml", r)
		}
	}
	for r := range ops {
		if !slices.Contains(served, r) {
			t.Errorf("%s is in openapi.yaml but not served", r)
		}
	}
}

var allRoles = []referral.Role{referral.RoleTrainee, referral.RoleCommittee, referral.RoleTherapist, referral.RoleOperator}

// TestOpenAPISecurity checks each operation's security against the router:
// an operation without security answers a request without a token (with
// something other than 401); one with security refuses it with 401, lets
// through the roles it lists and refuses the others with 403. It runs
// without a database: no Authorization header is sent (the principal is put
// in the request's context instead), and a handler that reaches for the
// database panics into the recoverer's 500, which is past the role check.
func TestOpenAPISecurity(t *testing.T) {
	_, ops := loadOpenAPI(t)
	h := (&Server{Logger: slog.New(slog.DiscardHandler)}).Handler()
	const id = "0b6c3a52-4b8e-4c57-9b5e-2f1d7a0c9e11"
	// serve answers a request as p. A refusal of the committee's Chair
	// office (not_chair) has passed the role's gate, which is what this
	// checks: the office is the use case's own check.
	serve := func(method, path string, p *referral.Principal) int {
		req := httptest.NewRequest(method, strings.ReplaceAll(path, "{id}", id), nil)
		if p != nil {
			req = req.WithContext(context.WithValue(req.Context(), principalKey{}, *p))
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code == http.StatusForbidden && strings.Contains(rec.Body.String(), `"code":"not_chair"`) {
			return http.StatusOK
		}
		return rec.Code
	}
	for key, op := range ops {
		method, path, _ := strings.Cut(key, " ")
		t.Run(key, func(t *testing.T) {
			if op.Security == nil {
				t.Fatal("no security key: say security: [] for a public operation")
			}
			var roles []string
			for _, req := range *op.Security {
				for scheme, rs := range req {
					if scheme != "bearerAuth" {
						t.Errorf("unknown security scheme %q", scheme)
					}
					roles = append(roles, rs...)
				}
			}
			public := len(*op.Security) == 0
			if code := serve(method, path, nil); public && code == http.StatusUnauthorized {
				t.Errorf("public, but answers 401 without a token")
			} else if !public && code != http.StatusUnauthorized {
				t.Errorf("needs a token, but answers %d without one", code)
			}
			if public {
				return
			}
			if len(roles) == 0 {
				t.Fatal("bearerAuth lists no roles")
			}
			for _, role := range allRoles {
				code := serve(method, path, &referral.Principal{Role: role, Subject: "someone"})
				allowed := slices.Contains(roles, string(role))
				switch {
				case allowed && (code == http.StatusForbidden || code == http.StatusUnauthorized):
					t.Errorf("lists %s, but a %s token gets %d", role, role, code)
				case !allowed && code != http.StatusForbidden:
					t.Errorf("does not list %s, but a %s token gets %d, not 403", role, role, code)
				}
			}
		})
	}
}

// TestOpenAPIRefs checks that every local $ref in the document resolves.
func TestOpenAPIRefs(t *testing.T) {
	var root any
	if err := yaml.Unmarshal(OpenAPI, &root); err != nil {
		t.Fatalf("parse openapi.yaml: %v", err)
	}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if ref, ok := x.(string); ok && k == "$ref" {
					if _, err := resolvePointer(root, ref); err != nil {
						t.Errorf("$ref %s: %v", ref, err)
					}
					continue
				}
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(root)
}

func resolvePointer(root any, ref string) (any, error) {
	frag, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return nil, errString("not a local reference")
	}
	cur := root
	for _, tok := range strings.Split(frag, "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch c := cur.(type) {
		case map[string]any:
			next, ok := c[tok]
			if !ok {
				return nil, errString("no " + strconv.Quote(tok))
			}
			cur = next
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(c) {
				return nil, errString("no index " + tok)
			}
			cur = c[i]
		default:
			return nil, errString("cannot descend into " + strconv.Quote(tok))
		}
	}
	return cur, nil
}

type errString string

func (e errString) Error() string { return string(e) }

// TestOpenAPIEnums checks the document's enums against the domain's lists.
func TestOpenAPIEnums(t *testing.T) {
	var doc struct {
		Components struct {
			Schemas map[string]struct {
				Enum []string `yaml:"enum"`
			} `yaml:"schemas"`
		} `yaml:"components"`
	}
	if err := yaml.Unmarshal(OpenAPI, &doc); err != nil {
		t.Fatalf("parse openapi.yaml: %v", err)
	}
	var statuses []string
	for _, s := range referral.Statuses {
		statuses = append(statuses, string(s))
	}
	for name, want := range map[string][]string{
		"Status":        statuses,
		"Programme":     referral.Programmes,
		"CommitteeRole": referral.CommitteeRoles,
	} {
		if got := doc.Components.Schemas[name].Enum; !slices.Equal(got, want) {
			t.Errorf("components.schemas.%s.enum = %v, want %v", name, got, want)
		}
	}
}

// The API serves its own description, where the dev banner says.
func TestOpenAPIIsServed(t *testing.T) {
	rec := httptest.NewRecorder()
	(&Server{}).Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/v1/openapi.yaml", nil))
	if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/yaml") || !bytes.Equal(rec.Body.Bytes(), OpenAPI) {
		t.Errorf("GET /v1/openapi.yaml: %d %q, %d bytes, want 200 application/yaml with the document", rec.Code, rec.Header().Get("Content-Type"), rec.Body.Len())
	}
}
