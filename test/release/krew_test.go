//go:build release

package release

import (
	"encoding/json"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"sigs.k8s.io/yaml"
)

// krewManifest is the part of krew's Plugin manifest the checks compare.
type krewManifest struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		Version          string `json:"version"`
		Homepage         string `json:"homepage"`
		ShortDescription string `json:"shortDescription"`
		Description      string `json:"description"`
		Caveats          string `json:"caveats"`
		Platforms        []struct {
			Selector struct {
				MatchLabels map[string]string `json:"matchLabels"`
			} `json:"selector"`
			URI    string `json:"uri"`
			Sha256 string `json:"sha256"`
			Bin    string `json:"bin"`
			Files  []struct {
				From string `json:"from"`
				To   string `json:"to"`
			} `json:"files"`
		} `json:"platforms"`
	} `json:"spec"`
}

func readKrewManifest(t *testing.T, path string) krewManifest {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m krewManifest
	if err := yaml.UnmarshalStrict(b, &m); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return m
}

// addURIAndSha is krew-release-bot's template call that krew/promote.yaml uses for
// each platform's uri and sha256.
var addURIAndSha = regexp.MustCompile(`(?m)^(\s*)\{\{\s*addURIAndSha\s+"([^"]+)"\s+\.TagName\s*\}\}\s*$`)

var tagName = regexp.MustCompile(`\{\{\s*\.TagName\s*\}\}`)

// fillRepoManifest renders krew/promote.yaml for the snapshot as krew-release-bot
// renders it for a release: the tag for {{ .TagName }}, and each archive's uri and the
// sha256 from the snapshot's checksums.txt. It fails on an archive the snapshot lacks.
func fillRepoManifest(t *testing.T, s snapshotResult) string {
	t.Helper()
	tmpl, err := os.ReadFile(filepath.Join(repoRoot, "krew", "promote.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	sums := checksums(t, s.dist)
	var missing []string
	filled := addURIAndSha.ReplaceAllStringFunc(string(tmpl), func(line string) string {
		m := addURIAndSha.FindStringSubmatch(line)
		indent, uri := m[1], tagName.ReplaceAllString(m[2], s.version)
		sum, ok := sums[path.Base(uri)]
		if !ok {
			missing = append(missing, path.Base(uri))
		}
		return fmt.Sprintf("%suri: %s\n%ssha256: %s", indent, uri, indent, sum)
	})
	if len(missing) > 0 {
		t.Fatalf("krew/promote.yaml names archives the snapshot does not have: %v (checksums.txt has %v)", missing, keys(sums))
	}
	filled = tagName.ReplaceAllString(filled, s.version)
	if strings.Contains(filled, "{{") {
		t.Fatalf("krew/promote.yaml holds template calls other than addURIAndSha and .TagName:\n%s", filled)
	}
	// krew wants the file named after the plugin.
	out := filepath.Join(scratch, "repo-manifest", "promote.yaml")
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(out, []byte(filled), 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

var (
	repoManifestOnce sync.Once
	repoManifestPath string
)

// manifests returns the generated manifest and the repo's, filled in for the snapshot.
func manifests(t *testing.T) (generated, repo string) {
	t.Helper()
	s := snapshot(t)
	repoManifestOnce.Do(func() { repoManifestPath = fillRepoManifest(t, s) })
	if repoManifestPath == "" {
		t.Fatal("krew/promote.yaml could not be filled in (see the first failure)")
	}
	return filepath.Join(s.dist, "krew", "promote.yaml"), repoManifestPath
}

// TestValidateKrewManifest: krew's own validator accepts both manifests, and the one
// in the repo says what goreleaser's says, platform by platform.
func TestValidateKrewManifest(t *testing.T) {
	tl := releaseTools(t)
	generated, repo := manifests(t)
	for name, m := range map[string]string{"generated": generated, "repo": repo} {
		t.Run(name, func(t *testing.T) {
			out, err := run(t.TempDir(), nil, tl.validateKrewManifest, "-skip-install", "-manifest", m)
			if err != nil {
				t.Fatalf("validate-krew-manifest -skip-install -manifest %s: %v\n%s", m, err, out)
			}
			t.Logf("validate-krew-manifest %s:\n%s", name, out)
		})
	}
	t.Run("repo matches generated", func(t *testing.T) {
		g, r := readKrewManifest(t, generated), readKrewManifest(t, repo)
		for _, f := range []struct{ name, g, r string }{
			{"metadata.name", g.Metadata.Name, r.Metadata.Name},
			{"spec.version", g.Spec.Version, r.Spec.Version},
			{"spec.homepage", g.Spec.Homepage, r.Spec.Homepage},
			{"spec.shortDescription", g.Spec.ShortDescription, r.Spec.ShortDescription},
			{"spec.description", g.Spec.Description, r.Spec.Description},
			{"spec.caveats", g.Spec.Caveats, r.Spec.Caveats},
		} {
			if f.g != f.r {
				t.Errorf("%s differs between .goreleaser.yaml's krews: and krew/promote.yaml:\ngoreleaser: %q\nrepo:       %q", f.name, f.g, f.r)
			}
		}
		type entry struct{ uri, sha256, bin string }
		platformsOf := func(m krewManifest) map[string]entry {
			out := map[string]entry{}
			for _, p := range m.Spec.Platforms {
				out[p.Selector.MatchLabels["os"]+"/"+p.Selector.MatchLabels["arch"]] = entry{p.URI, p.Sha256, p.Bin}
			}
			return out
		}
		gp, rp := platformsOf(g), platformsOf(r)
		for _, p := range platforms {
			key := p.os + "/" + p.arch
			if gp[key] != rp[key] {
				t.Errorf("platform %s: goreleaser has %+v, krew/promote.yaml has %+v", key, gp[key], rp[key])
			}
		}
		if len(gp) != len(platforms) || len(rp) != len(platforms) {
			t.Errorf("want %d platforms; goreleaser has %d, krew/promote.yaml has %d", len(platforms), len(gp), len(rp))
		}
	})
}

var (
	krewOnce sync.Once
	krewRoot string
)

// krewInstalled installs the snapshot's archive for this machine with real krew, from
// the repo's manifest, into a KREW_ROOT of its own; the completion test uses it too.
func krewInstalled(t *testing.T) string {
	t.Helper()
	_, repo := manifests(t)
	krewOnce.Do(func() {
		root := filepath.Join(scratch, "krew-root")
		if krewInstall(t, repo, root) {
			krewRoot = root
		}
	})
	if krewRoot == "" {
		t.Fatal("krew install from krew/promote.yaml failed (see the first failure)")
	}
	return krewRoot
}

// krewInstall runs `krew install --manifest --archive` into root and reports success.
func krewInstall(t *testing.T, manifest, root string) bool {
	t.Helper()
	tl, s := releaseTools(t), snapshot(t)
	archive := filepath.Join(s.dist, thisPlatform.archiveName(s.version))
	cmd := []string{tl.krew, "install", "--manifest=" + manifest, "--archive=" + archive}
	out, err := run(t.TempDir(), []string{"KREW_ROOT=" + root, "KREW_NO_UPGRADE_CHECK=1", "HOME=" + scratch}, cmd[0], cmd[1:]...)
	if err != nil {
		t.Errorf("%s: %v\n%s", strings.Join(cmd, " "), err, out)
		return false
	}
	t.Logf("krew install:\n%s", out)
	return true
}

// TestKrewInstall: real krew installs the snapshot's archive from either manifest, and
// kubectl then finds the plugin, which prints the snapshot's version.
func TestKrewInstall(t *testing.T) {
	kubectl := lookKubectl(t)
	s := snapshot(t)
	generated, _ := manifests(t)
	roots := map[string]func(t *testing.T) string{
		"repo": krewInstalled,
		"generated": func(t *testing.T) string {
			root := t.TempDir()
			if !krewInstall(t, generated, root) {
				t.FailNow()
			}
			return root
		},
	}
	for name, install := range roots {
		t.Run(name, func(t *testing.T) {
			root := install(t)
			home := t.TempDir()
			env := []string{"PATH=" + pathWith(kubectl, filepath.Join(root, "bin")), "HOME=" + home, "KUBECONFIG=" + filepath.Join(home, "none")}

			stdout, stderr, err := kubectlRun(t, kubectl, env, "plugin", "list", "--name-only")
			if err != nil || !strings.Contains(stdout, "kubectl-promote") {
				t.Errorf("kubectl plugin list does not list kubectl-promote (err %v):\n%s%s", err, stdout, stderr)
			}

			stdout, stderr, err = kubectlRun(t, kubectl, env, "promote", "version")
			if err != nil {
				t.Fatalf("kubectl promote version: %v\n%s%s", err, stdout, stderr)
			}
			if want := "kubectl-promote " + s.version + " (commit "; !strings.HasPrefix(stdout, want) {
				t.Errorf("kubectl promote version printed %q, want it to start with %q", stdout, want)
			}
			t.Logf("kubectl promote version: %s", strings.TrimSpace(stdout))

			stdout, stderr, err = kubectlRun(t, kubectl, env, "promote", "version", "-o", "json")
			if err != nil {
				t.Fatalf("kubectl promote version -o json: %v\n%s%s", err, stdout, stderr)
			}
			var v struct{ Version, Commit, Date string }
			if err := json.Unmarshal([]byte(stdout), &v); err != nil {
				t.Fatalf("kubectl promote version -o json printed no JSON: %v\n%s", err, stdout)
			}
			if v.Version != s.version || len(v.Commit) != 40 || v.Date == "" {
				t.Errorf("kubectl promote version -o json = %+v, want version %s, a full commit and a date", v, s.version)
			}
		})
	}
}
