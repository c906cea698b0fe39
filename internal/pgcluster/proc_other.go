//go:build !linux

package pgcluster

import (
	"os"
	"syscall"
)

// canSwitchUser is false: running the server as another user is only
// implemented on Linux, where we need it.
const canSwitchUser = false

func sysProcAttr(*runAs) *syscall.SysProcAttr { return nil }

func processAlive(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	return p.Signal(syscall.Signal(0)) == nil
}

func killGroup(pid int) {
	if p, err := os.FindProcess(pid); err == nil {
		_ = p.Kill()
	}
}

// procInfo is what the system tells about a process; it is only filled in
// on Linux.
type procInfo struct {
	args []string
	ppid int
}

// inspectProcess cannot look into other processes here, so Start treats a
// live pid in postmaster.pid as a server unless the file says "stopping".
func inspectProcess(int) (procInfo, bool) { return procInfo{}, false }

func processDying(pid int) bool { return !processAlive(pid) }
