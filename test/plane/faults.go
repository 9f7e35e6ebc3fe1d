package plane

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"time"
)

// Components a fault-injection test may stop and start again.
const (
	KubeAPIServer       = "kube-apiserver"
	SourceController    = "source-controller"
	KustomizeController = "kustomize-controller"

	kwokComponent = "kwok"
)

// component is the running (or last) process of the component named name.
func (p *Plane) component(name string) (*process, int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := len(p.procs) - 1; i >= 0; i-- {
		if p.procs[i].name == name {
			return p.procs[i], i, nil
		}
	}
	return nil, 0, fmt.Errorf("plane %s has no component %q", p.opts.Name, name)
}

// StopComponent kills one component (SIGKILL, as a crash or an OOM kill would) and
// waits for it to end; the rest of the plane keeps running. StartComponent brings it
// back.
func (p *Plane) StopComponent(name string) error {
	pr, _, err := p.component(name)
	if err != nil {
		return err
	}
	_ = syscall.Kill(-pr.cmd.Process.Pid, syscall.SIGKILL)
	<-pr.done
	return nil
}

// StartComponent starts a stopped (or killed) component again with its original
// command line, ports and state, and waits until it serves: the API server's
// /readyz, a Flux controller's /readyz.
func (p *Plane) StartComponent(ctx context.Context, name string) error {
	old, i, err := p.component(name)
	if err != nil {
		return err
	}
	if done, _ := old.exited(); !done {
		return fmt.Errorf("%s of plane %s is still running", name, p.opts.Name)
	}
	pr, err := startProcess(context.Background(), name, p.LogDir(), old.cmd.Env, old.cmd.Path, old.cmd.Args[1:]...)
	if err != nil {
		return err
	}
	p.mu.Lock()
	stopped := p.stopped
	p.procs[i] = pr
	p.mu.Unlock()
	if stopped {
		pr.stop(time.Second)
		return fmt.Errorf("plane %s is stopped", p.opts.Name)
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if name == KubeAPIServer {
		if err := poll(ctx, name, []*process{pr}, httpOK(p.adminHTTP(), p.serverURL+"/readyz")); err != nil {
			return err
		}
		// kwok, unlike a kubelet, takes a minute or more to watch again after the API
		// server came back (measured: a rollout's new pods were left unready for 90 s,
		// past their progress deadline). It keeps no state of its own, so it is
		// restarted with the API server.
		//
		// The Flux controllers, likewise, are not reliably back by themselves: every
		// reconcile that failed while the server was away doubled its object's retry
		// delay, and kustomize-controller was seen deaf to its GitRepository's new
		// revision for over four minutes after a restart. They keep their state in
		// the cluster (and source-controller its artifacts on disk), so the ones
		// running are restarted too: what the fault tests measure is kubectl promote
		// facing an API server outage, not how Flux recovers from one.
		for _, c := range []string{kwokComponent, SourceController, KustomizeController} {
			pr, _, err := p.component(c)
			if err != nil {
				continue // a plane without Flux
			}
			if done, _ := pr.exited(); done && c != kwokComponent {
				continue // stopped on purpose by the test; it starts it itself
			}
			if err := p.StopComponent(c); err != nil {
				return err
			}
			if err := p.StartComponent(ctx, c); err != nil {
				return err
			}
		}
		return nil
	}
	for _, a := range old.cmd.Args[1:] {
		if addr, ok := strings.CutPrefix(a, "--health-addr="); ok {
			return poll(ctx, name, []*process{pr}, httpOK(plainClient, "http://"+addr+"/readyz"))
		}
	}
	return nil
}
