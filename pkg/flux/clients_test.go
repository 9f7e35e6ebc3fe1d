package flux

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestNewClientsForServesItsClusters(t *testing.T) {
	staging, production := &Cluster{Context: "staging"}, &Cluster{Context: "production"}
	c := NewClientsFor("staging", staging, production)

	got, err := c.Cluster("production")
	require.NoError(t, err)
	require.Same(t, production, got)
	got, err = c.Cluster("")
	require.NoError(t, err)
	require.Same(t, staging, got, "the empty context is the current one")

	names, err := c.Contexts()
	require.NoError(t, err)
	require.Equal(t, []string{"production", "staging"}, names)
	ok, err := c.HasContext("production")
	require.NoError(t, err)
	require.True(t, ok)
	ok, err = c.HasContext("dev")
	require.NoError(t, err)
	require.False(t, ok)

	_, err = c.Cluster("dev")
	var unknown *UnknownContextError
	require.True(t, errors.As(err, &unknown), "%v", err)
	require.Equal(t, []string{"production", "staging"}, unknown.Known)

	_, err = NewClientsFor("", staging).Cluster("")
	require.ErrorContains(t, err, "no context is currently set")
}
