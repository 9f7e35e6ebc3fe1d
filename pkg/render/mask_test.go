package render

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	kustomizev1 "github.com/fluxcd/kustomize-controller/api/v1"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/kubectl-promote/kubectl-promote/pkg/flux"
)

const shopDeployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: shop
  namespace: shop
  labels:
    team: ${TEAM}
    tier: ${TIER}
    owner: ${OWNER}
spec:
  replicas: ${REPLICAS}
  template:
    spec:
      containers:
        - name: shop
          image: ghcr.io/acme/shop:2.4.9
          env:
            - name: URL
              value: https://${HOST}/api
            - name: UPPER
              value: ${TEAM^^}
            - name: PART
              value: x${HOST:0:3}y
`

// writeApp writes a kustomization of files under a new repository's app/.
func writeApp(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "app"), 0o755))
	res := "resources:\n"
	for name, content := range files {
		require.NoError(t, os.WriteFile(filepath.Join(dir, "app", name), []byte(content), 0o644))
		res += "  - " + name + "\n"
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "app", "kustomization.yaml"), []byte(res), 0o644))
	return dir
}

func secretsClient(objs ...client.Object) client.Client {
	return fake.NewClientBuilder().WithScheme(flux.Scheme).WithObjects(objs...).Build()
}

// A value read from a Secret is masked in the fields it was substituted into, whole,
// and nowhere else: the Secret values "4" and "shop" must not mask the image tag
// 2.4.9, the namespace shop or the image's own name (issue 13, defect 6).
func TestSecretValuesMaskedWhereSubstituted(t *testing.T) {
	dir := writeApp(t, map[string]string{"deploy.yaml": shopDeployment})
	c := secretsClient(
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "early", Namespace: "flux-system"},
			Data: map[string][]byte{"TIER": []byte("overridden-by-configmap")}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "vars", Namespace: "flux-system"},
			Data: map[string]string{"TIER": "frontend", "OWNER": "from-configmap"}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "late", Namespace: "flux-system"},
			Data: map[string][]byte{"REPLICAS": []byte("4"), "TEAM": []byte("shop"), "HOST": []byte("internal.acme"), "OWNER": []byte("secret-owner"), "INLINE": []byte("hidden")}},
	)
	k := ks("./app", func(k *kustomizev1.Kustomization) {
		k.Spec.PostBuild = &kustomizev1.PostBuild{
			Substitute: map[string]string{"INLINE": "inline-wins"},
			SubstituteFrom: []kustomizev1.SubstituteReference{
				{Kind: "Secret", Name: "early"}, {Kind: "ConfigMap", Name: "vars"}, {Kind: "Secret", Name: "late"},
			},
		}
	})
	out, err := Render(context.Background(), Input{Dir: dir, Kustomization: k, Client: c})
	require.NoError(t, err)
	require.Len(t, out.Objects, 1)

	// The objects hold the real values.
	real := out.Objects[0]
	replicas, _, _ := unstructured.NestedInt64(real.Object, "spec", "replicas")
	require.Equal(t, int64(4), replicas)
	require.Equal(t, "shop", real.GetLabels()["team"])

	shown := out.Shown(0)
	labels := shown.GetLabels()
	require.Equal(t, Mask, labels["team"], "a Secret's value is masked where it was substituted")
	require.Equal(t, "frontend", labels["tier"], "a Secret's value a later ConfigMap overrides is not what was substituted")
	require.Equal(t, Mask, labels["owner"], "a ConfigMap's value a later Secret overrides is the Secret's")
	require.Equal(t, "shop", shown.GetName(), "the same text elsewhere is not masked")
	require.Equal(t, "shop", shown.GetNamespace())
	require.Equal(t, Mask, shown.Object["spec"].(map[string]interface{})["replicas"])
	ctr := shown.Object["spec"].(map[string]interface{})["template"].(map[string]interface{})["spec"].(map[string]interface{})["containers"].([]interface{})[0].(map[string]interface{})
	require.Equal(t, "ghcr.io/acme/shop:2.4.9", ctr["image"], "the Secret values 4 and shop are not masked inside the image")
	env := ctr["env"].([]interface{})
	require.Equal(t, "https://***/api", env[0].(map[string]interface{})["value"], "the manifest's own text around the value is kept")
	require.Equal(t, Mask, env[1].(map[string]interface{})["value"], "${TEAM^^} is a Secret's value too")
	require.Equal(t, Mask, env[2].(map[string]interface{})["value"], "a substring of a Secret's value is masked whole")

	y := string(out.YAML())
	require.Contains(t, y, "image: ghcr.io/acme/shop:2.4.9")
	require.Contains(t, y, "replicas: '***'")
	for _, leak := range []string{"internal.acme", "INTERNAL", "SHOP", "secret-owner", "int"} {
		require.NotContains(t, y, leak)
	}
	require.NotContains(t, Diff(&Output{}, out, "a", "b"), "internal.acme")
}

// Masks follow the field, not the index: WithObjects carries them to the same object
// while it holds the same value there.
func TestWithObjectsCarriesMasks(t *testing.T) {
	dir := writeApp(t, map[string]string{"deploy.yaml": shopDeployment})
	c := secretsClient(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "flux-system"},
		Data: map[string][]byte{"REPLICAS": []byte("4"), "TEAM": []byte("t"), "HOST": []byte("h"), "TIER": []byte("x"), "OWNER": []byte("o")}})
	k := ks("./app", func(k *kustomizev1.Kustomization) {
		k.Spec.PostBuild = &kustomizev1.PostBuild{SubstituteFrom: []kustomizev1.SubstituteReference{{Kind: "Secret", Name: "s"}}}
	})
	out, err := Render(context.Background(), Input{Dir: dir, Kustomization: k, Client: c})
	require.NoError(t, err)
	changed := out.Objects[0].DeepCopy()
	require.NoError(t, unstructured.SetNestedField(changed.Object, int64(9), "spec", "replicas"))
	w := out.WithObjects([]*unstructured.Unstructured{changed})
	require.Equal(t, int64(9), w.Shown(0).Object["spec"].(map[string]interface{})["replicas"], "a value the Secret did not set is shown")
	require.Equal(t, Mask, w.Shown(0).GetLabels()["team"])
}

// A substitution that fails only with the Secret's value does not quote it; one that
// fails with any value shows Flux's error with the value masked.
func TestPostBuildErrorsDoNotQuoteSecrets(t *testing.T) {
	const bad = "oops: [unclosed"
	dir := writeApp(t, map[string]string{"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\ndata:\n  v: ${V}\n"})
	c := secretsClient(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "flux-system"},
		Data: map[string][]byte{"V": []byte(bad)}})
	k := ks("./app", func(k *kustomizev1.Kustomization) {
		k.Spec.PostBuild = &kustomizev1.PostBuild{SubstituteFrom: []kustomizev1.SubstituteReference{{Kind: "Secret", Name: "s"}}}
	})
	_, err := Render(context.Background(), Input{Dir: dir, Kustomization: k, Client: c})
	require.ErrorContains(t, err, "post build failed for 'ConfigMap.v1.[noGrp]/cm'")
	require.ErrorContains(t, err, "Secret-sourced postBuild variables make it invalid")
	require.NotContains(t, err.Error(), "unclosed")

	// Missing a required Secret: Flux's message, with the namespace.
	k.Spec.PostBuild.SubstituteFrom = append(k.Spec.PostBuild.SubstituteFrom, kustomizev1.SubstituteReference{Kind: "Secret", Name: "absent"})
	_, err = Render(context.Background(), Input{Dir: dir, Kustomization: k, Client: c})
	require.ErrorContains(t, err, "substitute from 'Secret/absent' error")
	require.ErrorContains(t, err, "flux-system")
	// Optional and absent: skipped, as Flux does; with no variable at all Flux does
	// not substitute (substitution strategy Always would).
	k.Spec.PostBuild.SubstituteFrom[1].Optional = true
	k.Spec.PostBuild.SubstituteFrom[0] = kustomizev1.SubstituteReference{Kind: "ConfigMap", Name: "absent", Optional: true}
	out, err := Render(context.Background(), Input{Dir: dir, Kustomization: k, Client: c})
	require.NoError(t, err)
	require.Equal(t, "${V}", out.Objects[0].Object["data"].(map[string]interface{})["v"])
}
