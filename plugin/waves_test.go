package plugin

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestExpandWaves(t *testing.T) {
	contexts := []string{"prod-eu", "prod-us-1", "prod-us-2", "staging"}
	for _, tc := range []struct {
		given []string
		want  [][]string
		err   string
	}{
		{given: []string{"prod-eu"}, want: [][]string{{"prod-eu"}}},
		{given: []string{"prod-eu", "prod-us-1,prod-us-2"}, want: [][]string{{"prod-eu"}, {"prod-us-1", "prod-us-2"}}},
		{given: []string{"prod-eu", "prod-us-*"}, want: [][]string{{"prod-eu"}, {"prod-us-1", "prod-us-2"}}},
		{given: []string{"prod-*/flux-system/apps"}, want: [][]string{{"prod-eu/flux-system/apps", "prod-us-1/flux-system/apps", "prod-us-2/flux-system/apps"}}},
		{given: []string{"flux-system/apps"}, want: [][]string{{"flux-system/apps"}}},
		{given: []string{"prod-ap-*"}, err: `--to "prod-ap-*" matches no kubeconfig context; contexts: prod-eu, prod-us-1, prod-us-2, staging`},
		{given: []string{"prod-xx"}, err: `--to "prod-xx": no kubeconfig context "prod-xx"; contexts: prod-eu, prod-us-1, prod-us-2, staging`},
		{given: []string{"prod-eu,"}, err: `--to "prod-eu,": an empty environment in the list`},
		{given: []string{"prod-eu", "prod-*"}, err: `--to: prod-eu is in waves 1 and 2; a target is promoted once`},
		{given: []string{"prod-us-1,prod-us-?"}, err: `--to: prod-us-1 is named twice in wave 1 ("prod-us-1,prod-us-?")`},
		{given: []string{"flux-system/*"}, err: `--to "flux-system/*": a glob names contexts; write CONTEXT-GLOB or CONTEXT-GLOB/NAMESPACE/NAME`},
		{given: []string{"prod-["}, err: `--to "prod-[": bad glob: syntax error in pattern`},
	} {
		t.Run(strings.Join(tc.given, " "), func(t *testing.T) {
			got, err := expandWaves(tc.given, contexts)
			if tc.err != "" {
				require.EqualError(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
	_, err := expandWaves([]string{"x"}, nil)
	require.EqualError(t, err, `--to "x": no kubeconfig context "x"; the kubeconfig has no contexts`)
}
