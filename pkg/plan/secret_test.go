package plan

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	kustomizev1 "github.com/fluxcd/kustomize-controller/api/v1"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/kubectl-promote/kubectl-promote/internal/seed"
	"github.com/kubectl-promote/kubectl-promote/pkg/flux"
)

// A source whose image tag comes from a Secret variable must not be promoted: the
// edit would write the Secret's value to Git, and every message would print it.
func TestRefusesImageFromSecretWithoutPrintingIt(t *testing.T) {
	const secretTag = "s3cr3t-build-7f9c"
	src, tgt := seedRepo(t, seed.Options{}), seedRepo(t, seed.Options{})
	overlay := filepath.Join(src, "apps", "staging", "kustomization.yaml")
	data, err := os.ReadFile(overlay)
	require.NoError(t, err)
	// staging sets my-app's tag from ${MY_APP_TAG}, which a Secret provides.
	edited := strings.Replace(string(data), `newTag: "1.1.0"`, `newTag: "${MY_APP_TAG}"`, 1)
	require.NotEqual(t, string(data), edited)
	require.NoError(t, os.WriteFile(overlay, []byte(edited), 0o644))

	in := seedInput(t, src, tgt)
	in.Source.Spec.PostBuild = &kustomizev1.PostBuild{SubstituteFrom: []kustomizev1.SubstituteReference{{Kind: "Secret", Name: "tags"}}}
	in.SourceClient = fake.NewClientBuilder().WithScheme(flux.Scheme).WithObjects(&corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "tags", Namespace: in.Source.Namespace},
		Data:       map[string][]byte{"MY_APP_TAG": []byte(secretTag)},
	}).Build()
	before := snapshot(t, tgt)

	_, err = Compute(context.Background(), in)
	var refused *NotEffectiveError
	require.True(t, errors.As(err, &refused), "%v", err)
	require.Contains(t, err.Error(), "set from a Secret")
	require.NotContains(t, err.Error(), secretTag)
	require.Equal(t, before, snapshot(t, tgt), "nothing written")

	// With --app redis the Secret-set image is not promoted, and redis goes ahead.
	in.Filter = Filter{Apps: []string{"redis"}}
	p, err := Compute(context.Background(), in)
	require.NoError(t, err)
	require.Len(t, p.Changes, 1)
	require.NotContains(t, p.RenderedDiff, secretTag)
}

// A Secret-sourced postBuild value that no image field is substituted from does not
// block the promotion and is not masked inside image tags, however short it is
// (issue 13, defect 6: a value "1" made every tag 1.1.0 read "***.***.0" and refused
// "image ... is set from a Secret").
func TestSecretValueInNoImageDoesNotBlock(t *testing.T) {
	src, tgt := seedRepo(t, seed.Options{}), seedRepo(t, seed.Options{})
	in := seedInput(t, src, tgt)
	secret := func(ns string) *fake.ClientBuilder {
		return fake.NewClientBuilder().WithScheme(flux.Scheme).WithObjects(&corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: "vars", Namespace: ns},
			Data:       map[string][]byte{"ONE": []byte("1"), "APP": []byte("my-app"), "PATCH": []byte("0")},
		})
	}
	for _, ks := range []*kustomizev1.Kustomization{in.Source, in.Target} {
		ks.Spec.PostBuild = &kustomizev1.PostBuild{SubstituteFrom: []kustomizev1.SubstituteReference{{Kind: "Secret", Name: "vars"}}}
	}
	in.SourceClient = secret(in.Source.Namespace).Build()
	in.TargetClient = secret(in.Target.Namespace).Build()

	p, err := Compute(context.Background(), in)
	require.NoError(t, err)
	require.Len(t, p.Changes, 2)
	require.Contains(t, p.RenderedDiff, "+      - image: "+seed.MyAppImage+":1.1.0")
	require.Contains(t, p.RenderedDiff, "-      - image: "+seed.MyAppImage+":1.0.0")
	require.NotContains(t, p.RenderedDiff, "***")
}
