package v1alpha1

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/runtime"
)

// Every document is a registered runtime.Object whose constructor sets its apiVersion
// and kind, and whose deep copy is independent of the original.
func TestDocumentsAreObjects(t *testing.T) {
	docs := map[string]runtime.Object{
		"Promotion":      NewPromotion("production"),
		"Rollback":       NewRollback("production"),
		"History":        NewHistory("production", Environment{Name: "production"}, nil),
		"Status":         NewStatus("staging,production", 2),
		"FleetPromotion": NewFleetPromotion("prod-eu prod-us-*"),
		"Version":        NewVersion("v0.1.0", "abc", "2026-01-02T03:04:05Z", "go1.26"),
	}
	for kind, obj := range docs {
		gvk := obj.GetObjectKind().GroupVersionKind()
		require.Equal(t, "kubectl-promote.dev/v1alpha1", gvk.GroupVersion().String(), kind)
		require.Equal(t, kind, gvk.Kind)
		kinds, _, err := Scheme.ObjectKinds(obj)
		require.NoError(t, err, kind)
		require.Equal(t, gvk, kinds[0])
		copied := obj.DeepCopyObject()
		require.Equal(t, obj, copied, kind)
		b, err := json.Marshal(obj)
		require.NoError(t, err)
		var meta struct {
			APIVersion string            `json:"apiVersion"`
			Kind       string            `json:"kind"`
			Metadata   map[string]string `json:"metadata"`
		}
		require.NoError(t, json.Unmarshal(b, &meta), string(b))
		require.Equal(t, kind, meta.Kind)
		require.NotEmpty(t, meta.Metadata["name"], "%s: metadata.name is set (and no null creationTimestamp): %s", kind, b)
	}
}

func TestDeepCopyIsDeep(t *testing.T) {
	p := NewPromotion("production")
	p.Changes = []Change{{Image: "ghcr.io/o/a", Apps: []string{"a"}}}
	p.Commit = &Commit{SHA: "1", Trailers: []Trailer{{Key: "k", Value: "v"}}}
	c := p.DeepCopy()
	c.Changes[0].Apps[0] = "b"
	c.Commit.Trailers[0].Value = "w"
	require.Equal(t, "a", p.Changes[0].Apps[0])
	require.Equal(t, "v", p.Commit.Trailers[0].Value)
}

func TestGates(t *testing.T) {
	s := Gates{{Name: "source-ready", Passed: true}, {Name: "target-suspended"}, {Name: "source-soak"}}
	require.False(t, s.Passed())
	require.Equal(t, []string{"target-suspended", "source-soak"}, s.Failed())
	require.True(t, Gates{}.Passed())
}
