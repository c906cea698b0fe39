// Package browsertest drives the web pages end to end in headless Chromium
// (Debian's chromium package, found on PATH or at WMTNA_CHROMIUM), against
// the whole service started in-process: a trainee refers themselves through
// the form, a committee member signs in from their email and approves, a
// therapist signs in and accepts, and the trainee sees "Matched". Each page
// is kept as a screenshot (go test -artifacts keeps them under _artifacts),
// at a desktop's width and a phone's, and audited against WCAG 2.2 AA by
// axe-core injected into the page (axe_test.go).
//
// Without Chromium the tests skip, and without axe-core (npm ci --prefix
// testdata/axe, or WMTNA_AXE_JS) the audit does, unless
// WMTNA_REQUIRE_BROWSER=1 (set by .ci/run), which makes either missing a
// failure.
package browsertest
