package review

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kubectl-promote/kubectl-promote/pkg/apis/v1alpha1"
	"github.com/kubectl-promote/kubectl-promote/pkg/history"
	"github.com/kubectl-promote/kubectl-promote/pkg/repo"
)

// The description has the plan and the gates, and ends with the trailers as a
// trailer block: a squash merge whose message is title and description keeps them.
func TestPromotionBody(t *testing.T) {
	res := v1alpha1.NewPromotion("production")
	res.Strategy = "images"
	res.Source.Name, res.Target.Name, res.Target.Branch = "staging", "production", "main"
	res.Changes = []v1alpha1.Change{{Image: "ghcr.io/my-org/my-app", From: "1.0.0", To: "1.1.0", Apps: []string{"my-app"}}}
	res.Files = []v1alpha1.File{{Path: "apps/production/kustomization.yaml", Diff: "--- a\n+++ b\n-    newTag: \"1.0.0\"\n+    newTag: \"1.1.0\"\n"}}
	res.RenderedDiff = "-      - image: ghcr.io/my-org/my-app:1.0.0\n+      - image: ghcr.io/my-org/my-app:1.1.0\n"
	res.Gates = v1alpha1.Gates{{Name: "source-ready", Environment: "staging", Passed: true, Message: "Ready=True"},
		{Name: "source-soak", Environment: "staging", Passed: false, Message: "applied 1m ago | wants 1h"}}
	res.Forced = true
	trailers := []repo.Trailer{{Key: history.TrailerFrom, Value: "staging/flux-system/apps"}, {Key: history.TrailerGates, Value: "forced (failed: source-soak)"}}
	body := PromotionBody(res, trailers)
	for _, want := range []string{
		"| `ghcr.io/my-org/my-app` | `1.0.0` | `1.1.0` | my-app |",
		"`apps/production/kustomization.yaml`\n\n```diff\n--- a\n+++ b\n-    newTag: \"1.0.0\"\n+    newTag: \"1.1.0\"\n```",
		"### Rendered diff (Secrets masked)",
		"| source-ready | staging | ✅ passed | Ready=True |",
		`| source-soak | staging | ❌ failed | applied 1m ago \| wants 1h |`,
		"Promoted past failed gates with `--force`.",
	} {
		require.Contains(t, body, want)
	}
	subject, _, got := repo.ParseMessage("promote(production): my-app 1.0.0 → 1.1.0 from staging (#4)\n\n" + body)
	require.Equal(t, "promote(production): my-app 1.0.0 → 1.1.0 from staging (#4)", subject)
	require.Equal(t, trailers, got)
}
