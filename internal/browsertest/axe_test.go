//go:build !fuzzing

package browsertest

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"sync"

	"github.com/chromedp/chromedp"
)

// defaultAxe is where .ci/run's `npm ci --prefix testdata/axe` puts
// axe-core, relative to this package (go test runs in its directory).
const defaultAxe = "testdata/axe/node_modules/axe-core/axe.min.js"

// axeSource is axe-core's script, read once for all the tests: from
// WMTNA_AXE_JS, else from defaultAxe.
var axeSource = sync.OnceValues(func() (string, error) {
	path := os.Getenv("WMTNA_AXE_JS")
	if path == "" {
		path = defaultAxe
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("axe-core: %w", err)
	}
	return string(b), nil
})

// axeRun audits the page against WCAG 2.2 A and AA, as axe tags them (each
// version's tag holds only the criteria new in it, so all five are named),
// and returns only what a failure needs to say.
const axeRun = `axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa']}, resultTypes: ['violations']})
	.then(r => r.violations.map(v => ({id: v.id, impact: v.impact || '', help: v.help, helpUrl: v.helpUrl,
		nodes: v.nodes.map(n => ({target: n.target.map(String).join(' '), summary: n.failureSummary || ''}))})))`

type axeViolation struct {
	ID, Impact, Help, HelpURL string
	Nodes                     []struct{ Target, Summary string }
}

// audit runs axe-core on the page open in ctx and fails the test, without
// stopping it, with each violation: its rule, impact and the elements that
// break it. Without axe-core the audit is skipped (said once), unless
// WMTNA_REQUIRE_BROWSER=1 (CI), where that is a failure.
func (j *journey) audit(ctx context.Context, name string) {
	j.t.Helper()
	src, err := axeSource()
	if err != nil {
		if os.Getenv("WMTNA_REQUIRE_BROWSER") == "1" {
			j.t.Fatalf("%v (run `npm ci --prefix internal/browsertest/testdata/axe`, or set WMTNA_AXE_JS)", err)
		}
		if !j.noAxe {
			j.noAxe = true
			if errors.Is(err, fs.ErrNotExist) {
				j.t.Logf("no accessibility audit: %v; `npm ci --prefix internal/browsertest/testdata/axe` installs it", err)
			} else {
				j.t.Logf("no accessibility audit: %v", err)
			}
		}
		return
	}
	// Runtime.evaluate is not held to the page's Content-Security-Policy,
	// so the service's policy (no scripts at all) stays as it is.
	loaded, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`typeof window.axe === 'object'`))
	if err != nil {
		j.fail(ctx, "look for axe-core on "+name, err)
	}
	if !loaded {
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[chromedp.Void](src)); err != nil {
			j.fail(ctx, "inject axe-core on "+name, err)
		}
	}
	width, err := chromedp.Run(ctx, chromedp.Evaluate[int](`window.innerWidth`))
	if err != nil {
		j.fail(ctx, "measure "+name, err)
	}
	found, err := chromedp.Run(ctx, chromedp.Evaluate[[]axeViolation](axeRun, chromedp.EvalAwaitPromise))
	if err != nil {
		j.fail(ctx, "run axe-core on "+name, err)
	}
	for _, v := range found {
		var nodes strings.Builder
		for _, n := range v.Nodes {
			fmt.Fprintf(&nodes, "\n\t%s\n\t\t%s", n.Target, strings.ReplaceAll(n.Summary, "\n", "\n\t\t"))
		}
		j.t.Errorf("%s at %d px: WCAG violation %s (%s): %s (%s)%s", name, width, v.ID, v.Impact, v.Help, v.HelpURL, nodes.String())
	}
}
