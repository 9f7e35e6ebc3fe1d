package review

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// exchange is one recorded API request and the host's answer. Requests are matched
// in order on method, path (escaped, as sent) and, when recorded, the query
// parameters and JSON body fields given; the answer is replayed as recorded.
type exchange struct {
	Request struct {
		Method string            `json:"method"`
		Path   string            `json:"path"`
		Query  map[string]string `json:"query,omitempty"`
		Body   map[string]any    `json:"body,omitempty"`
	} `json:"request"`
	Response struct {
		Status int               `json:"status"`
		Header map[string]string `json:"header,omitempty"`
		Body   json.RawMessage   `json:"body"`
	} `json:"response"`
}

// replay serves the exchanges of testdata/name.json, in order, checking that every
// request carries want as its Authorization header; it fails the test on any
// request it did not expect, and at cleanup on exchanges never requested. The
// client it returns sends every request, whatever its host, to the server.
func replay(t *testing.T, name, auth string) *http.Client {
	t.Helper()
	data, err := os.ReadFile("testdata/" + name + ".json")
	require.NoError(t, err)
	var xs []exchange
	require.NoError(t, json.Unmarshal(data, &xs))
	var mu sync.Mutex
	next := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if next >= len(xs) {
			t.Errorf("unexpected request %s %s", r.Method, r.URL.EscapedPath())
			http.Error(w, "unexpected", http.StatusTeapot)
			return
		}
		x := xs[next]
		next++
		if r.Method != x.Request.Method || r.URL.EscapedPath() != x.Request.Path {
			t.Errorf("request %d: got %s %s, recorded %s %s", next, r.Method, r.URL.EscapedPath(), x.Request.Method, x.Request.Path)
		}
		if got := r.Header.Get("Authorization"); got != auth && r.Header.Get("Private-Token") != auth {
			t.Errorf("request %d: no token (Authorization %q)", next, got)
		}
		for k, v := range x.Request.Query {
			if got := r.URL.Query().Get(k); got != v {
				t.Errorf("request %d: query %s=%q, recorded %q", next, k, got, v)
			}
		}
		if len(x.Request.Body) > 0 {
			b, _ := io.ReadAll(r.Body)
			var got map[string]any
			if err := json.Unmarshal(b, &got); err != nil {
				t.Errorf("request %d: body %q: %v", next, b, err)
			}
			for k, v := range x.Request.Body {
				require.Equal(t, v, got[k], "request %d: body field %s", next, k)
			}
		}
		w.Header().Set("Content-Type", "application/json")
		for k, v := range x.Response.Header {
			w.Header().Set(k, strings.ReplaceAll(v, "{{server}}", "http://"+r.Host))
		}
		w.WriteHeader(x.Response.Status)
		_, _ = w.Write(x.Response.Body)
	}))
	t.Cleanup(func() {
		srv.Close()
		mu.Lock()
		defer mu.Unlock()
		if next != len(xs) {
			t.Errorf("%s: %d of %d recorded exchanges were not requested", name, len(xs)-next, len(xs))
		}
	})
	target, _ := url.Parse(srv.URL)
	return &http.Client{Transport: redirect{target: target}}
}

// redirect sends every request to target, keeping its path and query.
type redirect struct{ target *url.URL }

func (r redirect) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.URL.Scheme, req.URL.Host = r.target.Scheme, r.target.Host
	return http.DefaultTransport.RoundTrip(req)
}
