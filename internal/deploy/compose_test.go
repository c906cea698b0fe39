package deploy

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

const (
	composeFile = "../../docker-compose.yml"
	configGo    = "../config/config.go"
	adminToken  = "compose-test-admin-token-0123456789abcdef"
	payloadKeys = "k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
)

// notPassed lists, per service, the settings of package config it need not
// get, and why. Every other WMTNA_* setting must be in its environment.
var notPassed = map[string]map[string]string{
	"api": {
		"WMTNA_METRICS_ADDR": "the worker's metrics address; the api serves /metrics on WMTNA_HTTP_ADDR",
	},
	"worker": {
		"WMTNA_HTTP_ADDR":     "the worker serves no API",
		"WMTNA_ADMIN_TOKEN":   "only the api creates the operator at start-up",
		"WMTNA_CODEC_ORIGINS": "the codec endpoint is the api's",
	},
}

// required are the settings api and worker cannot run without in
// production: set, and not empty.
var required = map[string][]string{
	"api":    {"DATABASE_URL", "TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "WMTNA_PAYLOAD_KEYS", "WMTNA_ADMIN_TOKEN"},
	"worker": {"DATABASE_URL", "TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "WMTNA_PAYLOAD_KEYS"},
}

func loadCompose(t *testing.T, env ...string) *types.Project {
	t.Helper()
	path, err := filepath.Abs(composeFile)
	if err != nil {
		t.Fatal(err)
	}
	// Only the variables the file says must be set; nothing from the
	// machine running the test, and no .env file.
	opts, err := cli.NewProjectOptions([]string{path},
		cli.WithName("wmtna"),
		cli.WithWorkingDirectory(filepath.Dir(path)),
		cli.WithEnv(append([]string{"WMTNA_ADMIN_TOKEN=" + adminToken, "WMTNA_PAYLOAD_KEYS=" + payloadKeys}, env...)),
	)
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("load %s: %v", composeFile, err)
	}
	return p
}

// configSettings are the WMTNA_* variables named in package config's
// source, where every setting of the api and worker is read.
func configSettings(t *testing.T) []string {
	t.Helper()
	src, err := os.ReadFile(configGo)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range regexp.MustCompile(`\b(WMTNA_[A-Z0-9_]*[A-Z0-9]|SMTP_URL)\b`).FindAllString(string(src), -1) {
		if !slices.Contains(names, m) {
			names = append(names, m)
		}
	}
	sort.Strings(names)
	if len(names) < 5 || !slices.Contains(names, "WMTNA_PAYLOAD_KEYS") {
		t.Fatalf("found only %v in %s: has the way settings are read changed?", names, configGo)
	}
	return names
}

func service(t *testing.T, p *types.Project, name string) types.ServiceConfig {
	t.Helper()
	s, ok := p.Services[name]
	if !ok {
		t.Fatalf("service %s is missing from %s", name, composeFile)
	}
	return s
}

func TestComposeServices(t *testing.T) {
	p := loadCompose(t)
	for _, name := range []string{"postgres", "temporal-schema", "temporal", "temporal-ui", "migrate", "register", "api", "worker"} {
		service(t, p, name)
	}

	// published returns the host address a service publishes port on, and
	// whether it does.
	published := func(s types.ServiceConfig, port string) (string, bool) {
		for _, pc := range s.Ports {
			if pc.Published == port {
				return pc.HostIP, true
			}
		}
		return "", false
	}
	if _, ok := published(service(t, p, "api"), "8080"); !ok {
		t.Errorf("api does not publish 8080: %+v", service(t, p, "api").Ports)
	}
	// Temporal's UI and frontend ask nobody who they are: anyone who can
	// reach them can read or end any referral's workflow. Loopback only.
	for name, port := range map[string]string{"temporal-ui": "8233", "temporal": "7233"} {
		if ip, ok := published(service(t, p, name), port); !ok || ip != "127.0.0.1" {
			t.Errorf("%s publishes %s on %q (published: %v), want 127.0.0.1 only", name, port, ip, ok)
		}
	}
	for name, s := range p.Services {
		if name == "api" {
			continue
		}
		for _, pc := range s.Ports {
			if pc.Published != "" && pc.HostIP != "127.0.0.1" {
				t.Errorf("%s publishes %s to every interface; only the api, which authenticates, may", name, pc.Published)
			}
		}
	}

	// What others wait for must say when it is ready.
	for _, name := range []string{"postgres", "temporal"} {
		if hc := service(t, p, name).HealthCheck; hc == nil || hc.Disable || len(hc.Test) == 0 {
			t.Errorf("%s has no healthcheck: %+v", name, hc)
		}
	}
	waits := func(name, on string, cond string) {
		t.Helper()
		if dep, ok := service(t, p, name).DependsOn[on]; !ok || dep.Condition != cond {
			t.Errorf("%s does not wait for %s to be %s: %+v", name, on, cond, service(t, p, name).DependsOn)
		}
	}
	waits("temporal-schema", "postgres", types.ServiceConditionHealthy)
	waits("temporal", "temporal-schema", types.ServiceConditionCompletedSuccessfully)
	waits("temporal-ui", "temporal", types.ServiceConditionHealthy)
	waits("register", "temporal", types.ServiceConditionHealthy)
	if r := service(t, p, "temporal-schema").Restart; r == types.RestartPolicyAlways || r == types.RestartPolicyUnlessStopped {
		t.Errorf("temporal-schema runs once, but has restart policy %q", r)
	}

	for _, name := range []string{"postgres", "temporal", "temporal-ui", "api", "worker"} {
		switch r := service(t, p, name).Restart; r {
		case types.RestartPolicyAlways, types.RestartPolicyUnlessStopped, types.RestartPolicyOnFailure:
		default:
			t.Errorf("%s is long-running but has restart policy %q", name, r)
		}
	}

	// One-shot services: migrations, and the namespace's search attributes
	// and retention schedule. api and worker start once both have succeeded.
	for _, once := range []string{"migrate", "register"} {
		s := service(t, p, once)
		if !slices.Equal(s.Command, types.ShellCommand{once}) {
			t.Errorf("%s runs %q, want [%s]", once, s.Command, once)
		}
		if r := s.Restart; r == types.RestartPolicyAlways || r == types.RestartPolicyUnlessStopped {
			t.Errorf("%s runs once, but has restart policy %q", once, r)
		}
		for _, name := range []string{"api", "worker"} {
			if dep, ok := service(t, p, name).DependsOn[once]; !ok || dep.Condition != types.ServiceConditionCompletedSuccessfully {
				t.Errorf("%s does not wait for %s to complete: %+v", name, once, service(t, p, name).DependsOn)
			}
		}
	}
	reg := service(t, p, "register").Environment
	if k := reg["WMTNA_PAYLOAD_KEYS"]; k == nil || *k != payloadKeys {
		t.Errorf("register does not get WMTNA_PAYLOAD_KEYS: the retention schedule's input must be encrypted with the workers' keys")
	}
	for _, name := range []string{"api", "worker"} {
		if !slices.Equal(service(t, p, name).Command, types.ShellCommand{name}) {
			t.Errorf("%s runs %q, want [%s]", name, service(t, p, name).Command, name)
		}
	}
}

func TestComposePassesEverySetting(t *testing.T) {
	p := loadCompose(t)
	settings := configSettings(t)
	for svc, excluded := range notPassed {
		for name := range excluded {
			if !slices.Contains(settings, name) {
				t.Errorf("notPassed[%s] names %s, which package config no longer reads", svc, name)
			}
		}
	}
	for _, svc := range []string{"api", "worker"} {
		env := service(t, p, svc).Environment
		for _, name := range required[svc] {
			if v := env[name]; v == nil || *v == "" {
				t.Errorf("%s: %s is not set", svc, name)
			}
		}
		for _, name := range settings {
			if _, ok := env[name]; ok {
				continue
			}
			if _, ok := notPassed[svc][name]; !ok {
				t.Errorf("%s: %s is read by package config but not passed in docker-compose.yml (pass it, or add it to notPassed with a reason)", svc, name)
			}
		}
	}
	// Both processes encrypt and decrypt payloads: the same keys.
	api, worker := service(t, p, "api").Environment, service(t, p, "worker").Environment
	if a, w := api["WMTNA_PAYLOAD_KEYS"], worker["WMTNA_PAYLOAD_KEYS"]; a == nil || w == nil || *a != payloadKeys || *w != payloadKeys {
		t.Errorf("api and worker do not both get WMTNA_PAYLOAD_KEYS from the environment")
	}
	if a := api["WMTNA_ADMIN_TOKEN"]; a == nil || *a != adminToken {
		t.Errorf("api does not get WMTNA_ADMIN_TOKEN from the environment")
	}
}

// fixedInContainer are the settings the file sets itself, and why: the
// addresses the processes listen on inside their containers, which the
// published ports are mapped to.
var fixedInContainer = map[string]bool{"WMTNA_HTTP_ADDR": true, "WMTNA_METRICS_ADDR": true}

// TestComposeSettingsComeFromTheEnvironment: every setting the file passes
// to api and worker is the operator's to set, so that, behind TLS, the
// links in emails and the Secure flag of cookies follow WMTNA_PUBLIC_URL
// instead of a hard-coded http://localhost:8080.
func TestComposeSettingsComeFromTheEnvironment(t *testing.T) {
	var env []string
	want := map[string]string{}
	for _, name := range append(configSettings(t), "SMTP_URL") {
		if name == "WMTNA_ADMIN_TOKEN" || name == "WMTNA_PAYLOAD_KEYS" {
			continue // set by loadCompose, and checked above
		}
		want[name] = "from-the-environment-" + strings.ToLower(name)
		env = append(env, name+"="+want[name])
	}
	want["WMTNA_PUBLIC_URL"] = "https://referrals.wmtna.example"
	env = append(env, "WMTNA_PUBLIC_URL="+want["WMTNA_PUBLIC_URL"])
	p := loadCompose(t, env...)
	for _, svc := range []string{"api", "worker"} {
		got := service(t, p, svc).Environment
		for name, v := range want {
			g, passed := got[name]
			if !passed || fixedInContainer[name] {
				continue
			}
			if g == nil || *g != v {
				t.Errorf("%s: %s is %v, not what the environment says (%q)", svc, name, deref(g), v)
			}
		}
	}
	// Unset, the public URL falls back to the address the api is published on.
	if v := service(t, loadCompose(t), "api").Environment["WMTNA_PUBLIC_URL"]; v == nil || *v != "http://localhost:8080" {
		t.Errorf("api's default WMTNA_PUBLIC_URL is %v, want http://localhost:8080", deref(v))
	}
}

func deref(s *string) string {
	if s == nil {
		return "<unset>"
	}
	return *s
}
