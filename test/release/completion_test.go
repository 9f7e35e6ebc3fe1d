//go:build release

package release

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// fakeFlux is an API server that answers metadata lists of Kustomizations, as the
// completion functions ask, and records the User-Agent of each such request. (Other
// requests may come from kubectl itself: a kubectl dispatcher asks /version of the
// current context to pick its kubectl.)
type fakeFlux struct {
	kustomizations []string // NAMESPACE/NAME

	mu         sync.Mutex
	userAgents []string
}

func (f *fakeFlux) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	const prefix = "/apis/kustomize.toolkit.fluxcd.io/v1/"
	rest, ok := strings.CutPrefix(r.URL.Path, prefix)
	if !ok || r.Method != http.MethodGet {
		http.NotFound(w, r)
		return
	}
	f.mu.Lock()
	f.userAgents = append(f.userAgents, r.UserAgent())
	f.mu.Unlock()
	namespace := ""
	if ns, ok := strings.CutPrefix(rest, "namespaces/"); ok {
		namespace, rest, _ = strings.Cut(ns, "/")
	}
	if rest != "kustomizations" {
		http.NotFound(w, r)
		return
	}
	var items []string
	for _, k := range f.kustomizations {
		ns, name, _ := strings.Cut(k, "/")
		if namespace == "" || namespace == ns {
			items = append(items, fmt.Sprintf(`{"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1","metadata":{"name":%q,"namespace":%q}}`, name, ns))
		}
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"kind":"PartialObjectMetadataList","apiVersion":"meta.k8s.io/v1","metadata":{},"items":[%s]}`, strings.Join(items, ","))
}

func (f *fakeFlux) agents() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.userAgents)
}

// TestCompletion drives `kubectl __complete promote ...` through the real kubectl, which
// finds kubectl_complete-promote on PATH, which runs the plugin installed by krew. The
// kubeconfig has two contexts, each a fake API server on the loopback address.
func TestCompletion(t *testing.T) {
	kubectl := lookKubectl(t)
	s := snapshot(t)
	root := krewInstalled(t)

	staging := &fakeFlux{kustomizations: []string{"flux-system/apps", "flux-system/infra"}}
	production := &fakeFlux{kustomizations: []string{"flux-system/apps", "team-a/web"}}
	stagingURL := httptest.NewServer(staging)
	defer stagingURL.Close()
	productionURL := httptest.NewServer(production)
	defer productionURL.Close()

	home := t.TempDir()
	kubeconfig := filepath.Join(home, "kubeconfig")
	writeFile(t, kubeconfig, fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: staging
  cluster: {server: %q}
- name: production
  cluster: {server: %q}
users:
- name: ci
  user: {token: not-a-secret}
contexts:
- name: staging
  context: {cluster: staging, user: ci}
- name: production
  context: {cluster: production, user: ci}
current-context: staging
`, stagingURL.URL, productionURL.URL), 0o600)

	// The completion script comes from the archive krew unpacked, linked onto PATH the
	// way the manifest's caveats tell users to provide it.
	scripts, err := filepath.Glob(filepath.Join(root, "store", "promote", "*", "kubectl_complete-promote"))
	if err != nil || len(scripts) != 1 {
		t.Fatalf("krew did not install kubectl_complete-promote from the archive: %v %v", scripts, err)
	}
	bin := t.TempDir()
	if err := os.Symlink(scripts[0], filepath.Join(bin, "kubectl_complete-promote")); err != nil {
		t.Fatal(err)
	}
	env := []string{
		"PATH=" + pathWith(kubectl, filepath.Join(root, "bin"), bin),
		"HOME=" + home,
		"KUBECONFIG=" + kubeconfig,
	}

	for _, tc := range []struct {
		name      string
		args      []string
		want      []string // exactly these candidates, in order
		contains  []string // at least these
		directive string
	}{
		{name: "subcommands", args: []string{"promote", ""}, contains: []string{"version"}},
		{name: "--from contexts", args: []string{"promote", "--from", ""}, want: []string{"production", "staging"}, directive: ":4"},
		{name: "--to prefix", args: []string{"promote", "--to", "pro"}, want: []string{"production"}, directive: ":4"},
		{name: "--from CONTEXT/ lists Kustomizations of that cluster", args: []string{"promote", "--from", "staging/"},
			want: []string{"staging/flux-system/apps", "staging/flux-system/infra"}, directive: ":4"},
		{name: "--to CONTEXT/NAMESPACE/", args: []string{"promote", "--to", "production/team-a/"},
			want: []string{"production/team-a/web"}, directive: ":4"},
		// cli-runtime's printers, as kubectl's own -o completes.
		{name: "version -o", args: []string{"promote", "version", "-o", ""}, want: []string{"json", "yaml", "kyaml", "name", "go-template", "go-template-file", "template", "templatefile", "jsonpath", "jsonpath-as-json", "jsonpath-file"}, directive: ":4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"__complete"}, tc.args...)
			stdout, stderr, err := kubectlRun(t, kubectl, env, args...)
			if err != nil {
				t.Fatalf("kubectl %s: %v\n%s%s", strings.Join(args, " "), err, stdout, stderr)
			}
			candidates, directive := parseCompletion(stdout)
			if tc.want != nil && !slices.Equal(candidates, tc.want) {
				t.Errorf("kubectl %q: candidates %q, want %q\nstderr: %s", args, candidates, tc.want, stderr)
			}
			for _, c := range tc.contains {
				if !slices.Contains(candidates, c) {
					t.Errorf("kubectl %q: candidates %q lack %q\nstderr: %s", args, candidates, c, stderr)
				}
			}
			if tc.directive != "" && directive != tc.directive {
				t.Errorf("kubectl %q: directive %s, want %s (no file completion)", args, directive, tc.directive)
			}
		})
	}

	for name, f := range map[string]*fakeFlux{"staging": staging, "production": production} {
		agents := f.agents()
		if len(agents) == 0 {
			t.Errorf("%s's API server got no list of Kustomizations", name)
		}
		for _, ua := range agents {
			if want := "kubectl-promote/" + s.version; ua != want {
				t.Errorf("%s's API server got User-Agent %q, want %q", name, ua, want)
			}
		}
	}
}

// parseCompletion splits cobra's __complete output into candidate values (without
// descriptions) and the directive line.
func parseCompletion(out string) (candidates []string, directive string) {
	for line := range strings.SplitSeq(strings.TrimRight(out, "\n"), "\n") {
		if strings.HasPrefix(line, ":") {
			directive = line
			continue
		}
		if line == "" {
			continue
		}
		value, _, _ := strings.Cut(line, "\t")
		candidates = append(candidates, value)
	}
	return candidates, directive
}

func writeFile(t *testing.T, path, content string, perm os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), perm); err != nil {
		t.Fatal(err)
	}
}
