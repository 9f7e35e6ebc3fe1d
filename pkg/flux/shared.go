package flux

import (
	"context"
	"reflect"
	"sync"

	"sigs.k8s.io/controller-runtime/pkg/client"
)

// sharedReadsKey is the context key of a *sharedReads.
type sharedReadsKey struct{}

// sharedReads holds the reads made once for everyone who asks within one context:
// the targets of a fleet mostly read one GitRepository per cluster, and a hundred
// of them asking for it a hundred times spent the client's rate limit (and the API
// server's time) on the same answer.
type sharedReads struct {
	mu    sync.Mutex
	reads map[string]*sharedRead
}

type sharedRead struct {
	once sync.Once
	v    any
	err  error
}

// WithSharedReads returns a context in which the sources of Kustomizations (Load,
// SourceOf, OCISourceOf) are read once per cluster and object, and Shared calls
// once per key, however many environments ask. It is for one look at a fleet (the
// reading of its targets and their gates), never for a wait that must see an
// object change.
func WithSharedReads(ctx context.Context) context.Context {
	return context.WithValue(ctx, sharedReadsKey{}, &sharedReads{reads: map[string]*sharedRead{}})
}

// Shared is read() made once per key in a context of WithSharedReads (every caller
// gets the first one's result), and simply read() in any other.
func Shared[T any](ctx context.Context, key string, read func() (T, error)) (T, error) {
	s, _ := ctx.Value(sharedReadsKey{}).(*sharedReads)
	if s == nil {
		return read()
	}
	s.mu.Lock()
	r := s.reads[key]
	if r == nil {
		r = &sharedRead{}
		s.reads[key] = r
	}
	s.mu.Unlock()
	r.once.Do(func() { r.v, r.err = read() })
	v, _ := r.v.(T)
	return v, r.err
}

// getShared gets the object key of cluster into obj, once per context of
// WithSharedReads (each caller gets its own copy).
func getShared(ctx context.Context, cluster *Cluster, key client.ObjectKey, obj client.Object) error {
	got, err := Shared(ctx, "get\x00"+cluster.Context+"\x00"+reflect.TypeOf(obj).String()+"\x00"+key.String(), func() (client.Object, error) {
		fresh := obj.DeepCopyObject().(client.Object)
		return fresh, cluster.Client.Get(ctx, key, fresh)
	})
	if err != nil {
		return err
	}
	reflect.ValueOf(obj).Elem().Set(reflect.ValueOf(got.DeepCopyObject()).Elem())
	return nil
}
