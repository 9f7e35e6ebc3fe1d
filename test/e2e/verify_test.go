package e2e

// Issue 17: checks after Ready, against a real HTTP server on loopback.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kubectl-promote/kubectl-promote/test/fleet"
)

// verified is the part of a Promotion this test reads.
type verified struct {
	Outcome      string `json:"outcome"`
	Verification []struct {
		Kind     string  `json:"kind"`
		Passed   bool    `json:"passed"`
		Attempts int     `json:"attempts"`
		Seconds  float64 `json:"seconds"`
		Message  string  `json:"message"`
	} `json:"verification"`
	Rollback *struct {
		Commit *struct {
			SHA string `json:"sha"`
		} `json:"commit"`
	} `json:"rollback"`
}

// An HTTP check that fails three times then passes, and a command check, after
// production is Ready: exit 0 with each result and its timing. Then a check that
// never passes with --rollback-on-failure: exit 4, and the promotion reverted.
func TestVerifyAfterReady(t *testing.T) {
	parallel(t)
	f := fleet.StartT(t, fleet.Options{Seed: seedOptions()})
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) <= 3 {
			http.Error(w, `{"status": "starting"}`, http.StatusServiceUnavailable)
			return
		}
		fmt.Fprint(w, `{"status": "ok"}`)
	}))
	defer srv.Close()
	never := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"status": "degraded"}`)
	}))
	defer never.Close()

	r := promote(t, f, "apps", "--from", staging, "--to", prod, "--yes", "--wait", "-o", "json",
		"--verify", srv.URL+"/healthz", "--verify-expr", "body.status == 'ok'", "--verify-for", "30s",
		"--verify-command", `test "$KUBECTL_PROMOTE_TARGET" = production && test -n "$KUBECTL_PROMOTE_REVISION"`)
	require.Equal(t, 0, r.Code, r.String())
	var d verified
	require.NoError(t, json.Unmarshal([]byte(r.Stdout), &d), r.String())
	require.Len(t, d.Verification, 2, r.String())
	require.True(t, d.Verification[0].Passed, r.String())
	require.Equal(t, 4, d.Verification[0].Attempts, r.String())
	require.Greater(t, d.Verification[0].Seconds, 0.0)
	require.Equal(t, "command", d.Verification[1].Kind)
	require.True(t, d.Verification[1].Passed, r.String())

	// The first fleet has nothing left to promote: the check that never passes runs
	// on a fresh one.
	g := fleet.StartT(t, fleet.Options{Seed: seedOptions()})
	before := head(t, g)
	r = promote(t, g, "apps", "--from", staging, "--to", prod, "--yes", "--wait", "--rollback-on-failure", "-o", "json",
		"--verify", never.URL, "--verify-expr", "body.status == 'ok'", "--verify-for", "5s")
	require.Equal(t, 4, r.Code, r.String())
	d = verified{}
	require.NoError(t, json.Unmarshal([]byte(r.Stdout), &d), r.String())
	require.Equal(t, "unhealthy", d.Outcome)
	require.False(t, d.Verification[0].Passed)
	require.NotNil(t, d.Rollback, r.String())
	require.NotNil(t, d.Rollback.Commit, r.String())
	require.Equal(t, d.Rollback.Commit.SHA, head(t, g))
	require.NotEqual(t, before, head(t, g))
}
