package plugin

import (
	"bytes"
	"fmt"
	"github.com/kubectl-promote/kubectl-promote/pkg/promote"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-promote/kubectl-promote/pkg/flux"
)

func TestMistypedSubcommandSuggestsTheRightOne(t *testing.T) {
	for typed, want := range map[string]string{"stauts": "status", "histroy": "history", "rollbak": "rollback", "verison": "version"} {
		t.Run(typed, func(t *testing.T) {
			stdout, stderr, code := run(t, typed)
			require.Equal(t, promote.ExitError, code)
			require.Equal(t, fmt.Sprintf("error: unknown command %q for \"kubectl promote\"; did you mean %q?\n", typed, want), stderr)
			require.Empty(t, stdout)
		})
	}
	// Also when more words follow, which promote would not take anyway.
	_, stderr, _ := run(t, "stauts", "production")
	require.Contains(t, stderr, `did you mean "status"?`)

	// With --from and --to it is a Kustomization's name: promote tries it.
	_, stderr, code := run(t, "stauts", "--from", "staging", "--to", "production", "--dry-run", "--request-timeout", "1s")
	require.Equal(t, promote.ExitError, code)
	require.NotContains(t, stderr, "unknown command")
	require.Contains(t, stderr, "source staging")

	// A word like no subcommand is still a Kustomization missing --from and --to.
	_, stderr, _ = run(t, "apps")
	require.Contains(t, stderr, "both --from and --to are required")
}

// subcommands are the names a Kustomization cannot have as a bare KUSTOMIZATION.
var subcommands = []string{"status", "history", "rollback", "version", "help", "completion"}

func TestKustomizationNamedLikeSubcommandThroughNamespaceName(t *testing.T) {
	kubeconfig := kubeconfig(t)
	for _, name := range subcommands {
		t.Run(name, func(t *testing.T) {
			args := []string{"flux-system/" + name, "--from", "staging", "--to", "production"}
			root := newHelpRoot()
			cmd, rest, err := root.Find(args)
			require.NoError(t, err)
			require.Same(t, root, cmd, "flux-system/%s reaches promote, not a subcommand", name)
			require.NoError(t, cmd.ParseFlags(rest))

			streams, _, _, _ := genericiooptions.NewTestIOStreams()
			flags := genericclioptions.NewConfigFlags(true)
			flags.KubeConfig = &kubeconfig
			o := NewPromoteOptions(streams, flags)
			o.From, o.To = "staging", "production"
			require.NoError(t, o.validArgs(cmd, cmd.Flags().Args()))
			require.NoError(t, o.Complete(cmd, cmd.Flags().Args()))
			assert.Equal(t, flux.Ref{Context: "staging", Namespace: "flux-system", Name: name}, o.opts.From.Ref)
			assert.Equal(t, flux.Ref{Context: "production", Namespace: "flux-system", Name: name}, o.opts.To.Ref)
		})
	}
}

func TestKustomizationNamedLikeSubcommandErrorSaysHow(t *testing.T) {
	for _, name := range subcommands {
		t.Run(name, func(t *testing.T) {
			_, stderr, code := run(t, name, "--from", "staging", "--to", "production")
			require.Equal(t, promote.ExitError, code)
			require.Contains(t, stderr, fmt.Sprintf(`unknown flag: --from for "kubectl promote %s": to promote a Kustomization named %q, give it as NAMESPACE/NAME, e.g. "kubectl promote flux-system/%s --from ... --to ..."`, name, name, name))
		})
	}
	// -n is the namespace of the example.
	_, stderr, _ := run(t, "-n", "team-a", "status", "--from", "staging", "--to", "production")
	require.Contains(t, stderr, `"kubectl promote team-a/status --from ... --to ..."`)
	// A subcommand's own unknown flags are left alone.
	_, stderr, _ = run(t, "status", "--nope")
	require.Equal(t, "error: unknown flag: --nope\n", stderr)
}

func TestKustomizationNamespaceNameFlag(t *testing.T) {
	kubeconfig := kubeconfig(t)
	flags := genericclioptions.NewConfigFlags(true)
	flags.KubeConfig = &kubeconfig
	refs, err := newRefParser(flags)
	require.NoError(t, err)
	spec, err := refs.parse("production", "team-a/web")
	require.NoError(t, err)
	assert.Equal(t, flux.Ref{Context: "production", Namespace: "team-a", Name: "web"}, spec.Ref)
	spec, err = refs.parse("production", "web")
	require.NoError(t, err)
	assert.Equal(t, flux.Ref{Context: "production", Namespace: "flux-system", Name: "web"}, spec.Ref)
	_, err = refs.parse("production", "a/b/c")
	require.EqualError(t, err, `Kustomization "a/b/c": use NAME or NAMESPACE/NAME`)
	ns := "other"
	flags.Namespace = &ns
	refs, err = newRefParser(flags)
	require.NoError(t, err)
	_, err = refs.parse("production", "team-a/web")
	require.EqualError(t, err, `Kustomization "team-a/web" is in namespace "team-a" but -n says "other": give one of them`)
}

func TestRollbackToIsDeprecatedForToRevision(t *testing.T) {
	streams, _, _, _ := genericiooptions.NewTestIOStreams()
	cmd := NewCmdRollback(streams, genericclioptions.NewConfigFlags(true))
	to := cmd.Flags().Lookup("to")
	require.NotNil(t, to)
	assert.True(t, to.Hidden, "--to is hidden from help")
	assert.Equal(t, "use --to-revision instead", to.Deprecated)
	require.NoError(t, cmd.Flags().Set("to", "3f2a9c1"))
	assert.Equal(t, "3f2a9c1", cmd.Flags().Lookup("to-revision").Value.String(), "--to sets what --to-revision sets")

	// Through the command line: cobra prints the deprecation warning, then the command runs.
	var warnings bytes.Buffer
	root := NewCmdPromote(genericiooptions.IOStreams{In: strings.NewReader(""), Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}})
	root.SetOut(&warnings)
	root.SetArgs([]string{"rollback", "production", "--to", "3f2a9c1", "--dry-run", "--request-timeout", "1s", "--kubeconfig", kubeconfig(t)})
	err := root.Execute()
	require.Error(t, err, "the cluster is unreachable")
	assert.Equal(t, "Flag --to has been deprecated, use --to-revision instead\n", warnings.String())

	_, stderr, code := run(t, "rollback", "production", "--to", "a", "--to-revision", "b")
	require.Equal(t, promote.ExitError, code)
	require.Contains(t, stderr, "--to is the old name of --to-revision: give only --to-revision")
}

// fluxAPIServer is the part of an API server that reading Kustomizations needs:
// discovery of kustomize.toolkit.fluxcd.io/v1 and lists of Kustomizations.
type fluxAPIServer struct {
	kustomizations map[string][]string // namespace -> names
}

func (f *fluxAPIServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	switch p := r.URL.Path; {
	case p == "/api":
		fmt.Fprint(w, `{"kind":"APIVersions","versions":["v1"]}`)
	case p == "/apis":
		fmt.Fprint(w, `{"kind":"APIGroupList","apiVersion":"v1","groups":[{"name":"kustomize.toolkit.fluxcd.io","versions":[{"groupVersion":"kustomize.toolkit.fluxcd.io/v1","version":"v1"}],"preferredVersion":{"groupVersion":"kustomize.toolkit.fluxcd.io/v1","version":"v1"}}]}`)
	case p == "/apis/kustomize.toolkit.fluxcd.io/v1":
		fmt.Fprint(w, `{"kind":"APIResourceList","apiVersion":"v1","groupVersion":"kustomize.toolkit.fluxcd.io/v1","resources":[{"name":"kustomizations","singularName":"kustomization","namespaced":true,"kind":"Kustomization","verbs":["get","list","watch","patch"]}]}`)
	case strings.HasPrefix(p, "/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/") && strings.HasSuffix(p, "/kustomizations"):
		ns := strings.Split(p, "/")[5]
		var items []string
		for _, name := range f.kustomizations[ns] {
			items = append(items, fmt.Sprintf(`{"apiVersion":"kustomize.toolkit.fluxcd.io/v1","kind":"Kustomization","metadata":{"name":%q,"namespace":%q},"spec":{"interval":"1m","prune":true,"sourceRef":{"kind":"GitRepository","name":"flux-system"}}}`, name, ns))
		}
		fmt.Fprintf(w, `{"apiVersion":"kustomize.toolkit.fluxcd.io/v1","kind":"KustomizationList","metadata":{},"items":[%s]}`, strings.Join(items, ","))
	default:
		http.NotFound(w, r)
	}
}

// Issue 13, defect 9: status without arguments in a context with several
// Kustomizations is one clear error in status's own syntax, not an empty row.
func TestStatusInContextWithSeveralKustomizations(t *testing.T) {
	s := httptest.NewServer(&fluxAPIServer{kustomizations: map[string][]string{"flux-system": {"infra", "apps"}}})
	defer s.Close()
	kubeconfig := testKubeconfig(t, map[string]string{"staging": s.URL})
	for _, args := range [][]string{{"status"}, {"status", "staging"}, {"status", "-o", "json"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := Main(genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}, append(args, "--kubeconfig", kubeconfig))
			require.Equal(t, promote.ExitError, code)
			require.Empty(t, out.String(), "no table, no document")
			require.Equal(t, `error: context "staging" has 2 Kustomizations in namespace "flux-system" (apps, infra): name one, e.g. "kubectl promote status staging --kustomization apps"`+"\n", errOut.String())
		})
	}
	var out, errOut bytes.Buffer
	code := Main(genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}, []string{"history", "staging", "--kubeconfig", kubeconfig})
	require.Equal(t, promote.ExitError, code)
	require.Contains(t, errOut.String(), `name one, e.g. "kubectl promote history staging --kustomization apps"`)
}

func TestNamingHintLeavesOtherErrors(t *testing.T) {
	err := fmt.Errorf("other")
	require.Same(t, err, namingHint(err, "kubectl promote status CONTEXT --kustomization NAME"))
	require.NoError(t, namingHint(nil, ""))
}

func TestMissingKubeconfigIsNamed(t *testing.T) {
	gone := filepath.Join(t.TempDir(), "gone")
	flags := genericclioptions.NewConfigFlags(true)
	flags.KubeConfig = &gone
	_, err := newRefParser(flags)
	require.EqualError(t, err, fmt.Sprintf("--kubeconfig: kubeconfig file %q does not exist", gone))

	t.Setenv("KUBECONFIG", gone)
	_, err = newRefParser(genericclioptions.NewConfigFlags(true))
	require.EqualError(t, err, fmt.Sprintf("KUBECONFIG: kubeconfig file %q does not exist", gone))
	t.Setenv("KUBECONFIG", gone+string(filepath.ListSeparator)+gone+"2")
	_, err = newRefParser(genericclioptions.NewConfigFlags(true))
	require.ErrorContains(t, err, "KUBECONFIG: none of the kubeconfig files")
	// As in kubectl, missing entries of KUBECONFIG are skipped when one exists.
	t.Setenv("KUBECONFIG", gone+string(filepath.ListSeparator)+kubeconfig(t))
	refs, err := newRefParser(genericclioptions.NewConfigFlags(true))
	require.NoError(t, err)
	_, err = refs.parse("production", "apps")
	require.NoError(t, err)
}
