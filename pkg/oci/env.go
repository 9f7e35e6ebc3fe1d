package oci

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubectl-promote/kubectl-promote/pkg/flux"
)

// Options are how the commands reach registries: explicit credentials (the registry
// flags or KUBECTL_PROMOTE_REGISTRY_*), or the OCIRepository's own spec.secretRef
// when UseSecretRef (--registry-secret); without either, Docker's config.json and its
// credential helpers.
type Options struct {
	Credentials  Credentials
	UseSecretRef bool
	// Timeout bounds each registry operation; zero is DefaultTimeout.
	Timeout time.Duration
}

// ClientFor is the client for the OCIRepository env reads: spec.insecure honoured,
// and its credentials as o says. Reading spec.secretRef needs "get" on the Secret;
// its data never appears in an error.
func ClientFor(ctx context.Context, env *flux.Environment, o Options) (*Client, error) {
	src := env.OCISource
	c := &Client{Insecure: src.Spec.Insecure, Timeout: o.Timeout, Auth: o.Credentials.Authenticator()}
	if c.Auth != nil || !o.UseSecretRef || src.Spec.SecretRef == nil {
		return c, nil
	}
	repo, err := c.Repository(src.Spec.URL)
	if err != nil {
		return nil, err
	}
	key := client.ObjectKey{Namespace: src.Namespace, Name: src.Spec.SecretRef.Name}
	secret := &corev1.Secret{}
	if err := env.Cluster.Client.Get(ctx, key, secret); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("secret %s (spec.secretRef of OCIRepository %s/%s) not found in context %q", key, src.Namespace, src.Name, env.Cluster.Context)
		}
		return nil, flux.APIError(err, "get", "secrets", key.String(), env.Cluster.Context)
	}
	data, ok := secret.Data[corev1.DockerConfigJsonKey]
	if !ok {
		return nil, fmt.Errorf("secret %s (spec.secretRef of OCIRepository %s/%s) has no %s: it must be a kubernetes.io/dockerconfigjson Secret", key, src.Namespace, src.Name, corev1.DockerConfigJsonKey)
	}
	if c.Auth, err = AuthFromDockerConfigJSON(data, repo.RegistryStr()); err != nil {
		return nil, fmt.Errorf("secret %s: %w", key, err)
	}
	return c, nil
}

// StrategyFor is how a promotion from source to target is written, read from the
// target's OCIRepository alone (no registry call): pin, semver, copy or retag. A mix
// of a Git and an OCI environment is refused with one line.
func StrategyFor(source, target *flux.Environment) (string, error) {
	if err := RefuseMix(source, target); err != nil {
		return "", err
	}
	src, err := (&Client{Insecure: source.OCISource.Spec.Insecure}).Repository(source.OCISource.Spec.URL)
	if err != nil {
		return "", err
	}
	dst, err := (&Client{Insecure: target.OCISource.Spec.Insecure}).Repository(target.OCISource.Spec.URL)
	if err != nil {
		return "", err
	}
	return strategyFor(flux.OCIRefOf(target.OCISource), src, dst), nil
}
