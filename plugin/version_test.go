package plugin

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-promote/kubectl-promote/pkg/apis/v1alpha1"
	"github.com/kubectl-promote/kubectl-promote/pkg/version"
)

// withVersion sets the link-time variables for one test.
func withVersion(t *testing.T, v, commit, date string) {
	t.Helper()
	old := [3]string{version.Version, version.Commit, version.Date}
	version.Version, version.Commit, version.Date = v, commit, date
	t.Cleanup(func() { version.Version, version.Commit, version.Date = old[0], old[1], old[2] })
}

func runVersion(t *testing.T, args ...string) (string, error) {
	t.Helper()
	streams, _, out, _ := genericiooptions.NewTestIOStreams()
	cmd := NewCmdVersion(streams)
	cmd.SetArgs(args)
	cmd.SetOut(out)
	cmd.SetErr(out)
	err := cmd.Execute()
	return out.String(), err
}

func TestVersion(t *testing.T) {
	withVersion(t, "v0.1.0", "abc1234def5678abc1234def5678abc1234def56", "2026-11-25T21:00:00Z")

	out, err := runVersion(t)
	require.NoError(t, err)
	assert.Equal(t, "kubectl-promote v0.1.0 (commit abc1234, built 2026-11-25T21:00:00Z)\n", out)

	out, err = runVersion(t, "-o", "json")
	require.NoError(t, err)
	var info v1alpha1.Version
	require.NoError(t, json.Unmarshal([]byte(out), &info))
	assert.Equal(t, "v0.1.0", info.Version)
	assert.Equal(t, "abc1234def5678abc1234def5678abc1234def56", info.Commit)
	assert.Equal(t, "2026-11-25T21:00:00Z", info.Date)
	assert.NotEmpty(t, info.GoVersion)

	out, err = runVersion(t, "-o", "yaml")
	require.NoError(t, err)
	info = v1alpha1.Version{}
	require.NoError(t, yaml.UnmarshalStrict([]byte(out), &info))
	assert.Equal(t, "v0.1.0", info.Version)

	_, err = runVersion(t, "-o", "wide")
	require.EqualError(t, err, `unable to match a printer suitable for the output format "wide", allowed formats are: go-template,go-template-file,json,jsonpath,jsonpath-as-json,jsonpath-file,kyaml,name,template,templatefile,yaml`)

	out, err = runVersion(t, "-o", "jsonpath={.version}")
	require.NoError(t, err)
	assert.Equal(t, "v0.1.0", out)

	out, err = runVersion(t, "-o", "name")
	require.NoError(t, err)
	assert.Equal(t, "version.kubectl-promote.dev/v0.1.0\n", out)

	_, err = runVersion(t, "extra")
	require.Error(t, err)
}

func TestVersionDevBuild(t *testing.T) {
	withVersion(t, "dev", "", "")
	out, err := runVersion(t)
	require.NoError(t, err)
	// A test binary has no module version, so the fallback keeps "dev".
	assert.Equal(t, "kubectl-promote dev\n", out)
	assert.Equal(t, "kubectl-promote/dev", version.UserAgent())
}
