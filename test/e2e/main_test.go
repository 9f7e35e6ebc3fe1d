// Package e2e drives the built kubectl-promote through the real kubectl's plugin
// discovery against real control planes running real Flux (package plane), with the
// seed repository on a real Git server (package fleet), and asserts what Flux did in
// the clusters and what landed on the branch, not only what the CLI printed.
//
// Run with "make e2e", or "go test ./e2e" from test/ (the first run builds the plane
// binaries, about 20 minutes on 2 cores, then they are cached).
package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubectl-promote/kubectl-promote/test/plane"
)

var (
	// binDir holds kubectl and kubectl-promote, first on PATH for every run.
	binDir string
	// home is HOME for every run: a git identity, no kubeconfig, nothing else.
	home string
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	tmp, err := os.MkdirTemp("", "kubectl-promote-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	if err := setup(tmp); err != nil {
		fmt.Fprintln(os.Stderr, "e2e setup:", err)
		return 1
	}
	return m.Run()
}

func setup(tmp string) error {
	planeDir, err := planeBinaries()
	if err != nil {
		return err
	}
	os.Setenv("KUBECTL_PROMOTE_PLANE", planeDir)

	binDir = filepath.Join(tmp, "bin")
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return err
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		return err
	}
	build := exec.Command("go", "build", "-o", filepath.Join(binDir, "kubectl-promote"), "./cmd/kubectl-promote")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("build the plugin: %v\n%s", err, out)
	}
	// The kubectl built with the plane (same minor as the API server), so the suite
	// needs nothing installed but Go and git.
	if err := os.Symlink(filepath.Join(planeDir, "kubectl"), filepath.Join(binDir, "kubectl")); err != nil {
		return err
	}
	os.Setenv("PATH", binDir+string(os.PathListSeparator)+os.Getenv("PATH"))

	home = filepath.Join(tmp, "home")
	if err := os.MkdirAll(home, 0o755); err != nil {
		return err
	}
	gitconfig := "[user]\n\tname = E2E Promoter\n\temail = e2e@example.invalid\n"
	return os.WriteFile(filepath.Join(home, ".gitconfig"), []byte(gitconfig), 0o644)
}

// planeBinaries returns $KUBECTL_PROMOTE_PLANE when it holds the binaries, else runs
// test/tools/build.sh (cached; the first build takes about 20 minutes).
func planeBinaries() (string, error) {
	if dir, err := plane.BinDir(""); err == nil {
		return dir, nil
	}
	script, err := filepath.Abs("../tools/build.sh")
	if err != nil {
		return "", err
	}
	var out bytes.Buffer
	cmd := exec.Command("bash", script)
	cmd.Stdout = &out
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("test/tools/build.sh: %w", err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	return plane.BinDir(lines[len(lines)-1])
}
