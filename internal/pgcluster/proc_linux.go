package pgcluster

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

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

// procInfo is what /proc tells about a process.
type procInfo struct {
	args  []string // its command line
	ppid  int
	state byte   // R, S, D, Z, ...
	flags uint64 // the kernel's PF_* flags
}

// inspectProcess reads /proc/<pid>; false means it could not (the process
// exited, or /proc hides it).
func inspectProcess(pid int) (procInfo, bool) {
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return procInfo{}, false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procInfo{}, false
	}
	// The command name in parentheses may itself hold spaces and
	// parentheses, so the fields start after the last ')': state, ppid,
	// pgrp, session, tty_nr, tpgid, flags, ...
	end := bytes.LastIndexByte(stat, ')')
	if end < 0 {
		return procInfo{}, false
	}
	fields := strings.Fields(string(stat[end+1:]))
	if len(fields) < 7 || len(fields[0]) != 1 {
		return procInfo{}, false
	}
	ppid, err := strconv.Atoi(fields[1])
	if err != nil {
		return procInfo{}, false
	}
	flags, err := strconv.ParseUint(fields[6], 10, 64)
	if err != nil {
		return procInfo{}, false
	}
	var args []string
	if len(cmdline) > 0 {
		args = strings.Split(strings.TrimSuffix(string(cmdline), "\x00"), "\x00")
	}
	return procInfo{args: args, ppid: ppid, state: fields[0][0], flags: flags}, true
}

// pfExiting is the kernel's PF_EXITING: the process is in exit().
const pfExiting = 0x4

// processDying reports whether pid has been killed but has not finished
// exiting: a SIGKILL pending (a thread may be in the middle of a system
// call such as fsync), already in exit(), or a zombie. Its children are
// reparented, and sent their parent-death signal, only once it is done.
func processDying(pid int) bool {
	info, ok := inspectProcess(pid)
	if !ok {
		return !processAlive(pid)
	}
	if info.state == 'Z' || info.state == 'X' || info.flags&pfExiting != 0 {
		return true
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return false
	}
	const sigkill = 1 << (syscall.SIGKILL - 1)
	for _, line := range strings.Split(string(status), "\n") {
		name, value, ok := strings.Cut(line, ":")
		if name != "SigPnd" && name != "ShdPnd" || !ok {
			continue
		}
		if mask, err := strconv.ParseUint(strings.TrimSpace(value), 16, 64); err == nil && mask&sigkill != 0 {
			return true
		}
	}
	return false
}
