package fleet

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	kustomizev1 "github.com/fluxcd/kustomize-controller/api/v1"
	sourcev1 "github.com/fluxcd/source-controller/api/v1"

	"github.com/kubectl-promote/kubectl-promote/test/plane"
)

// BootstrapName is the parent Kustomization of env with Options.Bootstrap: the one
// `flux bootstrap` creates (flux-system), suffixed with the environment on a shared
// cluster.
func (f *Fleet) BootstrapName(env string) string {
	if f.Opts.Shared {
		return "flux-system-" + env
	}
	return "flux-system"
}

// bootstrapKustomization applies clusters/<env>/ from the fleet's GitRepository.
func (f *Fleet) bootstrapKustomization(env string) *kustomizev1.Kustomization {
	return &kustomizev1.Kustomization{
		ObjectMeta: metav1.ObjectMeta{Namespace: plane.FluxNamespace, Name: f.BootstrapName(env)},
		Spec: kustomizev1.KustomizationSpec{
			Interval:  metav1.Duration{Duration: 10 * time.Minute},
			Path:      "./clusters/" + env,
			Prune:     true,
			SourceRef: kustomizev1.CrossNamespaceSourceReference{Kind: sourcev1.GitRepositoryKind, Name: f.SourceKey().Name},
		},
	}
}

// CommitKustomization commits an edit of env's apps Kustomization as Git holds it
// (clusters/<env>/apps.yaml), asks Flux to fetch it, and waits until Flux has
// applied the commit (the parent Kustomization, infrastructure and apps) and the
// live apps Kustomization satisfies applied. It needs Options.Bootstrap: without
// it nothing applies that file.
func (f *Fleet) CommitKustomization(ctx context.Context, env, message string, edit func(*kustomizev1.Kustomization), applied func(*kustomizev1.Kustomization) bool) (string, error) {
	if !f.Opts.Bootstrap {
		return "", fmt.Errorf("fleet: CommitKustomization needs Options.Bootstrap")
	}
	sha, err := f.CommitTo(f.BranchOf(env), message, func(dir string) error {
		path := filepath.Join(dir, "clusters", env, "apps.yaml")
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var ks kustomizev1.Kustomization
		if err := yaml.UnmarshalStrict(data, &ks); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		edit(&ks)
		out, err := yaml.Marshal(&ks)
		if err != nil {
			return err
		}
		return os.WriteFile(path, bytes.Replace(out, []byte("\nstatus: {}\n"), []byte("\n"), 1), 0o644)
	})
	if err != nil {
		return "", err
	}
	c := f.Client(env)
	src := &sourcev1.GitRepository{ObjectMeta: metav1.ObjectMeta{Namespace: f.SourceKey().Namespace, Name: f.SourceKey().Name}}
	if err := f.request(ctx, env, src); err != nil {
		return "", err
	}
	if err := f.Settle(ctx, env, sha); err != nil {
		return "", err
	}
	_, key := f.Kustomizations(env)
	parent := client.ObjectKey{Namespace: plane.FluxNamespace, Name: f.BootstrapName(env)}
	var last kustomizev1.Kustomization
	err = Poll(ctx, time.Minute, func(ctx context.Context) (bool, error) {
		st, err := Kustomization(ctx, c, parent)
		if err != nil || st.LastAppliedRevision != f.RevisionIn(env, sha) {
			return false, err
		}
		if err := c.Get(ctx, key, &last); err != nil {
			return false, err
		}
		return applied(&last), nil
	})
	if err != nil {
		return "", fmt.Errorf("%s: Flux did not apply the edit of Kustomization %s in %s: annotations %v: %w", env, key, short(sha), last.Annotations, err)
	}
	return sha, nil
}
