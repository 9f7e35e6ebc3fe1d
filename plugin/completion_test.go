package plugin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/cli-runtime/pkg/genericclioptions"

	"github.com/kubectl-promote/kubectl-promote/pkg/version"
)

// fakeLister returns Kustomizations per context and records what was asked.
type fakeLister struct {
	byContext map[string][]objectRef
	err       error
	calls     []string // CONTEXT NAMESPACE
}

func (f *fakeLister) list(_ context.Context, kubeContext, namespace string) ([]objectRef, error) {
	f.calls = append(f.calls, kubeContext+" "+namespace)
	if f.err != nil {
		return nil, f.err
	}
	var out []objectRef
	for _, r := range f.byContext[kubeContext] {
		if namespace == "" || r.Namespace == namespace {
			out = append(out, r)
		}
	}
	return out, nil
}

func TestEnvRefCandidates(t *testing.T) {
	contexts := []string{"staging", "production", "prod-eu", "arn:aws:eks:eu-west-1:1:cluster/blue"}
	lister := func() *fakeLister {
		return &fakeLister{byContext: map[string][]objectRef{
			"staging":                              {{"flux-system", "apps"}, {"flux-system", "infra"}, {"team-a", "web"}},
			"production":                           {{"flux-system", "apps"}},
			"arn:aws:eks:eu-west-1:1:cluster/blue": {{"flux-system", "apps"}},
		}}
	}
	for _, tc := range []struct {
		toComplete string
		want       []string
		calls      []string
	}{
		// Bare words complete contexts and ask no cluster.
		{"", []string{"arn:aws:eks:eu-west-1:1:cluster/blue", "prod-eu", "production", "staging"}, nil},
		{"prod", []string{"prod-eu", "production"}, nil},
		{"nope", []string{}, nil},
		// CONTEXT/ lists that cluster's Kustomizations in all namespaces.
		{"staging/", []string{"staging/flux-system/apps", "staging/flux-system/infra", "staging/team-a/web"}, []string{"staging "}},
		{"staging/fl", []string{"staging/flux-system/apps", "staging/flux-system/infra"}, []string{"staging "}},
		// CONTEXT/NAMESPACE/ lists one namespace.
		{"staging/team-a/", []string{"staging/team-a/web"}, []string{"staging team-a"}},
		{"staging/flux-system/i", []string{"staging/flux-system/infra"}, []string{"staging flux-system"}},
		// A context holding "/" is matched whole, the longest first.
		{"arn:aws:eks:eu-west-1:1:cluster/blue/", []string{"arn:aws:eks:eu-west-1:1:cluster/blue/flux-system/apps"}, []string{"arn:aws:eks:eu-west-1:1:cluster/blue "}},
		{"arn:aws:eks:eu-west-1:1:cluster/", []string{"arn:aws:eks:eu-west-1:1:cluster/blue"}, nil},
		// NAMESPACE/ that is no context: that namespace of the current context.
		{"team-a/", []string{"team-a/web"}, []string{"staging team-a"}},
	} {
		t.Run(tc.toComplete, func(t *testing.T) {
			l := lister()
			got := envRefCandidates(context.Background(), contexts, "staging", l.list, tc.toComplete)
			assert.Equal(t, tc.want, got)
			assert.Equal(t, tc.calls, l.calls)
		})
	}
}

func TestEnvRefCandidatesForbiddenAcrossNamespaces(t *testing.T) {
	l := &fakeLister{byContext: map[string][]objectRef{"staging": {{"flux-system", "apps"}, {"team-a", "web"}}}}
	list := func(ctx context.Context, kubeContext, namespace string) ([]objectRef, error) {
		if namespace == "" {
			l.calls = append(l.calls, kubeContext+" ")
			return nil, errors.New(`kustomizations.kustomize.toolkit.fluxcd.io is forbidden: cannot list resource "kustomizations" at the cluster scope`)
		}
		return l.list(ctx, kubeContext, namespace)
	}
	got := envRefCandidates(context.Background(), []string{"staging"}, "staging", list, "staging/")
	assert.Equal(t, []string{"staging/flux-system/apps"}, got)
	assert.Equal(t, []string{"staging ", "staging flux-system"}, l.calls)
}

func TestEnvRefCandidatesListError(t *testing.T) {
	l := &fakeLister{err: errors.New("connection refused")}
	got := envRefCandidates(context.Background(), []string{"staging", "staging-old"}, "staging", l.list, "staging/")
	assert.Empty(t, got, "an unreachable cluster gives no candidates, not an error")
}

// fakeAPIServer serves metadata lists of Kustomizations and records User-Agents.
type fakeAPIServer struct {
	items map[string][]string // namespace -> names

	mu     sync.Mutex
	agents []string
	paths  []string
}

func (f *fakeAPIServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.agents = append(f.agents, r.UserAgent())
	f.paths = append(f.paths, r.URL.Path)
	f.mu.Unlock()
	rest, ok := strings.CutPrefix(r.URL.Path, "/apis/kustomize.toolkit.fluxcd.io/v1/")
	if !ok {
		http.NotFound(w, r)
		return
	}
	var namespaces []string
	if ns, ok := strings.CutPrefix(rest, "namespaces/"); ok {
		ns, _, _ = strings.Cut(ns, "/")
		namespaces = []string{ns}
	} else {
		for ns := range f.items {
			namespaces = append(namespaces, ns)
		}
	}
	var items []string
	for _, ns := range namespaces {
		for _, name := range f.items[ns] {
			items = append(items, fmt.Sprintf(`{"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1","metadata":{"name":%q,"namespace":%q}}`, name, ns))
		}
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"kind":"PartialObjectMetadataList","apiVersion":"meta.k8s.io/v1","metadata":{},"items":[%s]}`, strings.Join(items, ","))
}

// testKubeconfig writes a kubeconfig with a context per server, "staging" current.
func testKubeconfig(t *testing.T, servers map[string]string) string {
	t.Helper()
	var clusters, contexts strings.Builder
	for name, url := range servers {
		fmt.Fprintf(&clusters, "- name: %s\n  cluster: {server: %q}\n", name, url)
		fmt.Fprintf(&contexts, "- name: %s\n  context: {cluster: %s, user: u}\n", name, name)
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	cfg := "apiVersion: v1\nkind: Config\nclusters:\n" + clusters.String() +
		"users:\n- name: u\n  user: {token: t}\ncontexts:\n" + contexts.String() + "current-context: staging\n"
	require.NoError(t, os.WriteFile(path, []byte(cfg), 0o600))
	return path
}

func TestCompleteContextsAgainstAPIServers(t *testing.T) {
	staging := &fakeAPIServer{items: map[string][]string{"flux-system": {"apps", "infra"}}}
	production := &fakeAPIServer{items: map[string][]string{"flux-system": {"apps"}, "team-a": {"web"}}}
	s1, s2 := httptest.NewServer(staging), httptest.NewServer(production)
	defer s1.Close()
	defer s2.Close()
	kubeconfig := testKubeconfig(t, map[string]string{"staging": s1.URL, "production": s2.URL})

	flags := genericclioptions.NewConfigFlags(false)
	flags.KubeConfig = &kubeconfig
	complete := CompleteContexts(flags)
	cmd := &cobra.Command{}

	got, directive := complete(cmd, nil, "")
	assert.Equal(t, []string{"production", "staging"}, got)
	assert.Equal(t, cobra.ShellCompDirectiveNoFileComp, directive)

	got, _ = complete(cmd, nil, "production/")
	assert.Equal(t, []string{"production/flux-system/apps", "production/team-a/web"}, got)
	got, _ = complete(cmd, nil, "staging/flux-system/")
	assert.Equal(t, []string{"staging/flux-system/apps", "staging/flux-system/infra"}, got)
	// NAMESPACE/ in the current context, staging.
	got, _ = complete(cmd, nil, "flux-system/")
	assert.Equal(t, []string{"flux-system/apps", "flux-system/infra"}, got)

	assert.Equal(t, []string{"/apis/kustomize.toolkit.fluxcd.io/v1/kustomizations"}, production.paths, "CONTEXT/ lists all namespaces")
	for _, ua := range append(staging.agents, production.agents...) {
		assert.Equal(t, version.UserAgent(), ua)
	}
}

func TestCompleteKustomizations(t *testing.T) {
	staging := &fakeAPIServer{items: map[string][]string{"flux-system": {"apps", "infra"}, "team-a": {"web"}}}
	production := &fakeAPIServer{items: map[string][]string{"flux-system": {"prod-only"}}}
	s1, s2 := httptest.NewServer(staging), httptest.NewServer(production)
	defer s1.Close()
	defer s2.Close()
	kubeconfig := testKubeconfig(t, map[string]string{"staging": s1.URL, "production": s2.URL})

	newCmd := func() (*cobra.Command, *genericclioptions.ConfigFlags) {
		flags := genericclioptions.NewConfigFlags(false)
		flags.KubeConfig = &kubeconfig
		cmd := &cobra.Command{}
		cmd.Flags().String("from", "", "")
		flags.AddFlags(cmd.Flags())
		return cmd, flags
	}

	// flux-system of the current context by default.
	cmd, flags := newCmd()
	got, directive := CompleteKustomizations(flags, "from")(cmd, nil, "")
	assert.Equal(t, []string{"apps", "infra"}, got)
	assert.Equal(t, cobra.ShellCompDirectiveNoFileComp, directive)

	// -n and a prefix.
	cmd, flags = newCmd()
	require.NoError(t, cmd.Flags().Set("namespace", "team-a"))
	got, _ = CompleteKustomizations(flags, "from")(cmd, nil, "w")
	assert.Equal(t, []string{"web"}, got)

	// --from names the context.
	cmd, flags = newCmd()
	require.NoError(t, cmd.Flags().Set("from", "production"))
	got, _ = CompleteKustomizations(flags, "from")(cmd, nil, "")
	assert.Equal(t, []string{"prod-only"}, got)

	// --context when --from is a full reference.
	cmd, flags = newCmd()
	require.NoError(t, cmd.Flags().Set("from", "staging/flux-system/apps"))
	require.NoError(t, cmd.Flags().Set("context", "production"))
	got, _ = CompleteKustomizations(flags, "from")(cmd, nil, "")
	assert.Equal(t, []string{"prod-only"}, got)
}

func TestCompleteKustomizationsUnreachable(t *testing.T) {
	s := httptest.NewServer(http.NotFoundHandler())
	url := s.URL
	s.Close() // nothing listens there any more
	kubeconfig := testKubeconfig(t, map[string]string{"staging": url})
	flags := genericclioptions.NewConfigFlags(false)
	flags.KubeConfig = &kubeconfig
	got, directive := CompleteKustomizations(flags, "")(&cobra.Command{}, nil, "")
	assert.Empty(t, got)
	assert.Equal(t, cobra.ShellCompDirectiveNoFileComp, directive)
}

func TestCompleteOutputAndColor(t *testing.T) {
	out := newOutputFlags()
	got, directive := out.completeOutput(nil, nil, "")
	assert.Equal(t, out.PrintFlags.AllowedFormats(), got)
	assert.Subset(t, got, []string{"json", "yaml", "name", "jsonpath", "jsonpath-as-json", "go-template", "go-template-file", "jsonpath-file"})
	assert.Equal(t, cobra.ShellCompDirectiveNoFileComp, directive)
	got, _ = out.completeOutput(nil, nil, "jsonpath")
	assert.Equal(t, []string{"jsonpath", "jsonpath-as-json", "jsonpath-file"}, got)

	got, _ = CompleteColor(nil, nil, "a")
	assert.Len(t, got, 2) // auto, always
	got, _ = CompleteColor(nil, nil, "n")
	assert.Equal(t, []string{"never\tNever color"}, got)
}

func TestCompleteApps(t *testing.T) {
	complete := CompleteApps(func(*cobra.Command, []string) ([]string, error) {
		return []string{"web", "api", "worker", "web"}, nil
	})
	got, directive := complete(&cobra.Command{}, nil, "w")
	assert.Equal(t, []string{"web", "worker"}, got)
	assert.Equal(t, cobra.ShellCompDirectiveNoFileComp, directive)

	failing := CompleteApps(func(*cobra.Command, []string) ([]string, error) { return nil, errors.New("no repo") })
	got, _ = failing(&cobra.Command{}, nil, "")
	assert.Empty(t, got)
}
