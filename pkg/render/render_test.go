package render

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	kustomizev1 "github.com/fluxcd/kustomize-controller/api/v1"
	"github.com/fluxcd/pkg/apis/kustomize"
	"github.com/pmezard/go-difflib/difflib"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-promote/kubectl-promote/internal/seed"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test ./pkg/render -update to create it")
	require.Equal(t, string(want), string(got))
}

func readKustomization(t *testing.T, path string) *kustomizev1.Kustomization {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	ks := &kustomizev1.Kustomization{}
	require.NoError(t, yaml.UnmarshalStrict(data, ks))
	return ks
}

func ks(path string, mutate ...func(*kustomizev1.Kustomization)) *kustomizev1.Kustomization {
	k := &kustomizev1.Kustomization{
		ObjectMeta: metav1.ObjectMeta{Name: "apps", Namespace: "flux-system"},
		Spec:       kustomizev1.KustomizationSpec{Path: path},
	}
	for _, m := range mutate {
		m(k)
	}
	return k
}

// treeDigest lists every file under dir with its content, to prove Render writes nothing.
func treeDigest(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	require.NoError(t, filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		require.NoError(t, err)
		rel, _ := filepath.Rel(dir, p)
		b.WriteString(rel + " " + info.Mode().String() + "\n")
		if info.Mode().IsRegular() {
			data, err := os.ReadFile(p)
			require.NoError(t, err)
			b.Write(data)
		}
		return nil
	}))
	return b.String()
}

func TestRenderSeed(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, seed.Write(dir, seed.Options{}))
	before := treeDigest(t, dir)
	for _, env := range []string{"staging", "production"} {
		t.Run(env, func(t *testing.T) {
			out, err := Render(context.Background(), Input{Dir: dir, Kustomization: readKustomization(t, filepath.Join(dir, "clusters", env, "apps.yaml"))})
			require.NoError(t, err)
			golden(t, "seed-"+env, out.YAML())
		})
	}
	require.Equal(t, before, treeDigest(t, dir), "Render must not modify the repository")
}

func TestRenderFluxSpec(t *testing.T) {
	k := ks("./flux-spec/overlay", func(k *kustomizev1.Kustomization) {
		k.Spec.TargetNamespace = "shop"
		k.Spec.NamePrefix = "eu-"
		k.Spec.NameSuffix = "-v2"
		k.Spec.Components = []string{"../components/tier", "../components/absent"}
		k.Spec.IgnoreMissingComponents = true
		// spec.images merges into the overlay's own entry for web and adds one for envoy.
		k.Spec.Images = []kustomize.Image{
			{Name: "ghcr.io/acme/web", Digest: "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"},
			{Name: "docker.io/envoyproxy/envoy", NewName: "mirror.acme.io/envoy", NewTag: "v1.30.1"},
		}
		k.Spec.Patches = []kustomize.Patch{{
			Patch:  "- op: add\n  path: /spec/replicas\n  value: 3\n",
			Target: &kustomize.Selector{Kind: "Deployment", Name: "web"},
		}}
	})
	dir, err := filepath.Abs("testdata/repos")
	require.NoError(t, err)
	out, err := Render(context.Background(), Input{Dir: dir, Kustomization: k})
	require.NoError(t, err)
	golden(t, "flux-spec", out.YAML())
	y := string(out.YAML())
	require.Contains(t, y, "name: eu-web-v2")
	require.Contains(t, y, "namespace: shop")
	require.Contains(t, y, "image: ghcr.io/acme/web@sha256:0123")
	require.Contains(t, y, "image: mirror.acme.io/envoy:v1.30.1")
	require.Contains(t, y, "replicas: 3")
	require.Contains(t, y, "example.com/tier: frontend")
	require.NoFileExists(t, filepath.Join(dir, "flux-spec/overlay/kustomization.yaml.original"))
}

func TestRenderPostBuild(t *testing.T) {
	const token = "s3cr3t-t0ken-value"
	scheme := runtime.NewScheme()
	require.NoError(t, corev1.AddToScheme(scheme))
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cluster-vars", Namespace: "flux-system"},
			Data: map[string]string{"REGION": "eu-west-1", "CLUSTER_NAME": "from-configmap"}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "cluster-secrets", Namespace: "flux-system"},
			Data: map[string][]byte{"API_TOKEN": []byte(token)}},
		// Same name, other namespace: must not be read.
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cluster-vars", Namespace: "default"},
			Data: map[string]string{"REGION": "wrong"}},
	).Build()
	k := ks("./postbuild/app", func(k *kustomizev1.Kustomization) {
		k.Spec.PostBuild = &kustomizev1.PostBuild{
			Substitute: map[string]string{"CLUSTER_NAME": "inline-wins"},
			SubstituteFrom: []kustomizev1.SubstituteReference{
				{Kind: "ConfigMap", Name: "cluster-vars"},
				{Kind: "Secret", Name: "cluster-secrets"},
				{Kind: "ConfigMap", Name: "absent", Optional: true},
			},
		}
	})
	out, err := Render(context.Background(), Input{Dir: "testdata/repos", Kustomization: k, Client: c})
	require.NoError(t, err)
	y := out.YAML()
	golden(t, "postbuild", y)
	require.NotContains(t, string(y), token)
	require.Contains(t, string(y), "region: eu-west-1")
	require.Contains(t, string(y), "cluster: inline-wins")
	require.Contains(t, string(y), "fallback: default-value")
	require.Contains(t, string(y), "script: echo ${REGION}", "substitute: disabled must be honoured")
	// The objects themselves hold the real value (the applier needs it); the pre-substitution copy does not.
	require.Len(t, out.Unsubstituted, len(out.Objects))
	found := false
	for i, o := range out.Objects {
		if o.GetKind() == "ConfigMap" && o.GetName() == "settings" {
			require.Equal(t, token, o.Object["data"].(map[string]interface{})["token"])
			require.Equal(t, "${API_TOKEN}", out.Unsubstituted[i].Object["data"].(map[string]interface{})["token"])
			found = true
		}
	}
	require.True(t, found)
	require.NotContains(t, Diff(&Output{}, out, "a", "b"), token)

	t.Run("missing required reference", func(t *testing.T) {
		k := k.DeepCopy()
		k.Spec.PostBuild.SubstituteFrom = append(k.Spec.PostBuild.SubstituteFrom, kustomizev1.SubstituteReference{Kind: "Secret", Name: "nope"})
		_, err := Render(context.Background(), Input{Dir: "testdata/repos", Kustomization: k, Client: c})
		require.ErrorContains(t, err, "'Secret/nope'")
	})
	t.Run("no client", func(t *testing.T) {
		_, err := Render(context.Background(), Input{Dir: "testdata/repos", Kustomization: k})
		require.ErrorContains(t, err, "no cluster client")
	})
}

func TestRenderGeneratesKustomization(t *testing.T) {
	out, err := Render(context.Background(), Input{Dir: "testdata/repos", Kustomization: ks("./generated/plain")})
	require.NoError(t, err)
	golden(t, "generated", out.YAML())
	require.NoFileExists(t, "testdata/repos/generated/plain/kustomization.yaml")
}

func TestRenderBadInputs(t *testing.T) {
	repo := t.TempDir()
	outside := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(outside, "cm.yaml"), []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n"), 0o644))
	require.NoError(t, os.MkdirAll(filepath.Join(repo, "apps"), 0o755))
	require.NoError(t, os.Symlink(outside, filepath.Join(repo, "apps", "escape")))
	require.NoError(t, os.MkdirAll(filepath.Join(repo, "apps", "linked-file"), 0o755))
	require.NoError(t, os.Symlink(filepath.Join(outside, "cm.yaml"), filepath.Join(repo, "apps", "linked-file", "cm.yaml")))
	require.NoError(t, os.WriteFile(filepath.Join(repo, "apps", "linked-file", "kustomization.yaml"), []byte("resources:\n  - cm.yaml\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(repo, "apps", "file"), []byte("x"), 0o644))

	repos, err := filepath.Abs("testdata/repos")
	require.NoError(t, err)
	for _, tc := range []struct {
		name, dir, path string
		want            []string
	}{
		{"path missing", repo, "./apps/nope", []string{`"./apps/nope"`, "does not exist", filepath.Join(repo, "apps", "nope")}},
		{"path is a file", repo, "./apps/file", []string{"is not a directory"}},
		{"path escaping", repo, "../..", []string{`"../.."`, "outside the repository"}},
		{"path escaping after clean", repo, "./apps/../../etc", []string{"outside the repository"}},
		{"symlink escaping", repo, "./apps/escape", []string{"symlink", "outside the repository"}},
		{"file symlink escaping", repo, "./apps/linked-file", []string{"kustomize build of ./apps/linked-file (" + filepath.Join(repo, "apps", "linked-file") + ") failed", "cm.yaml"}},
		{"kustomize error", repos, "./kust-error/app", []string{"kustomize build of ./kust-error/app (" + filepath.Join(repos, "kust-error", "app") + ") failed", "missing.yaml"}},
		{"malformed YAML", repos, "./malformed/app", []string{"MalformedYAMLError", "broken.yaml", filepath.Join(repos, "malformed", "app")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Render(context.Background(), Input{Dir: tc.dir, Kustomization: ks(tc.path)})
			require.Error(t, err)
			for _, w := range tc.want {
				require.Contains(t, err.Error(), w)
			}
			require.NotContains(t, err.Error(), "kubectl-promote-render-", "errors name the user's files, not temporary ones")
		})
	}
}

func TestYAMLMasksSecrets(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "app"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "app", "s.yaml"), []byte(
		"apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\ndata:\n  k: aHVudGVyMg==\nstringData:\n  p: hunter2\n"), 0o644))
	a, err := Render(context.Background(), Input{Dir: dir, Kustomization: ks("app")})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "app", "s.yaml"), []byte(
		"apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n  labels:\n    v: \"2\"\ndata:\n  k: aHVudGVyMw==\nstringData:\n  p: hunter3\n"), 0o644))
	b, err := Render(context.Background(), Input{Dir: dir, Kustomization: ks("app")})
	require.NoError(t, err)
	d := Diff(a, b, "a", "b")
	for _, s := range []string{"hunter", "aHVudGVy"} {
		require.NotContains(t, string(a.YAML()), s)
		require.NotContains(t, d, s)
	}
	require.Contains(t, d, "--- a\n+++ b\n")
	require.Contains(t, d, "+    v: \"2\"")
	require.Empty(t, Diff(a, a, "a", "a"))
}

// Every way a render fails says, in one line, which path and what went wrong.
func TestShowErrors(t *testing.T) {
	for _, c := range []struct{ path, want string }{
		{"./kust-error/app", "kustomize build of ./kust-error/app"},
		{"./malformed/app", "broken.yaml"},
		{"../..", "points outside the repository"},
		{"./nope", "nope does not exist"},
	} {
		_, err := Render(context.Background(), Input{Dir: "testdata/repos", Kustomization: ks(c.path)})
		require.Error(t, err, c.path)
		require.Contains(t, err.Error(), c.want, c.path)
		require.NotContains(t, err.Error(), "\n", "%s: one line", c.path)
		if os.Getenv("SHOW_ERRORS") != "" {
			t.Log(err)
		}
	}
}

func TestObjectsAreJSONCompatible(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, seed.Write(dir, seed.Options{}))
	out, err := Render(context.Background(), Input{Dir: dir, Kustomization: readKustomization(t, filepath.Join(dir, "clusters/production/apps.yaml"))})
	require.NoError(t, err)
	for _, o := range out.Objects {
		require.NotPanics(t, func() { o.DeepCopy() }, o.GetName())
	}
}

func BenchmarkRenderSeed(b *testing.B) {
	dir := b.TempDir()
	require.NoError(b, seed.Write(dir, seed.Options{}))
	data, err := os.ReadFile(filepath.Join(dir, "clusters/production/apps.yaml"))
	require.NoError(b, err)
	k := &kustomizev1.Kustomization{}
	require.NoError(b, yaml.UnmarshalStrict(data, k))
	for i := 0; i < b.N; i++ {
		if _, err := Render(context.Background(), Input{Dir: dir, Kustomization: k}); err != nil {
			b.Fatal(err)
		}
	}
}

// Diff reuses the YAML of objects the two renders share; its result must be the
// unified diff of the two YAML streams all the same, masks included.
func TestDiffIsTheDiffOfTheYAML(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, seed.Write(dir, seed.Options{}))
	a, err := Render(context.Background(), Input{Dir: dir, Kustomization: readKustomization(t, filepath.Join(dir, "clusters/production/apps.yaml"))})
	require.NoError(t, err)
	var objs []*unstructured.Unstructured
	for _, o := range a.Objects[1:] { // one object removed
		o = o.DeepCopy()
		if o.GetName() == "my-app" && o.GetKind() == "Deployment" {
			require.NoError(t, unstructured.SetNestedField(o.Object, int64(7), "spec", "replicas"))
		}
		objs = append(objs, o)
	}
	added := a.Objects[0].DeepCopy()
	added.SetName("added")
	objs = append(objs, added)
	b := a.WithObjects(objs)
	// Equal objects, masked differently: the documents differ.
	masked := &Output{Objects: a.Objects, masks: make([][]fieldMask, len(a.Objects))}
	for i, o := range a.Objects {
		if o.GetName() == "my-app" {
			masked.masks[i] = []fieldMask{{path: []interface{}{"metadata", "name"}, value: "my-app", shown: Mask}}
		}
	}

	want := func(x, y *Output) string {
		s, err := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
			A: lines(string(x.YAML())), B: lines(string(y.YAML())), FromFile: "x", ToFile: "y", Context: 3,
		})
		require.NoError(t, err)
		return s
	}
	for _, pair := range [][2]*Output{{a, b}, {b, a}, {a, masked}, {masked, a}, {a, a}} {
		got := Diff(pair[0], pair[1], "x", "y")
		require.Equal(t, want(pair[0], pair[1]), got)
	}
	require.Contains(t, Diff(a, b, "x", "y"), "-  replicas: 5\n+  replicas: 7\n")
	require.Contains(t, Diff(a, masked, "x", "y"), "+  name: '***'\n")
	require.Empty(t, Diff(a, a, "x", "y"))
}
