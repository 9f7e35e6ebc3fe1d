package seed

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// Every overlay the seed writes must build with kustomize, or nothing downstream means anything.
func TestWriteBuilds(t *testing.T) {
	for _, o := range []Options{{}, {SharedCluster: true, ExtraApps: 3, InfraPodAnnotations: map[string]string{"a": "1"}}} {
		dir := t.TempDir()
		require.NoError(t, Write(dir, o))
		for _, p := range []string{"apps/staging", "apps/production", "infrastructure/staging", "infrastructure/production"} {
			res, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), filepath.Join(dir, p))
			require.NoError(t, err, p)
			require.NotEmpty(t, res.Resources(), p)
		}
		staging, err := os.ReadFile(filepath.Join(dir, "apps/staging/kustomization.yaml"))
		require.NoError(t, err)
		require.Contains(t, string(staging), "newTag: \"1.1.0\"")
		infra, apps := o.KustomizationNames("production")
		cl, err := os.ReadFile(filepath.Join(dir, "clusters/production/apps.yaml"))
		require.NoError(t, err)
		require.Contains(t, string(cl), "name: "+apps)
		require.Contains(t, string(cl), "- name: "+infra)
	}
}
