package verify

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kubectl-promote/kubectl-promote/pkg/apis/v1alpha1"
)

// flaky is a real HTTP server on loopback that answers 503 the first n times, then
// 200 with body.
func flaky(t *testing.T, n int32, body string) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if calls.Add(1) <= n {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `{"status": "starting"}`)
			return
		}
		fmt.Fprint(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

type lines struct{ waiting, done []string }

func (l *lines) Waiting(f string, a ...any) { l.waiting = append(l.waiting, fmt.Sprintf(f, a...)) }
func (l *lines) Done(f string, a ...any)    { l.done = append(l.done, fmt.Sprintf(f, a...)) }

func TestHTTPFailsThenPasses(t *testing.T) {
	srv, calls := flaky(t, 3, `{"status": "ok", "version": "1.2.0"}`)
	h, err := FromSpec(v1alpha1.HTTPCheck{URL: srv.URL + "/healthz", Expr: "body.status == 'ok' && body.version == '1.2.0'", For: "10s"}, FromFlag)
	require.NoError(t, err)
	p := &lines{}
	res, err := Run(context.Background(), Checks{HTTP: []*HTTP{h}}, Env{}, Options{Interval: 10 * time.Millisecond, Progress: p})
	require.NoError(t, err)
	require.Len(t, res, 1)
	r := res[0]
	require.True(t, r.Passed, r.Message)
	require.Equal(t, 4, r.Attempts)
	require.Equal(t, int32(4), calls.Load())
	require.Equal(t, "200 OK; body.status == 'ok' && body.version == '1.2.0' is true", r.Message)
	require.Equal(t, FromFlag, r.From)
	require.Greater(t, r.Seconds, 0.0)
	require.Len(t, p.waiting, 3)
	require.Contains(t, p.waiting[0], `503 Service Unavailable, want 200: {"status": "starting"}`)
	require.Len(t, p.done, 1)
}

// The window ending while a request is in flight (a service that stops answering)
// reports what the check last found, not the deadline that cut the request short.
func TestHTTPWindowEndsDuringARequest(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) > 1 {
			<-r.Context().Done() // hangs until the client gives up
			return
		}
		_, _ = w.Write([]byte(`{"status": "degraded"}`))
	}))
	t.Cleanup(srv.Close)
	h := &HTTP{URL: srv.URL, Expr: "body.status == 'ok'", For: 500 * time.Millisecond, From: FromFlag}
	res, err := Run(context.Background(), Checks{HTTP: []*HTTP{h}}, Env{}, Options{Interval: 10 * time.Millisecond})
	require.Error(t, err)
	require.Equal(t, int32(2), calls.Load())
	require.Equal(t, 1, res[0].Attempts, "the request the window cut short is no answer")
	require.Contains(t, res[0].Message, "200 OK; body.status == 'ok' is false (gave up after 1 attempts in")

	// A first request cut short has nothing earlier to report: the deadline is the answer.
	calls.Store(1)
	res, err = Run(context.Background(), Checks{HTTP: []*HTTP{h}}, Env{}, Options{Interval: 10 * time.Millisecond})
	require.Error(t, err)
	require.Equal(t, 1, res[0].Attempts)
	require.Contains(t, res[0].Message, "context deadline exceeded")
}

func TestHTTPNeverPasses(t *testing.T) {
	srv, calls := flaky(t, 1, `{"status": "degraded"}`)
	h := &HTTP{URL: srv.URL, Expr: "body.status == 'ok'", For: time.Second, From: FromPolicy}
	res, err := Run(context.Background(), Checks{HTTP: []*HTTP{h}}, Env{}, Options{Interval: 20 * time.Millisecond})
	var failed *FailedError
	require.ErrorAs(t, err, &failed)
	require.False(t, res[0].Passed)
	require.Greater(t, calls.Load(), int32(2))
	require.Contains(t, res[0].Message, "200 OK; body.status == 'ok' is false (gave up after")
	require.GreaterOrEqual(t, res[0].Seconds, 1.0)
	require.Contains(t, err.Error(), "verification failed: http check "+srv.URL+": 200 OK; body.status == 'ok' is false")

	// An expected status other than 200, and a body that is not JSON.
	notJSON := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusAccepted)
		fmt.Fprint(w, "accepted")
	}))
	defer notJSON.Close()
	r := (&HTTP{URL: notJSON.URL, Status: 202}).Run(context.Background(), Options{Client: http.DefaultClient})
	require.True(t, r.Passed, r.Message)
	r = (&HTTP{URL: notJSON.URL, Status: 202, Expr: "body.ok", For: 50 * time.Millisecond}).Run(context.Background(), Options{Client: http.DefaultClient, Interval: 10 * time.Millisecond})
	require.False(t, r.Passed)
	require.Contains(t, r.Message, "the body is not a JSON object")
}

func TestHTTPValidate(t *testing.T) {
	_, err := FromSpec(v1alpha1.HTTPCheck{URL: "http://127.0.0.1/", Expr: "body.ok &&"}, FromFlag)
	require.ErrorContains(t, err, "failed to parse the CEL expression")
	_, err = FromSpec(v1alpha1.HTTPCheck{URL: "127.0.0.1/"}, FromFlag)
	require.ErrorContains(t, err, `check URL "127.0.0.1/": expected an http:// or https:// URL`)
	_, err = FromSpec(v1alpha1.HTTPCheck{URL: "http://x/", For: "later"}, FromFlag)
	require.ErrorContains(t, err, `for "later"`)
	_, err = FromSpec(v1alpha1.HTTPCheck{URL: "http://x/", Status: 42}, FromFlag)
	require.ErrorContains(t, err, "status 42")
}

func TestCommand(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the commands are sh")
	}
	env := Env{Target: "production", Context: "prod", Namespace: "flux-system", Kustomization: "apps",
		Revision: "main@sha1:abc", Commit: "abc", Images: []string{"ghcr.io/my-org/my-app:1.2.0", "ghcr.io/my-org/worker:2.0.0"}}
	ok := Command{Command: `test "$KUBECTL_PROMOTE_TARGET/$KUBECTL_PROMOTE_REVISION" = production/main@sha1:abc && printf '%s\n' "$KUBECTL_PROMOTE_IMAGES" | grep -c ghcr.io`, From: FromFlag}
	bad := Command{Command: "echo smoke test failed >&2; exit 3", From: FromFlag}
	res, err := Run(context.Background(), Checks{Commands: []Command{ok, bad}}, env, Options{})
	require.Error(t, err)
	require.Len(t, res, 2)
	require.True(t, res[0].Passed, res[0].Message)
	require.Equal(t, "exit 0: 2", res[0].Message)
	require.False(t, res[1].Passed)
	require.Equal(t, "exit 3: smoke test failed", res[1].Message)
	require.Equal(t, 1, res[1].Attempts)

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	r := Command{Command: "sleep 5"}.Run(ctx, env)
	require.False(t, r.Passed)
	require.Less(t, r.Seconds, 4.0)
}
