package reconcile

import (
	"context"
	"errors"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubectl-promote/kubectl-promote/pkg/flux"
)

// watcher re-evaluates a condition whenever an object of a kind changes in a
// namespace, through client-go's UntilWithSync (an informer: it re-lists after a lost
// watch and retries an unreachable API server with backoff).
type watcher struct {
	cluster *flux.Cluster
	// lastErr is the last transient API error a condition met, for the timeout message.
	lastErr error
	// recovered, if set, runs when a condition succeeds again after a transient API
	// error: the API server is back.
	recovered func(context.Context)
}

// resync bounds how long a change the watch cannot see (an object in another
// namespace, another kind) can delay us: the informer is restarted, and the condition
// evaluated again, this often. Events on the watched kind end the wait at once.
const resync = 5 * time.Second

// until evaluates done once the informer has synced and after every event on obj's
// kind in namespace, until done returns true or an error, or ctx ends. A transient API
// error inside done (the server unreachable, a timeout, a 5xx) is remembered and
// retried; any other error ends the wait.
func (w *watcher) until(ctx context.Context, list client.ObjectList, obj runtime.Object, namespace string, done func(context.Context) (bool, error)) error {
	c := w.cluster.Client
	lw := listThenWatch{&cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			l := list.DeepCopyObject().(client.ObjectList)
			return l, c.List(ctx, l, &client.ListOptions{Namespace: namespace, Raw: &opts})
		},
		WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
			return c.Watch(ctx, list.DeepCopyObject().(client.ObjectList), &client.ListOptions{Namespace: namespace, Raw: &opts})
		},
	}}
	eval := func() (bool, error) {
		ok, err := done(ctx)
		if err != nil && transient(err) {
			w.lastErr = err
			return false, nil
		}
		if err == nil {
			was := w.lastErr
			w.lastErr = nil
			if was != nil && w.recovered != nil && !ok {
				w.recovered(ctx)
			}
		}
		return ok, err
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		round, cancel := context.WithTimeout(ctx, resync)
		_, err := watchtools.UntilWithSync(round, lw, obj,
			func(cache.Store) (bool, error) { return eval() },
			func(watch.Event) (bool, error) { return eval() })
		ended := round.Err() != nil
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !ended && !errors.Is(err, watchtools.ErrWatchClosed) {
			return err // the condition's own error
		}
		// The round ended (resync, or the cache could not sync while the API server
		// is unreachable): evaluate again in a new one. A failing evaluation
		// outside the informer is remembered for the timeout message.
		if ok, err := eval(); err != nil || ok {
			return err
		}
	}
}

// listThenWatch makes the informer list, then watch, instead of asking for a
// streaming watch-list: every API server and controller-runtime's fake client
// answer that, and our lists are a namespace of Flux objects, small.
type listThenWatch struct{ *cache.ListWatch }

func (listThenWatch) IsWatchListSemanticsUnSupported() bool { return true }

// transient says an API error may go away by itself: the server unreachable or
// overloaded, a timeout. Forbidden, NotFound and the like are not.
func transient(err error) bool {
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		return apierrors.IsServerTimeout(err) || apierrors.IsTimeout(err) || apierrors.IsTooManyRequests(err) ||
			apierrors.IsInternalError(err) || apierrors.IsServiceUnavailable(err) || apierrors.IsUnexpectedServerError(err)
	}
	var failed *FailedError
	var superseded *SupersededError
	if errors.As(err, &failed) || errors.As(err, &superseded) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	// Not an API status: a connection refused or reset, a TLS or DNS failure.
	return true
}
