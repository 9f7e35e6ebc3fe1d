package plan

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"
)

var update = flag.Bool("update", false, "rewrite testdata golden files from the current output")

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test ./pkg/plan -update to create it")
	require.Equal(t, string(want), string(got))
}

const myApp = "ghcr.io/my-org/my-app"

// Each case edits testdata/edit/NAME.in.yaml and compares with NAME.golden.yaml.
func TestApplyImageEdits(t *testing.T) {
	for _, tc := range []struct {
		name  string
		edits []imageEdit
	}{
		{"update-existing", []imageEdit{{repo: myApp, tag: "1.1.0"}, {repo: "docker.io/library/redis", tag: "7.2.5"}}},
		{"create-images", []imageEdit{{repo: "docker.io/library/redis", tag: "7.2.5"}, {repo: myApp, tag: "1.1.0"}}},
		{"create-images-wide", []imageEdit{{repo: myApp, tag: "1.1.0", digest: "sha256:bbbb"}}},
		{"add-entry", []imageEdit{{repo: myApp, tag: "1.10"}}},
		{"keep-newname", []imageEdit{{repo: "mirror.acme.io/my-app", tag: "v1.1.0"}}},
		{"tag-to-digest", []imageEdit{{repo: myApp, digest: "sha256:bbbb"}}},
		{"digest-to-tag", []imageEdit{{repo: myApp, tag: "1.1.0", digest: "sha256:bbbb"}}},
		{"keep-plain", []imageEdit{{repo: "a", tag: "4.2.0"}, {repo: "b", tag: "1.10"}, {repo: "c", tag: "2.1.0-rc.1"}, {repo: "d", tag: "2"}}},
		{"quoting", []imageEdit{{repo: "a", tag: "1.10"}, {repo: "b", tag: "1.1.0"}, {repo: "c", tag: "false"}}},
		{"flow", []imageEdit{{repo: myApp, tag: "1.1.0"}}},
		{"null-images", []imageEdit{{repo: myApp, tag: "1.1.0"}}},
		{"no-final-newline", []imageEdit{{repo: myApp, tag: "1.1.0", digest: "sha256:bbbb"}}},
		{"create-no-final-newline", []imageEdit{{repo: myApp, tag: "1.1.0"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in, err := os.ReadFile(filepath.Join("testdata/edit", tc.name+".in.yaml"))
			require.NoError(t, err)
			out, err := applyImageEdits(in, tc.edits)
			require.NoError(t, err)
			golden(t, filepath.Join("testdata/edit", tc.name+".golden.yaml"), out)

			// The result is valid YAML whose entries say what the edits asked for.
			kf, err := parseKustomizationFile(out)
			require.NoError(t, err)
			for _, ed := range tc.edits {
				e, ok := kf.entryFor(ed.repo)
				require.True(t, ok, ed.repo)
				require.Equal(t, ed.tag, e.newTag, ed.repo)
				require.Equal(t, ed.digest, e.digest, ed.repo)
				for i := 0; i+1 < len(e.node.Content); i += 2 {
					if e.node.Content[i].Value == "newTag" {
						require.False(t, kyaml.IsYaml1_1NonString(e.node.Content[i+1]) && e.node.Content[i+1].Style == 0,
							"newTag %q must read back as a string", ed.tag)
					}
				}
			}

			// Idempotent: the same edits change nothing the second time.
			again, err := applyImageEdits(out, tc.edits)
			require.NoError(t, err)
			require.Equal(t, string(out), string(again))
		})
	}
}

func TestApplyImageEditsRejectsNonMapping(t *testing.T) {
	_, err := applyImageEdits([]byte("- a\n- b\n"), []imageEdit{{repo: myApp, tag: "1"}})
	require.ErrorContains(t, err, "not a mapping")
	_, err = applyImageEdits([]byte("images: foo\n"), []imageEdit{{repo: myApp, tag: "1"}})
	require.ErrorContains(t, err, "images: is not a list")
}

// Found by FuzzApplyImageEdits: appending images: after the last line of a file whose
// text then reads differently (" ?" opens an explicit key that takes the appended
// lines) must not produce a file without the entry; the edit goes through kyaml's
// tree instead, and the result holds the entry at the top level.
func TestApplyImageEditsVerifiesTheSplice(t *testing.T) {
	ed := imageEdit{repo: "0", tag: "0"}
	out, err := applyImageEdits([]byte(" ?"), []imageEdit{ed})
	require.NoError(t, err)
	kf, err := parseKustomizationFile(out)
	require.NoError(t, err)
	e, ok := kf.entryFor("0")
	require.True(t, ok, "%s", out)
	require.Equal(t, "0", e.newTag)
}
