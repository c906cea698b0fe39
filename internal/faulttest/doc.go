// Package faulttest holds the pipeline's fault tests, the checks behind
// "ready for operators": the worker process SIGKILLed at random points,
// PostgreSQL stopped under a running stack, and the API restarted while a
// decision is in flight. Each must lose nothing and apply nothing twice.
// The tests are in fault_test.go; this package has no code of its own.
package faulttest
