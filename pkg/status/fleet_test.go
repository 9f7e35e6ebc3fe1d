package status

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/cli-runtime/pkg/genericclioptions"

	"github.com/kubectl-promote/kubectl-promote/pkg/flux"
)

// apiServer answers the Kustomization list of the metadata client with one
// Kustomization, apps, as a kube-apiserver would.
func apiServer(t *testing.T) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/kustomizations") {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"kind":"PartialObjectMetadataList","apiVersion":"meta.k8s.io/v1","metadata":{},"items":[`+
			`{"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1","metadata":{"name":"apps","namespace":"flux-system"}}]}`)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// deadServer is a listener that takes connections and answers nothing, ever: a
// cluster whose API server hangs.
func deadServer(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return "http://" + l.Addr().String()
}

// resetServer is a listener that closes every connection at once: a cluster that
// refuses.
func resetServer(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	t.Cleanup(func() { l.Close() })
	return "http://" + l.Addr().String()
}

func kubeconfig(t *testing.T, servers map[string]string) *flux.Clients {
	var b strings.Builder
	b.WriteString("apiVersion: v1\nkind: Config\nclusters:\n")
	for name, url := range servers {
		fmt.Fprintf(&b, "- name: %s\n  cluster:\n    server: %s\n", name, url)
	}
	b.WriteString("users:\n- name: u\n  user:\n    token: t\ncontexts:\n")
	for name := range servers {
		fmt.Fprintf(&b, "- name: %s\n  context:\n    cluster: %s\n    user: u\n", name, name)
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o600))
	flags := genericclioptions.NewConfigFlags(false)
	flags.KubeConfig = &path
	return flux.NewClients(flags)
}

// One dead cluster (hanging) and one refusing are one error each; the hundred live
// ones are listed all the same (FleetConcurrency at a time), and the hanging one
// costs ContextTimeout, not more than the live ones alone take (measured first, so
// the bound follows the machine's load). The timeout leaves a live cluster room on a
// loaded machine under -race (at 2s, a load of 12 timed out live ones too).
func TestFleetEnvsDeadContextIsOneError(t *testing.T) {
	old := ContextTimeout
	ContextTimeout = 6 * time.Second
	t.Cleanup(func() { ContextTimeout = old })
	servers := map[string]string{"dead": deadServer(t), "refusing": resetServer(t)}
	server := apiServer(t)
	var contexts []string
	for i := range 100 {
		name := fmt.Sprintf("c-%02d", i)
		servers[name] = server
		contexts = append(contexts, name)
	}
	clients := kubeconfig(t, servers)
	ctx, cancel := context.WithTimeout(t.Context(), 120*time.Second)
	defer cancel()

	// The live ones alone, as a yardstick for this machine's load.
	start := time.Now()
	envs, failed := FleetEnvs(ctx, clients, contexts, "", "")
	alone := time.Since(start)
	require.Empty(t, failed)
	require.Len(t, envs, 100)

	contexts = append([]string{"dead"}, append(contexts, "refusing")...)
	start = time.Now()
	envs, failed = FleetEnvs(ctx, clients, contexts, "", "")
	elapsed := time.Since(start)

	for _, f := range failed {
		t.Log(f)
	}
	require.Len(t, envs, 100, "every live cluster reports")
	assert.Equal(t, "c-00/flux-system/apps", envs[0].Raw)
	require.Len(t, failed, 2)
	assert.Equal(t, "dead", failed[0].Context)
	assert.Contains(t, failed[0].Error(), "context dead: the API server did not answer within 6s")
	assert.Equal(t, "refusing", failed[1].Context)
	assert.NotContains(t, failed[1].Error(), "\n", "one line")
	assert.Less(t, elapsed, 2*alone+ContextTimeout+5*time.Second, "the dead cluster adds its timeout at most (the live ones took %s alone)", alone)
}
