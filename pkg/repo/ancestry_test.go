package repo

import (
	"context"
	"errors"
	"testing"
	"time"
)

// An operation that ignores its context (go-git's SSH handshake) is abandoned
// transportGrace after the context ends, so --timeout bounds the command.
func TestBoundedAbandonsAnOperationThatIgnoresItsContext(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	release := make(chan struct{})
	defer close(release)
	start := time.Now()
	err := bounded(ctx, newNetGate(), func(context.Context) error { <-release; return nil })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the deadline", err)
	}
	if d := time.Since(start); d > transportGrace+time.Second {
		t.Fatalf("returned after %s, want about %s", d, 100*time.Millisecond+transportGrace)
	}
	// One that returns in time keeps its own result.
	want := errors.New("refused")
	if err := bounded(context.Background(), newNetGate(), func(context.Context) error { return want }); err != want {
		t.Fatalf("err = %v, want %v", err, want)
	}
}

// An abandoned operation keeps the repository's gate until it ends: the next one
// waits for it (or for its own context) instead of running beside it.
func TestBoundedSerialisesAfterAnAbandonedOperation(t *testing.T) {
	gate := newNetGate()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	release := make(chan struct{})
	err := bounded(ctx, gate, func(context.Context) error { <-release; return nil })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the deadline", err)
	}
	short, cancelShort := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancelShort()
	ran := false
	if err := bounded(short, gate, func(context.Context) error { ran = true; return nil }); !errors.Is(err, context.DeadlineExceeded) || ran {
		t.Fatalf("err = %v, ran = %v: the second operation ran beside the abandoned one", err, ran)
	}
	close(release)
	if err := bounded(context.Background(), gate, func(context.Context) error { return nil }); err != nil {
		t.Fatalf("after the abandoned operation ended: %v", err)
	}
}
