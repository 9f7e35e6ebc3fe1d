package reconcile

import (
	"context"
	"time"

	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubectl-promote/kubectl-promote/pkg/flux"
)

// watcher re-evaluates a condition whenever an object of a kind changes in a namespace.
type watcher struct {
	cluster *flux.Cluster
}

// resync bounds how long a lost watch event can delay us; events drive the wait.
const resync = 5 * time.Second

// until evaluates done now and after every watch event on list's kind in namespace,
// until it returns true or an error, or ctx ends.
func (w watcher) until(ctx context.Context, list client.ObjectList, namespace string, done func() (bool, error)) error {
	for {
		// Open the watch before evaluating so no change between the two is missed.
		wi, werr := w.cluster.Client.Watch(ctx, list, client.InNamespace(namespace))
		ok, err := done()
		if err != nil || ok {
			if wi != nil {
				wi.Stop()
			}
			return err
		}
		var events <-chan watch.Event // nil (never ready) when the watch failed: resync polls
		if werr == nil {
			events = wi.ResultChan()
		}
		timer := time.NewTimer(resync)
	inner:
		for {
			select {
			case <-ctx.Done():
				timer.Stop()
				if wi != nil {
					wi.Stop()
				}
				return ctx.Err()
			case _, open := <-events:
				if !open {
					break inner
				}
				if ok, err := done(); err != nil || ok {
					timer.Stop()
					wi.Stop()
					return err
				}
			case <-timer.C:
				break inner
			}
		}
		if wi != nil {
			wi.Stop()
		}
	}
}
