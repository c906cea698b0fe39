package faulttest

import (
	"os/exec"
	"syscall"
)

// dieWithUs makes the kernel kill the child if the test binary dies first
// (a timeout panic, a Ctrl-C), so that no worker outlives the test.
func dieWithUs(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
