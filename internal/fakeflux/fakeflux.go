// Package fakeflux stands up Flux environments on controller-runtime's fake client for
// the orchestrators' unit tests: the seed's GitRepository and Kustomizations with the
// status Flux gives them once it has applied a commit, Ready workloads for their
// health checks, answers to the SelfSubjectAccessReview and SelfSubjectReview the
// promotion asks, and a Controller that plays source-controller and
// kustomize-controller, handling reconcile requests the way they do.
//
// It exists so pkg/promote and pkg/reconcile can test their phases, their ordering
// and their outcomes in milliseconds; the end-to-end suite (test/) runs the same
// scenarios against the real controllers.
package fakeflux

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	kustomizev1 "github.com/fluxcd/kustomize-controller/api/v1"
	"github.com/fluxcd/pkg/apis/meta"
	sourcev1 "github.com/fluxcd/source-controller/api/v1"
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta/testrestmapper"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-promote/kubectl-promote/internal/seed"
	"github.com/kubectl-promote/kubectl-promote/pkg/flux"
)

// Namespace is where the seed's Flux objects live.
const Namespace = flux.DefaultNamespace

// Options describe one fake cluster running one seed environment.
type Options struct {
	// Context is the cluster's kubeconfig context name.
	Context string
	// Env is the seed environment whose clusters/<Env>/*.yaml Kustomizations the
	// cluster runs; Seed is the seed they are read from (the zero value is the seed).
	Env  string
	Seed seed.Options
	// URL and Branch are what the GitRepository tracks.
	URL, Branch string
	// Applied is the commit the GitRepository's artifact and every Kustomization are
	// at; empty leaves them never reconciled (no artifact, no applied revision).
	Applied string
	// User is who the SelfSubjectReview says the caller is; empty refuses the review.
	User string
	// Deny, when it returns true for a patch permission, makes the
	// SelfSubjectAccessReview answer not allowed.
	Deny func(*authorizationv1.ResourceAttributes) bool
	// Funcs intercept the cluster's other calls; Create is called for objects other
	// than the two reviews.
	Funcs interceptor.Funcs
}

// NewCluster returns the fake cluster described by o.
func NewCluster(t testing.TB, o Options) *flux.Cluster {
	t.Helper()
	if o.Branch == "" {
		o.Branch = "main"
	}
	objs := []client.Object{gitRepository(o)}
	for _, ks := range kustomizations(t, o) {
		objs = append(objs, ks)
		for _, hc := range ks.Spec.HealthChecks {
			objs = append(objs, readyDeployment(hc.Namespace, hc.Name))
		}
	}
	create := o.Funcs.Create
	funcs := o.Funcs
	funcs.Create = func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
		switch r := obj.(type) {
		case *authorizationv1.SelfSubjectAccessReview:
			r.Status.Allowed = o.Deny == nil || !o.Deny(r.Spec.ResourceAttributes)
			return nil
		case *authenticationv1.SelfSubjectReview:
			if o.User == "" {
				return apierrors.NewForbidden(schema.GroupResource{Group: "authentication.k8s.io", Resource: "selfsubjectreviews"}, "", errors.New("not allowed"))
			}
			r.Status.UserInfo.Username = o.User
			return nil
		}
		if create != nil {
			return create(ctx, c, obj, opts...)
		}
		return c.Create(ctx, obj, opts...)
	}
	c := fake.NewClientBuilder().WithScheme(flux.Scheme).WithRESTMapper(testrestmapper.TestOnlyStaticRESTMapper(flux.Scheme)).WithObjects(objs...).WithInterceptorFuncs(funcs).Build()
	return &flux.Cluster{Context: o.Context, Namespace: Namespace, Config: &rest.Config{}, Client: c}
}

// Revision is the Flux revision of sha on branch.
func Revision(branch, sha string) string { return branch + "@sha1:" + sha }

func gitRepository(o Options) *sourcev1.GitRepository {
	name := o.Seed.SourceName
	if name == "" {
		name = "flux-system"
	}
	repo := &sourcev1.GitRepository{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: Namespace, Generation: 1},
		Spec: sourcev1.GitRepositorySpec{URL: o.URL, Reference: &sourcev1.GitRepositoryRef{Branch: o.Branch},
			Interval: metav1.Duration{Duration: 60e9}},
	}
	if o.Applied != "" {
		repo.Status = sourcev1.GitRepositoryStatus{ObservedGeneration: 1,
			Artifact:   &meta.Artifact{Revision: Revision(o.Branch, o.Applied), Path: "gitrepository/flux-system/" + name + "/" + o.Applied + ".tar.gz"},
			Conditions: []metav1.Condition{ready(metav1.ConditionTrue, meta.SucceededReason, "stored artifact for revision '"+Revision(o.Branch, o.Applied)+"'")}}
	}
	return repo
}

// kustomizations are the seed's Flux Kustomizations of o.Env, as Flux leaves them
// after applying o.Applied.
func kustomizations(t testing.TB, o Options) []*kustomizev1.Kustomization {
	t.Helper()
	dir := t.TempDir()
	if err := seed.Write(dir, o.Seed); err != nil {
		t.Fatal(err)
	}
	var out []*kustomizev1.Kustomization
	for _, f := range []string{"infrastructure.yaml", "apps.yaml"} {
		b, err := os.ReadFile(filepath.Join(dir, "clusters", o.Env, f))
		if err != nil {
			t.Fatal(err)
		}
		ks := &kustomizev1.Kustomization{}
		if err := yaml.UnmarshalStrict(b, ks); err != nil {
			t.Fatalf("clusters/%s/%s: %v", o.Env, f, err)
		}
		ks.Generation = 1
		if o.Applied != "" {
			rev := Revision(o.Branch, o.Applied)
			ks.Status = kustomizev1.KustomizationStatus{ObservedGeneration: 1, LastAppliedRevision: rev, LastAttemptedRevision: rev,
				Conditions: []metav1.Condition{ready(metav1.ConditionTrue, meta.ReconciliationSucceededReason, "Applied revision: "+rev)}}
		}
		out = append(out, ks)
	}
	return out
}

// readyDeployment is a Deployment kstatus finds Current.
func readyDeployment(namespace, name string) *appsv1.Deployment {
	one := int32(1)
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Generation: 1},
		Spec:       appsv1.DeploymentSpec{Replicas: &one},
		Status: appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 1, UpdatedReplicas: 1, ReadyReplicas: 1, AvailableReplicas: 1,
			Conditions: []appsv1.DeploymentCondition{
				{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue, Reason: "MinimumReplicasAvailable"},
				{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue, Reason: "NewReplicaSetAvailable"},
			}},
	}
}

func ready(status metav1.ConditionStatus, reason, message string) metav1.Condition {
	return metav1.Condition{Type: meta.ReadyCondition, Status: status, Reason: reason, Message: message, LastTransitionTime: metav1.Now(), ObservedGeneration: 1}
}
