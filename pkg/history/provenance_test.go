package history

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kubectl-promote/kubectl-promote/pkg/plan"
)

func change(app, repo, from, to string) plan.Change {
	return plan.Change{Repository: repo, Apps: []string{app}, From: plan.ParseImage(repo + ":" + from), To: plan.ParseImage(repo + ":" + to)}
}

func TestSubject(t *testing.T) {
	one := []plan.Change{change("my-app", "ghcr.io/my-org/my-app", "1.0.0", "1.1.0")}
	require.Equal(t, "promote(production): my-app 1.0.0 → 1.1.0 from staging", Subject("production", "staging", one))
	two := append(one, change("redis", "docker.io/library/redis", "7.2.4", "7.2.5"))
	require.Equal(t, "promote(production): my-app 1.0.0 → 1.1.0, redis 7.2.4 → 7.2.5 from staging", Subject("production", "staging", two))
	var many []plan.Change
	for i := 0; i < 5; i++ {
		many = append(many, change(fmt.Sprint("app", i), fmt.Sprint("r/app", i), "1", "2"))
	}
	require.Equal(t, "promote(production): 5 images from staging", Subject("production", "staging", many))
	shared := plan.Change{Repository: "ghcr.io/my-org/sidecar", Apps: []string{"a", "b"}, From: plan.Image{Tag: "1"}, To: plan.Image{Digest: "sha256:ab"}}
	require.Equal(t, "promote(p): sidecar 1 → sha256:ab from s", Subject("p", "s", []plan.Change{shared}))
	// An envoy sidecar of checkout is named by its image, not by the workload.
	envoy := plan.Change{Repository: "docker.io/envoyproxy/envoy", Apps: []string{"checkout"}, Sidecar: true, From: plan.Image{Tag: "1.30.2"}, To: plan.Image{Tag: "1.31.0"}}
	require.Equal(t, "promote(p): envoy 1.30.2 → 1.31.0 from s", Subject("p", "s", []plan.Change{envoy}))
}
