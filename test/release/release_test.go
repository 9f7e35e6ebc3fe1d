//go:build release

// Package release proves the release with the real tools: goreleaser checks its
// configuration and builds a snapshot for every platform, krew's validator accepts the
// manifests, krew installs the snapshot, and kubectl finds the plugin and completes its
// flags through kubectl_complete-promote. Run it with `make release-check`, or:
//
//	go test -tags release -count=1 -timeout 60m -v ./test/release/
//
// The tools are built from test/tools/release through the Go module proxy, once per
// machine. goreleaser runs in a temporary copy of the work tree with a throwaway
// commit and tag, never in the work tree's own Git repository, and without network
// (in a network namespace of its own where the machine allows one).
package release

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	// repoRoot is the work tree under test.
	repoRoot string
	// scratch holds the snapshot and everything the tests install; removed at the end
	// unless KUBECTL_PROMOTE_KEEP is set.
	scratch string
)

func TestMain(m *testing.M) {
	var err error
	if repoRoot, err = filepath.Abs(filepath.Join("..", "..")); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if scratch, err = os.MkdirTemp("", "kubectl-promote-release-"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	if os.Getenv("KUBECTL_PROMOTE_KEEP") != "" {
		fmt.Fprintf(os.Stderr, "kept %s\n", scratch)
	} else {
		_ = os.RemoveAll(scratch)
	}
	os.Exit(code)
}

// logf reports progress of the slow steps as they happen, also without -v.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().UTC().Format("15:04:05")}, args...)...)
}

// snapshotTag is the throwaway tag of the copy goreleaser builds; its snapshot version
// is the next patch, v0.0.1-snapshot.
const snapshotTag = "v0.0.0"

// snapshotResult is goreleaser's snapshot of the work tree.
type snapshotResult struct {
	dist    string // goreleaser's dist directory
	version string // the snapshot's version, with its "v"
}

var (
	snapOnce sync.Once
	snap     snapshotResult
	snapErr  error
)

// snapshot runs `goreleaser release --snapshot --clean` once, in a copy of the work
// tree with a throwaway commit, and returns its dist directory.
func snapshot(t *testing.T) snapshotResult {
	t.Helper()
	tl := releaseTools(t)
	snapOnce.Do(func() { snap, snapErr = buildSnapshot(tl) })
	if snapErr != nil {
		t.Fatalf("goreleaser snapshot: %v", snapErr)
	}
	return snap
}

func buildSnapshot(tl tools) (snapshotResult, error) {
	src := filepath.Join(scratch, "src")
	if err := copyWorkTree(repoRoot, src); err != nil {
		return snapshotResult{}, fmt.Errorf("copying the work tree: %w", err)
	}
	gitEnv := []string{
		"GIT_AUTHOR_NAME=release-check", "GIT_AUTHOR_EMAIL=release-check@localhost",
		"GIT_COMMITTER_NAME=release-check", "GIT_COMMITTER_EMAIL=release-check@localhost",
		"GIT_CONFIG_NOSYSTEM=1", "HOME=" + scratch,
	}
	for _, args := range [][]string{
		{"init", "-q", "-b", "main"},
		// goreleaser reads the commit only when a remote is configured; nothing is
		// fetched from it.
		{"remote", "add", "origin", "https://github.com/kubectl-promote/kubectl-promote.git"},
		{"add", "-A"},
		{"commit", "-q", "--no-verify", "-m", "release-check snapshot"},
		{"tag", snapshotTag},
	} {
		if out, err := run(src, gitEnv, "git", args...); err != nil {
			return snapshotResult{}, fmt.Errorf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	// Everything the build needs comes into the module cache first, through the
	// proxy; goreleaser then runs with the proxy off.
	if out, err := run(src, nil, "go", "mod", "download"); err != nil {
		return snapshotResult{}, fmt.Errorf("go mod download: %v\n%s", err, out)
	}

	args := []string{tl.goreleaser, "release", "--snapshot", "--clean", "--parallelism", "2"}
	network := "offline (GOPROXY=off)"
	if _, err := run(src, nil, "unshare", "--net", "true"); err == nil {
		args = append([]string{"unshare", "--net"}, args...)
		network = "offline (GOPROXY=off, own network namespace)"
	}
	logf("goreleaser snapshot: building 6 platforms in %s, %s", src, network)
	start := time.Now()
	// HOME stays: Go's module and build caches live under it.
	env := []string{"GOPROXY=off", "GOTOOLCHAIN=local", "GOFLAGS=-mod=readonly"}
	out, err := run(src, env, args[0], args[1:]...)
	logPath := filepath.Join(scratch, "goreleaser.log")
	_ = os.WriteFile(logPath, out, 0o644)
	if err != nil {
		return snapshotResult{}, fmt.Errorf("%v (log in %s, kept with KUBECTL_PROMOTE_KEEP=1):\n%s", err, logPath, tail(out, 40))
	}
	logf("goreleaser snapshot: done in %s", time.Since(start).Round(time.Second))

	dist := filepath.Join(src, "dist")
	var meta struct {
		Version string `json:"version"`
	}
	b, err := os.ReadFile(filepath.Join(dist, "metadata.json"))
	if err != nil {
		return snapshotResult{}, err
	}
	if err := json.Unmarshal(b, &meta); err != nil {
		return snapshotResult{}, err
	}
	return snapshotResult{dist: dist, version: "v" + meta.Version}, nil
}

// copyWorkTree copies what Git would commit from the work tree (tracked files and
// untracked ones that are not ignored), so a snapshot builds uncommitted work too.
func copyWorkTree(from, to string) error {
	out, err := exec.Command("git", "-C", from, "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		return fmt.Errorf("git ls-files: %w", err)
	}
	for name := range strings.SplitSeq(strings.TrimRight(string(out), "\x00"), "\x00") {
		// Build outputs that a .gitignore may not list yet.
		if name == "" || name == "kubectl-promote" || strings.HasPrefix(name, "dist/") || strings.HasPrefix(name, "bin/") {
			continue
		}
		src := filepath.Join(from, name)
		info, err := os.Lstat(src)
		if errors.Is(err, os.ErrNotExist) {
			continue // deleted in the work tree, not yet in the index
		} else if err != nil {
			return err
		}
		if !info.Mode().IsRegular() {
			continue
		}
		dst := filepath.Join(to, name)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := copyFile(src, dst, info.Mode().Perm()); err != nil {
			return err
		}
	}
	return nil
}

func copyFile(src, dst string, perm os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// run runs a command in dir with the environment plus env, and returns its combined
// output.
func run(dir string, env []string, name string, args ...string) ([]byte, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	return cmd.CombinedOutput()
}

// tail returns the last n lines of out.
func tail(out []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// sha256File returns the hex SHA-256 of a file.
func sha256File(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// checksums reads goreleaser's checksums.txt: archive name to SHA-256.
func checksums(t *testing.T, dist string) map[string]string {
	t.Helper()
	f, err := os.Open(filepath.Join(dist, "checksums.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sums := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		sum, name, ok := strings.Cut(sc.Text(), "  ")
		if !ok {
			t.Fatalf("checksums.txt: unexpected line %q", sc.Text())
		}
		sums[name] = sum
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return sums
}

// platform is one of the six release targets.
type platform struct{ os, arch string }

var platforms = []platform{
	{"linux", "amd64"}, {"linux", "arm64"},
	{"darwin", "amd64"}, {"darwin", "arm64"},
	{"windows", "amd64"}, {"windows", "arm64"},
}

func (p platform) archiveName(version string) string {
	ext := "tar.gz"
	if p.os == "windows" {
		ext = "zip"
	}
	return fmt.Sprintf("kubectl-promote_%s_%s_%s.%s", version, p.os, p.arch, ext)
}

func (p platform) binary() string {
	if p.os == "windows" {
		return "kubectl-promote.exe"
	}
	return "kubectl-promote"
}

// thisPlatform is the platform the tests run on.
var thisPlatform = platform{runtime.GOOS, runtime.GOARCH}

// lookKubectl finds the real kubectl the tests drive: $KUBECTL, else the one on PATH,
// else the one the test control plane builds from k8s.io/kubernetes
// ($KUBECTL_PROMOTE_PLANE/kubectl, from test/tools/build.sh).
func lookKubectl(t *testing.T) string {
	t.Helper()
	if k := os.Getenv("KUBECTL"); k != "" {
		return k
	}
	if path, err := exec.LookPath("kubectl"); err == nil {
		return path
	}
	if plane := os.Getenv("KUBECTL_PROMOTE_PLANE"); plane != "" {
		if path := filepath.Join(plane, "kubectl"); isExist(path) {
			return path
		}
	}
	t.Fatal("no kubectl (1.26 or later) for the plugin checks: put one on PATH, set KUBECTL, " +
		"or KUBECTL_PROMOTE_PLANE=$(test/tools/build.sh | tail -n 1)")
	return ""
}

// pathWith is a PATH holding dirs, then kubectl's directory and the system's.
func pathWith(kubectl string, dirs ...string) string {
	return strings.Join(append(dirs, filepath.Dir(kubectl), "/usr/local/bin", "/usr/bin", "/bin"), string(os.PathListSeparator))
}

// kubectlRun runs the real kubectl with a controlled environment: PATH, HOME and
// KUBECONFIG set by the test, nothing else of the user's kube setup.
func kubectlRun(t *testing.T, kubectl string, env []string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := exec.Command(kubectl, args...)
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "PATH", "HOME", "KUBECONFIG", "KREW_ROOT", "NO_COLOR":
			continue
		}
		cmd.Env = append(cmd.Env, kv)
	}
	cmd.Env = append(cmd.Env, env...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}
