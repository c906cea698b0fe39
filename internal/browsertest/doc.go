// Package browsertest drives the web pages end to end in headless Chromium
// (Debian's chromium package, found on PATH or at WMTNA_CHROMIUM), against
// the whole service started in-process: a trainee refers themselves through
// the form, a committee member signs in from their email and approves, a
// therapist signs in and accepts, and the trainee sees "Matched". Each page
// is kept as a screenshot (go test -artifacts keeps them under _artifacts).
//
// Without Chromium the tests skip, unless WMTNA_REQUIRE_BROWSER=1 (set by
// .ci/run), which makes a missing browser a failure.
package browsertest
