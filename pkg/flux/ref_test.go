package flux

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseRef(t *testing.T) {
	contexts := map[string]bool{"staging": true, "production": true, "arn:aws:eks:eu-west-1:1:cluster/prod": true}
	isContext := func(s string) bool { return contexts[s] }
	for _, tc := range []struct {
		raw, name, ns string
		want          Ref
		byContext     bool
		err           string
	}{
		{raw: "staging", name: "apps", want: Ref{Context: "staging", Namespace: "flux-system", Name: "apps"}, byContext: true},
		{raw: "staging", name: "apps", ns: "fleet", want: Ref{Context: "staging", Namespace: "fleet", Name: "apps"}, byContext: true},
		{raw: "flux-system/apps-production", want: Ref{Namespace: "flux-system", Name: "apps-production"}},
		{raw: "production/flux-system/apps", want: Ref{Context: "production", Namespace: "flux-system", Name: "apps"}},
		{raw: "arn:aws:eks:eu-west-1:1:cluster/prod/flux-system/apps", want: Ref{Context: "arn:aws:eks:eu-west-1:1:cluster/prod", Namespace: "flux-system", Name: "apps"}},
		{raw: "arn:aws:eks:eu-west-1:1:cluster/prod", name: "apps", want: Ref{Context: "arn:aws:eks:eu-west-1:1:cluster/prod", Namespace: "flux-system", Name: "apps"}, byContext: true},
		{raw: "qa", err: `"qa" is not a kubeconfig context`},
		{raw: "qa/flux-system/apps", err: `context "qa" not found`},
		{raw: "flux-system/", err: "empty part"},
		{raw: "", err: "empty environment reference"},
		// Found by FuzzParseRef: names no Kubernetes object can have.
		{raw: "Flux-System/apps", err: `environment reference "Flux-System/apps": NAMESPACE "Flux-System" is not a valid namespace`},
		{raw: "production/flux-system/my_apps", err: `NAME "my_apps" is not a valid Kustomization name`},
		{raw: "staging", name: "Apps", err: `the Kustomization name "Apps" is not a valid Kustomization name`},
		{raw: "staging", name: "apps", ns: "a b", err: `the namespace (-n) "a b" is not a valid namespace`},
	} {
		t.Run(tc.raw, func(t *testing.T) {
			got, err := ParseRef(tc.raw, tc.name, tc.ns, isContext)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got.Ref)
			require.Equal(t, tc.byContext, got.ByContext)
		})
	}
}
