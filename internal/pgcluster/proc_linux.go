package pgcluster

import "syscall"

// canSwitchUser reports whether sysProcAttr can run the server as another
// user, which running as root requires.
const canSwitchUser = true

func sysProcAttr(account *runAs) *syscall.SysProcAttr {
	attr := &syscall.SysProcAttr{
		// A terminal's Ctrl-C must not reach postgres before our own
		// shutdown has finished using the database; Stop ends it instead.
		Setpgid: true,
		// If we die without calling Stop (killed, or a test binary that
		// exits), the server must not outlive us. SIGINT is postgres'
		// fast shutdown; SIGTERM would wait for every client to leave.
		Pdeathsig: syscall.SIGINT,
	}
	if account != nil {
		attr.Credential = &syscall.Credential{
			Uid:    uint32(account.uid),
			Gid:    uint32(account.gid),
			Groups: []uint32{}, // drop root's supplementary groups
		}
	}
	return attr
}

func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || err == syscall.EPERM
}

// killGroup kills the server and its backends, which share its process group
// because of Setpgid.
func killGroup(pid int) {
	_ = syscall.Kill(-pid, syscall.SIGKILL)
}
