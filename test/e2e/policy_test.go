package e2e

// Issue 17: the target's policy, read live from annotations on its Kustomization.
// NOTE: the annotations are written on the live Kustomization through the API here,
// not applied by Flux from the fixture repository (the fleet harness applies the
// Kustomizations itself; a Flux-managed flux-system Kustomization is not built yet).

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	kustomizev1 "github.com/fluxcd/kustomize-controller/api/v1"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubectl-promote/kubectl-promote/test/fleet"
)

const policyPrefix = "promote.kubectl-promote.dev/"

// annotate sets (or, with "", removes) policy annotations on env's apps Kustomization.
func annotate(t *testing.T, f *fleet.Fleet, env string, ann map[string]string) {
	t.Helper()
	_, apps := f.Kustomizations(env)
	ks := &kustomizev1.Kustomization{}
	c := f.Client(env)
	require.NoError(t, c.Get(context.Background(), apps, ks))
	patch := client.MergeFrom(ks.DeepCopy())
	a := ks.GetAnnotations()
	if a == nil {
		a = map[string]string{}
	}
	for k, v := range ann {
		if v == "" {
			delete(a, policyPrefix+k)
		} else {
			a[policyPrefix+k] = v
		}
	}
	ks.SetAnnotations(a)
	require.NoError(t, c.Patch(context.Background(), ks, patch))
}

func TestPolicyWindowBlocksAndForce(t *testing.T) {
	parallel(t)
	f := fleet.StartT(t, fleet.Options{Seed: seedOptions()})
	before := head(t, f)

	// A malformed policy is an error naming the annotation; nothing is written.
	annotate(t, f, prod, map[string]string{"allow": "weekdays"})
	r := promote(t, f, "apps", "--from", staging, "--to", prod, "--yes")
	require.Equal(t, 1, r.Code, r.String())
	require.Contains(t, r.Stderr, `annotation promote.kubectl-promote.dev/allow: "weekdays"`, r.String())
	require.Equal(t, before, head(t, f))

	// A deny window open now (computed relative to now, in UTC) blocks: exit 3.
	start := time.Now().UTC().Add(-time.Minute)
	window := fmt.Sprintf("daily %s for 2h UTC", start.Format("15:04"))
	annotate(t, f, prod, map[string]string{"allow": "", "deny": window})
	r = promote(t, f, "apps", "--from", staging, "--to", prod, "--yes")
	require.Equal(t, 3, r.Code, r.String())
	require.Contains(t, r.Stdout+r.Stderr, `deny window "`+window+`"`, r.String())
	require.Contains(t, r.Stderr, "window", r.String())
	require.Equal(t, before, head(t, f))

	// status shows the policy and that the window is closed.
	r = promote(t, f, "status", staging, prod, "--kustomization", "apps", "-o", "json")
	require.Contains(t, r.Stdout, `"deny": [`, r.String())
	require.Contains(t, r.Stdout, `"open": false`, r.String())

	// --force passes, and the commit records the failed gate.
	r = promote(t, f, "apps", "--from", staging, "--to", prod, "--yes", "--force")
	require.Equal(t, 0, r.Code, r.String())
	sha := head(t, f)
	require.NotEqual(t, before, sha)
	gates := strings.Join(trailers(t, f, sha)["Promote-Gates"], " ")
	require.Contains(t, gates, "forced", gates)
	require.Contains(t, gates, "window", gates)
}
