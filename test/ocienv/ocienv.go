// Package ocienv sets up gitless Flux environments on a test plane, for the
// end-to-end tests, the demo and the benchmark: artifacts pushed as "flux push
// artifact" pushes them, and per namespace an OCIRepository following a tag with a
// Kustomization applying it.
package ocienv

import (
	"context"
	"crypto/sha1"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	kustomizev1 "github.com/fluxcd/kustomize-controller/api/v1"
	"github.com/fluxcd/pkg/apis/meta"
	sourcev1 "github.com/fluxcd/source-controller/api/v1"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubectl-promote/kubectl-promote/internal/ociregistry"
)

// App is an artifact's content: a ConfigMap saying version and a Deployment of image
// example.com/app:version (kwok never makes an image ending in -broken Ready).
func App(version string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: ConfigMap
metadata:
  name: app
data:
  version: %q
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
spec:
  replicas: 1
  selector:
    matchLabels: {app: app}
  template:
    metadata:
      labels: {app: app}
    spec:
      containers:
        - name: app
          image: example.com/app:%s
`, version, version)
}

// OriginRevision is the Git revision an artifact of version is recorded as built
// from: a SHA-1 of the version, standing for the commit CI built.
func OriginRevision(version string) string {
	return fmt.Sprintf("main@sha1:%x", sha1.Sum([]byte(version)))
}

// Push pushes App(version) to repository app of reg under each tag, as "flux push
// artifact" does (one created time, so every tag names one digest), and returns the
// digest.
func Push(ctx context.Context, reg *ociregistry.Registry, version string, tags ...string) (string, error) {
	return PushTo(ctx, reg, "app", version, tags...)
}

// PushTo is Push to repository repo of reg.
func PushTo(ctx context.Context, reg *ociregistry.Registry, repo, version string, tags ...string) (string, error) {
	dir, err := os.MkdirTemp("", "kubectl-promote-artifact-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	if err := os.WriteFile(filepath.Join(dir, "app.yaml"), []byte(App(version)), 0o644); err != nil {
		return "", err
	}
	created := time.Now()
	var digest string
	for _, tag := range tags {
		out, err := ociregistry.Push(ctx, ociregistry.Artifact{Ref: reg.Repository(repo + ":" + tag), Dir: dir, Created: created,
			Source: "http://git.example/app.git", Revision: OriginRevision(version)})
		if err != nil {
			return "", err
		}
		digest = out[strings.LastIndex(out, "@")+1:]
	}
	return digest, nil
}

// Env applies namespace ns with an OCIRepository "app" following tag of url over
// plain HTTP, and a Kustomization "app" applying it into ns (waiting for its
// workloads, 20 s, with waitHealth); edit, if given, changes the OCIRepository's
// spec first.
func Env(ctx context.Context, c client.Client, url, ns, tag string, waitHealth bool, edit ...func(*sourcev1.OCIRepositorySpec)) error {
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		return err
	}
	spec := sourcev1.OCIRepositorySpec{URL: url, Insecure: true, Interval: metav1.Duration{Duration: 10 * time.Minute},
		Reference: &sourcev1.OCIRepositoryRef{Tag: tag}}
	for _, e := range edit {
		e(&spec)
	}
	if err := c.Create(ctx, &sourcev1.OCIRepository{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: ns}, Spec: spec}); err != nil {
		return err
	}
	return c.Create(ctx, &kustomizev1.Kustomization{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: ns},
		Spec: kustomizev1.KustomizationSpec{Interval: metav1.Duration{Duration: 10 * time.Minute}, Path: "./", Prune: true,
			TargetNamespace: ns, Wait: waitHealth, Timeout: &metav1.Duration{Duration: 20 * time.Second},
			SourceRef: kustomizev1.CrossNamespaceSourceReference{Kind: sourcev1.OCIRepositoryKind, Name: "app"}}})
}

// Applied waits (at most timeout) until ns's Kustomization is Ready having applied
// revision, or only digest when revision has no tag ("sha256:…").
func Applied(ctx context.Context, c client.Client, ns, revision string, timeout time.Duration) error {
	var last string
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		ks := &kustomizev1.Kustomization{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "app"}, ks); err != nil {
			return false, err
		}
		ready := apimeta.IsStatusConditionTrue(ks.Status.Conditions, meta.ReadyCondition)
		last = fmt.Sprintf("ready=%v applied %q conditions %v", ready, ks.Status.LastAppliedRevision, ks.Status.Conditions)
		applied := ks.Status.LastAppliedRevision == revision || strings.HasSuffix(ks.Status.LastAppliedRevision, "@"+revision)
		return ready && applied, nil
	})
	if err != nil {
		return fmt.Errorf("waiting for %s/app to apply %s: %w (%s)", ns, revision, err, last)
	}
	return nil
}

// Reconcile asks for ns's object of kind (an OCIRepository or a Kustomization "app")
// to reconcile now, as "flux reconcile" does.
func Reconcile(ctx context.Context, c client.Client, ns string, obj client.Object) error {
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "app"}, obj); err != nil {
		return err
	}
	patch := client.MergeFrom(obj.DeepCopyObject().(client.Object))
	ann := obj.GetAnnotations()
	if ann == nil {
		ann = map[string]string{}
	}
	ann[meta.ReconcileRequestAnnotation] = time.Now().Format(time.RFC3339Nano)
	obj.SetAnnotations(ann)
	return c.Patch(ctx, obj, patch)
}
