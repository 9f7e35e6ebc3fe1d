// Package timing holds the statistics every benchmark program of the project prints
// (the median of its rounds) and the process CPU time some of them report, so the
// benchmarks measure and summarise the same way.
package timing

import (
	"slices"
	"time"
)

// Median is the median of ds (the mean of the two middle values for an even count);
// 0 for none.
func Median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	switch {
	case len(s) == 0:
		return 0
	case len(s)%2 == 1:
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
