package plane

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// process is one component of the plane, run in its own process group so that
// stopping it also stops anything it started, and with a parent-death signal so that
// a test binary that panics or is killed takes it along.
type process struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	log     *os.File
	done    chan struct{}
	err     error // valid after done is closed
}

func startProcess(ctx context.Context, name, logDir string, env []string, bin string, args ...string) (*process, error) {
	logPath := filepath.Join(logDir, name+".log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(f, "# %s %s\n", bin, strings.Join(args, " "))
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout = f
	cmd.Stderr = f
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	// On context cancellation kill the whole group, not only the leader.
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, logPath: logPath, log: f, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	return p, nil
}

// exited reports whether the process has ended, and why.
func (p *process) exited() (bool, error) {
	select {
	case <-p.done:
		if p.err == nil {
			return true, fmt.Errorf("%s exited", p.name)
		}
		return true, fmt.Errorf("%s exited: %w", p.name, p.err)
	default:
		return false, nil
	}
}

// stop sends SIGTERM to the process group, then SIGKILL if it has not ended within
// grace, and waits for it.
func (p *process) stop(grace time.Duration) {
	if p == nil {
		return
	}
	if done, _ := p.exited(); done {
		return
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
	// Anything left in the group (none expected) goes too.
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
}

// tail returns the last n lines of the process's log.
func (p *process) tail(n int) string {
	return tailFile(p.logPath, n)
}

func tailFile(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := bytes.Split(bytes.TrimRight(data, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// freePorts returns n distinct free TCP ports on 127.0.0.1. The listeners are held
// until all ports are picked so the same port is not returned twice.
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// holdPorts waits until the process (or its process group) listens on every one of
// ports. It fails at once with a *PortCollisionError when another process listens on
// one of them, or when the process ended after failing to bind one, so that Start
// retries with new ports instead of letting the plane talk to someone else's server.
func (p *process) holdPorts(ctx context.Context, ports ...int) error {
	pending := ports
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		var next []int
		for _, port := range pending {
			st, err := portOwner("/proc", p.cmd.Process.Pid, port)
			if err != nil {
				return fmt.Errorf("%s: checking port %d: %w", p.name, port, err)
			}
			switch st {
			case portOurs:
			case portForeign:
				holder, _ := FindPortHolder(port)
				return &PortCollisionError{Component: p.name, Port: port, Holder: holder}
			default:
				next = append(next, port)
			}
		}
		if len(next) == 0 {
			return nil
		}
		pending = next
		if done, err := p.exited(); done {
			if strings.Contains(p.tail(50), "address already in use") {
				holder, _ := FindPortHolder(pending[0])
				return &PortCollisionError{Component: p.name, Port: pending[0], Holder: holder}
			}
			return fmt.Errorf("%w before listening on port(s) %v\n--- %s ---\n%s", err, pending, p.logPath, p.tail(30))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s never listened on port(s) %v: %w", p.name, pending, context.Cause(ctx))
		case <-t.C:
		}
	}
}

// retryOnCollision calls start until it succeeds, fails otherwise than by a port
// collision, or maxStartAttempts are used up; each abandoned attempt's log
// (dir/name.log) is kept as dir/name.attempt-N.log.
func retryOnCollision(ctx context.Context, dir, name string, start func() error) error {
	for attempt := 1; ; attempt++ {
		err := start()
		var collision *PortCollisionError
		if err == nil || attempt == maxStartAttempts || ctx.Err() != nil || !errors.As(err, &collision) {
			return err
		}
		_ = os.Rename(filepath.Join(dir, name+".log"), filepath.Join(dir, fmt.Sprintf("%s.attempt-%d.log", name, attempt)))
	}
}

// poll calls check until it returns nil, ctx ends, or one of the watched processes
// exits (whose log tail is then part of the error).
func poll(ctx context.Context, what string, procs []*process, check func(context.Context) error) error {
	var last error
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		last = check(cctx)
		cancel()
		if last == nil {
			return nil
		}
		for _, p := range procs {
			if done, err := p.exited(); done {
				return fmt.Errorf("waiting for %s: %w\n--- %s ---\n%s", what, err, p.logPath, p.tail(30))
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w (last error: %v)", what, context.Cause(ctx), last)
		case <-t.C:
		}
	}
}

// stopAll stops processes in reverse start order, in parallel within the given batches.
func stopAll(procs []*process) {
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.stop(5 * time.Second)
		}()
	}
	wg.Wait()
}

var errNotYet = errors.New("not yet")

func readAll(r io.Reader) string {
	b, _ := io.ReadAll(io.LimitReader(r, 4096))
	return string(b)
}
