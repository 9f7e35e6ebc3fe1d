//go:build unix

package timing

import (
	"syscall"
	"time"
)

// CPUTime returns the CPU time (user and system) the process has used, every thread
// and the garbage collector included; ok is false where it cannot be read.
func CPUTime() (d time.Duration, ok bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
