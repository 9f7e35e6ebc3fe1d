//go:build release

package release

import (
	"archive/zip"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// modulePath is the module `go install ...@latest` fetches.
const modulePath = "github.com/kubectl-promote/kubectl-promote"

// goInstallVersion is the version the test's module proxy offers as latest.
const goInstallVersion = "v0.0.1"

// TestGoInstall: `go install github.com/kubectl-promote/kubectl-promote/cmd/kubectl-promote@latest`,
// as docs/install.md tells users, works with the real go command outside any module,
// and the binary reports the module version. The work tree is served as v0.0.1 by a
// module proxy in a directory (file://), in front of the machine's module cache as a
// second file:// proxy, so nothing is fetched from the network and the real module
// cache is not touched: go refuses this install when the module's go.mod has replace
// or exclude directives, which only this path shows.
func TestGoInstall(t *testing.T) {
	proxy := filepath.Join(scratch, "goproxy")
	if err := writeModuleProxy(proxy, goInstallVersion); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		t.Fatal(err)
	}
	modcache := strings.TrimSpace(string(out))

	gobin, work := filepath.Join(scratch, "gobin"), t.TempDir()
	env := []string{
		"GOPROXY=file://" + filepath.ToSlash(proxy) + ",file://" + filepath.ToSlash(filepath.Join(modcache, "cache", "download")),
		"GOSUMDB=off", // the test's v0.0.1 is in no checksum database
		"GOMODCACHE=" + filepath.Join(scratch, "gomodcache"),
		// -modcacherw so the scratch module cache can be removed; -trimpath and no cgo
		// as the release builds, so their build cache serves this one.
		"GOFLAGS=-modcacherw -trimpath",
		"CGO_ENABLED=0",
		"GOBIN=" + gobin,
		"GOTOOLCHAIN=local",
		"GOWORK=off",
	}
	args := []string{"go", "install", modulePath + "/cmd/kubectl-promote@latest"}
	start := time.Now()
	if out, err := run(work, env, args[0], args[1:]...); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	t.Logf("%s: %s", strings.Join(args, " "), time.Since(start).Round(time.Second))

	out, err = exec.Command(filepath.Join(gobin, "kubectl-promote"), "version", "-o", "json").CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl-promote version -o json: %v\n%s", err, out)
	}
	var v struct{ Version string }
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("kubectl-promote version -o json printed no JSON: %v\n%s", err, out)
	}
	if v.Version != goInstallVersion {
		t.Errorf("a go-installed kubectl-promote reports version %q, want the module version %s", v.Version, goInstallVersion)
	}
}

// writeModuleProxy lays out a GOPROXY directory that serves the work tree as module
// version version: list, .info, .mod and the module zip, as the proxy protocol says.
func writeModuleProxy(dir, version string) error {
	at := filepath.Join(dir, filepath.FromSlash(modulePath), "@v")
	if err := os.MkdirAll(at, 0o755); err != nil {
		return err
	}
	gomod, err := os.ReadFile(filepath.Join(repoRoot, "go.mod"))
	if err != nil {
		return err
	}
	info, _ := json.Marshal(map[string]string{"Version": version, "Time": time.Now().UTC().Format(time.RFC3339)})
	for name, content := range map[string][]byte{
		"list":            []byte(version + "\n"),
		version + ".info": info,
		version + ".mod":  gomod,
	} {
		if err := os.WriteFile(filepath.Join(at, name), content, 0o644); err != nil {
			return err
		}
	}
	files, err := moduleFiles(repoRoot)
	if err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(at, version+".zip"))
	if err != nil {
		return err
	}
	zw := zip.NewWriter(f)
	for _, name := range files {
		w, err := zw.Create(modulePath + "@" + version + "/" + name)
		if err != nil {
			return err
		}
		b, err := os.ReadFile(filepath.Join(repoRoot, filepath.FromSlash(name)))
		if err != nil {
			return err
		}
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return f.Close()
}

// moduleFiles lists the root module's files as Git would commit them: not those of
// nested modules (test/ and the tools modules), nor build outputs.
func moduleFiles(root string) ([]string, error) {
	out, err := exec.Command("git", "-C", root, "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		return nil, fmt.Errorf("git ls-files: %w", err)
	}
	names := strings.Split(strings.TrimRight(string(out), "\x00"), "\x00")
	nested := map[string]bool{}
	for _, name := range names {
		if name != "go.mod" && filepath.Base(name) == "go.mod" {
			nested[filepath.ToSlash(filepath.Dir(name))] = true
		}
	}
	var files []string
next:
	for _, name := range names {
		if name == "" || name == "kubectl-promote" || strings.HasPrefix(name, "dist/") || strings.HasPrefix(name, "bin/") {
			continue
		}
		for dir := name; dir != "."; {
			dir = filepath.ToSlash(filepath.Dir(dir))
			if nested[dir] {
				continue next
			}
		}
		if info, err := os.Lstat(filepath.Join(root, name)); err != nil || !info.Mode().IsRegular() {
			continue
		}
		files = append(files, name)
	}
	return files, nil
}
