//go:build release

package release

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// tools are the release tools, built from test/tools/release.
type tools struct {
	goreleaser, krew, validateKrewManifest string
}

var (
	toolsOnce sync.Once
	toolsDir  string
	toolsErr  error
)

// releaseTools builds goreleaser, krew and validate-krew-manifest from the tools module
// through the Go module proxy, once per machine: the binaries are kept under
// ${KUBECTL_PROMOTE_CACHE:-$HOME/.cache/kubectl-promote}/release/<hash of go.mod and
// go.sum>/, so a change of version rebuilds and anything else reuses them.
func releaseTools(t *testing.T) tools {
	t.Helper()
	toolsOnce.Do(func() { toolsDir, toolsErr = buildTools() })
	if toolsErr != nil {
		t.Fatalf("building the release tools: %v", toolsErr)
	}
	return tools{
		goreleaser:           filepath.Join(toolsDir, "goreleaser"),
		krew:                 filepath.Join(toolsDir, "krew"),
		validateKrewManifest: filepath.Join(toolsDir, "validate-krew-manifest"),
	}
}

func buildTools() (string, error) {
	module := filepath.Join(repoRoot, "test", "tools", "release")
	h := sha256.New()
	for _, f := range []string{"go.mod", "go.sum"} {
		b, err := os.ReadFile(filepath.Join(module, f))
		if err != nil {
			return "", err
		}
		h.Write(b)
	}
	cache := os.Getenv("KUBECTL_PROMOTE_CACHE")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", err
		}
		cache = filepath.Join(home, ".cache", "kubectl-promote")
	}
	dir := filepath.Join(cache, "release", hex.EncodeToString(h.Sum(nil))[:16])
	if _, err := os.Stat(filepath.Join(dir, "validate-krew-manifest")); err == nil {
		logf("release tools: cached in %s", dir)
		return dir, nil
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".build-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	logf("release tools: building goreleaser and krew into %s (minutes, once)", dir)
	cmd := exec.Command("go", "build", "-o", tmp+string(filepath.Separator),
		"github.com/goreleaser/goreleaser/v2",
		"sigs.k8s.io/krew/cmd/krew",
		"sigs.k8s.io/krew/cmd/validate-krew-manifest")
	cmd.Dir = module
	cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local", "GOFLAGS=-mod=readonly")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("%v in %s:\n%s", err, module, out)
	}
	if err := os.Rename(tmp, dir); err != nil && !isExist(dir) {
		return "", err
	}
	return dir, nil
}

func isExist(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
