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
	err := bounded(ctx, func(context.Context) error { <-release; return nil })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the deadline", err)
	}
	if d := time.Since(start); d > transportGrace+time.Second {
		t.Fatalf("returned after %s, want about %s", d, 100*time.Millisecond+transportGrace)
	}
	// One that returns in time keeps its own result.
	want := errors.New("refused")
	if err := bounded(context.Background(), func(context.Context) error { return want }); err != want {
		t.Fatalf("err = %v, want %v", err, want)
	}
}
