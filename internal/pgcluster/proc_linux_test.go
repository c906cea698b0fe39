package pgcluster

import (
	"os"
	"os/exec"
	"testing"
	"time"
)

// TestProcessDying checks the states Start tells apart when it asks whether
// the owner of a server is still there.
func TestProcessDying(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, cmd *exec.Cmd)
		want  bool
	}{
		{name: "running", setup: func(*testing.T, *exec.Cmd) {}, want: false},
		{
			// Killed and not yet reaped: a zombie, whose children have
			// already been handed to a reaper.
			name: "zombie",
			setup: func(t *testing.T, cmd *exec.Cmd) {
				if err := cmd.Process.Kill(); err != nil {
					t.Fatal(err)
				}
				for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
					if info, ok := inspectProcess(cmd.Process.Pid); ok && info.state == 'Z' {
						return
					}
					if time.Now().After(deadline) {
						t.Fatal("the killed child never became a zombie")
					}
				}
			},
			want: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command("sleep", "60")
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
			tt.setup(t, cmd)
			if got := processDying(cmd.Process.Pid); got != tt.want {
				t.Errorf("processDying = %v, want %v", got, tt.want)
			}
			info, ok := inspectProcess(cmd.Process.Pid)
			if !ok || info.ppid != os.Getpid() {
				t.Errorf("inspectProcess = %+v, %v; want our child", info, ok)
			}
		})
	}
}
