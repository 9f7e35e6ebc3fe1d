package fleet

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"
)

// ProxyMode is how a GitProxy treats the requests it gets.
type ProxyMode int

const (
	// ProxyUp forwards every request to the Git server.
	ProxyUp ProxyMode = iota
	// ProxyDown closes the listening socket: connections are refused.
	ProxyDown
	// ProxyHang accepts connections and never answers (a server that froze).
	ProxyHang
	// ProxyHangAfterPush forwards everything until the server took a push (the ref
	// moved); then it freezes (ProxyHang): neither that push nor anything later is
	// answered.
	ProxyHangAfterPush
	// ProxyDropAfterPush forwards everything, but after the server took a push
	// closes the connection instead of answering: the pusher never hears that the
	// ref moved. With DownAfterPush the proxy then goes down too.
	ProxyDropAfterPush
)

// GitProxy sits between everyone (Flux and kubectl-promote) and the Git server, on a
// port of its own, so that a test can take the Git host down, freeze it, or lose the
// answer to a push, and bring it back on the same URL.
type GitProxy struct {
	addr  string
	proxy *httputil.ReverseProxy

	mu            sync.Mutex
	mode          ProxyMode
	listener      net.Listener
	server        *http.Server
	release       chan struct{} // closed to free hanging requests
	onPush        func()
	beforePush    func()
	downAfterPush bool
	downAtPush    bool
	pushes        int
}

func startGitProxy(target string) (*GitProxy, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	u.Path = ""
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &GitProxy{addr: l.Addr().String(), proxy: httputil.NewSingleHostReverseProxy(u), release: make(chan struct{})}
	p.serve(l)
	return p, nil
}

// URL is the proxy's base URL.
func (p *GitProxy) URL() string { return "http://" + p.addr }

func (p *GitProxy) serve(l net.Listener) {
	p.listener = l
	p.server = &http.Server{Handler: http.HandlerFunc(p.handle), ReadHeaderTimeout: 30 * time.Second}
	go func() { _ = p.server.Serve(l) }()
}

// SetMode switches the proxy's behaviour; requests already hanging are released
// (their connections closed) when the mode leaves a hanging one.
func (p *GitProxy) SetMode(m ProxyMode) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if m == p.mode {
		return nil
	}
	prev := p.mode
	p.mode = m
	if prev == ProxyHang || prev == ProxyHangAfterPush || m == ProxyUp {
		close(p.release)
		p.release = make(chan struct{})
	}
	switch {
	case m == ProxyDown:
		err := p.server.Close()
		p.listener = nil
		return err
	case prev == ProxyDown:
		l, err := net.Listen("tcp", p.addr)
		if err != nil {
			return err
		}
		p.serve(l)
	}
	return nil
}

// BeforePush, when set, runs when a push arrives and before the Git server sees it:
// the moment another pusher can still get in first. It runs once, then is cleared.
func (p *GitProxy) BeforePush(fn func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.beforePush = fn
}

// OnPush, when set, runs after the Git server took a push and before its answer goes
// back to the pusher: the moment a push has landed but the pusher does not know yet.
func (p *GitProxy) OnPush(fn func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.onPush = fn
}

// DownAfterPush makes ProxyDropAfterPush also take the proxy down once it dropped
// the answer, so that the pusher cannot read the branch back either.
func (p *GitProxy) DownAfterPush(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.downAfterPush = down
}

// DownAtPush makes the proxy go down (refuse connections) when a pusher asks for
// the server's refs to push to, before any pack is sent: the Git host gone between
// the fetch and the push.
func (p *GitProxy) DownAtPush(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.downAtPush = down
}

// Pushes is how many pushes the Git server took through the proxy.
func (p *GitProxy) Pushes() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pushes
}

func (p *GitProxy) state() (ProxyMode, chan struct{}, func(), bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mode, p.release, p.onPush, p.downAfterPush
}

// takeDownAtPush takes the proxy down if DownAtPush asked for it, dropping the
// request's connection with the others.
func (p *GitProxy) takeDownAtPush() bool {
	p.mu.Lock()
	down := p.downAtPush
	p.mu.Unlock()
	if down {
		_ = p.SetMode(ProxyDown)
	}
	return down
}

func (p *GitProxy) handle(w http.ResponseWriter, r *http.Request) {
	mode, release, onPush, downAfter := p.state()
	if r.URL.Query().Get("service") == "git-receive-pack" && p.takeDownAtPush() {
		return
	}
	if mode == ProxyHang {
		hang(w, r, release)
		return
	}
	push := r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/git-receive-pack")
	if !push {
		p.proxy.ServeHTTP(w, r)
		return
	}
	p.mu.Lock()
	before := p.beforePush
	p.beforePush = nil
	p.mu.Unlock()
	if before != nil {
		before()
	}
	// A push: let the server take it completely, then decide what the pusher hears.
	rec := &recorder{header: http.Header{}}
	p.proxy.ServeHTTP(rec, r)
	p.mu.Lock()
	p.pushes++
	p.mu.Unlock()
	if onPush != nil {
		onPush()
	}
	switch mode {
	case ProxyHangAfterPush:
		// The whole server freezes: this answer and every later request hang.
		p.mu.Lock()
		if p.mode == ProxyHangAfterPush {
			p.mode = ProxyHang
		}
		p.mu.Unlock()
		hang(w, r, release)
		return
	case ProxyDropAfterPush:
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
			}
		}
		if downAfter {
			go func() { _ = p.SetMode(ProxyDown) }()
		}
		return
	}
	for k, v := range rec.header {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.status())
	_, _ = w.Write(rec.body)
}

// hang holds a request without answering until release is closed or the client
// gives up, then drops the connection.
func hang(w http.ResponseWriter, r *http.Request, release chan struct{}) {
	_, _ = io.Copy(io.Discard, r.Body)
	select {
	case <-release:
	case <-r.Context().Done():
	}
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			conn.Close()
		}
	}
}

// recorder keeps a whole response so the proxy can choose to deliver it or not.
type recorder struct {
	header http.Header
	code   int
	body   []byte
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
}
func (r *recorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	r.body = append(r.body, b...)
	return len(b), nil
}
func (r *recorder) status() int {
	if r.code == 0 {
		return http.StatusOK
	}
	return r.code
}

// Close stops the proxy and frees hanging requests.
func (p *GitProxy) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	close(p.release)
	p.release = make(chan struct{})
	if p.mode == ProxyDown {
		return nil
	}
	p.mode = ProxyDown
	err := p.server.Close()
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}
