package timing

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestMedian(t *testing.T) {
	require.Equal(t, time.Duration(0), Median(nil))
	require.Equal(t, 3*time.Second, Median([]time.Duration{5 * time.Second, time.Second, 3 * time.Second}))
	require.Equal(t, 2*time.Second, Median([]time.Duration{4 * time.Second, time.Second, 3 * time.Second, time.Second}))
	in := []time.Duration{3, 1, 2}
	Median(in)
	require.Equal(t, []time.Duration{3, 1, 2}, in, "the rounds keep their order")
}
