//go:build !unix

package plan

import "time"

func cpuTime() (time.Duration, bool) { return 0, false }
