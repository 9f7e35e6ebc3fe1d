//go:build !windows

package verify

import (
	"os/exec"
	"syscall"
)

// shell runs command with sh -c in a process group of its own, so that ending the
// check (its context) ends what the shell started too.
func shell(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
}
