package render

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Renders match Flux's only with the kustomize that kustomize-controller v1.9.6 is
// built with. go.mod cannot pin it with a replace (that breaks `go install
// ...@version`), so this test does: a dependency bump that moves it fails here.
func TestKustomizeVersionMatchesKustomizeController(t *testing.T) {
	want := map[string]string{"sigs.k8s.io/kustomize/api": "v0.21.1", "sigs.k8s.io/kustomize/kyaml": "v0.21.1", "github.com/fluxcd/pkg/kustomize": "v1.35.7"}
	for mod, version := range want {
		out, err := exec.Command("go", "list", "-m", "-f", "{{.Version}}", mod).CombinedOutput()
		require.NoError(t, err, string(out))
		require.Equal(t, version, strings.TrimSpace(string(out)), "%s: kustomize-controller v1.9.6 uses %s", mod, version)
	}
}
