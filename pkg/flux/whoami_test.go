package flux_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"k8s.io/client-go/rest"

	"github.com/kubectl-promote/kubectl-promote/internal/fakeflux"
	"github.com/kubectl-promote/kubectl-promote/pkg/flux"
)

// Promoted-By is the SelfSubjectReview's user, else the kubeconfig's, marked as such.
func TestWhoAmI(t *testing.T) {
	cl := fakeflux.NewCluster(t, fakeflux.Options{Context: "production", Env: "production", User: "alice@example.com"})
	require.Equal(t, "alice@example.com", flux.WhoAmI(context.Background(), cl))
	cl = fakeflux.NewCluster(t, fakeflux.Options{Context: "production", Env: "production"})
	require.Equal(t, "unknown (context production)", flux.WhoAmI(context.Background(), cl))
	cl.Config = &rest.Config{Username: "bob"}
	require.Equal(t, "bob (kubeconfig)", flux.WhoAmI(context.Background(), cl))
	cl.Config = &rest.Config{Username: "bob", Impersonate: rest.ImpersonationConfig{UserName: "carol"}}
	require.Equal(t, "carol", flux.WhoAmI(context.Background(), cl))
}
