package repo

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/kubectl-promote/kubectl-promote/internal/gitserver"
)

// BenchmarkCommitAndPush measures one promotion round trip (fetch, checkout, commit,
// push) against a local git-http-backend.
func BenchmarkCommitAndPush(b *testing.B) {
	f := newFixture(b, gitserver.Options{})
	r := f.open(b, Options{})
	for i := 0; b.Loop(); i++ {
		_, err := r.CommitAndPush(context.Background(), "main", func(ctx context.Context, head, dir string) (*CommitSpec, error) {
			writeFile(b, dir, productionFile, stagingYAML(fmt.Sprintf("1.%d.0", i)))
			return &CommitSpec{Message: "promote", Author: testAuthor}, nil
		}, PushOptions{})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOpen measures a fresh temporary clone.
func BenchmarkOpen(b *testing.B) {
	f := newFixture(b, gitserver.Options{})
	for b.Loop() {
		r, err := Open(context.Background(), Options{URL: f.url})
		if err != nil {
			b.Fatal(err)
		}
		r.Close()
	}
}

// BenchmarkCheckout measures writing a revision's tree to a directory.
func BenchmarkCheckout(b *testing.B) {
	f := newFixture(b, gitserver.Options{})
	r := f.open(b, Options{})
	base := b.TempDir()
	i := 0
	for b.Loop() {
		i++
		if err := r.Checkout(context.Background(), f.seed, filepath.Join(base, fmt.Sprint(i))); err != nil {
			b.Fatal(err)
		}
	}
}
