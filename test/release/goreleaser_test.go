//go:build release

package release

import (
	"archive/tar"
	"archive/zip"
	"compress/gzip"
	"debug/elf"
	"debug/macho"
	"debug/pe"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestGoreleaserCheck: goreleaser accepts .goreleaser.yaml, deprecations included.
func TestGoreleaserCheck(t *testing.T) {
	tl := releaseTools(t)
	out, err := run(t.TempDir(), nil, tl.goreleaser, "check", "--config", filepath.Join(repoRoot, ".goreleaser.yaml"))
	if err != nil {
		t.Fatalf("goreleaser check: %v\n%s", err, out)
	}
	t.Logf("goreleaser check:\n%s", out)
}

// archiveFile is one entry of a release archive.
type archiveFile struct {
	mode os.FileMode
	size int64
}

// TestSnapshot: the snapshot holds an archive per platform with the binary, LICENSE,
// README.md and the completion script, each binary built for its platform with the
// version linked in, checksums for every archive, and the krew manifest.
func TestSnapshot(t *testing.T) {
	s := snapshot(t)
	sums := checksums(t, s.dist)
	if len(sums) != len(platforms) {
		t.Errorf("checksums.txt lists %d files, want the %d archives: %v", len(sums), len(platforms), sums)
	}
	for _, p := range platforms {
		t.Run(p.os+"_"+p.arch, func(t *testing.T) {
			name := p.archiveName(s.version)
			path := filepath.Join(s.dist, name)
			files := readArchive(t, path)
			for _, want := range []string{p.binary(), "LICENSE", "README.md", "kubectl_complete-promote"} {
				if _, ok := files[want]; !ok {
					t.Errorf("%s lacks %s; it holds %v", name, want, keys(files))
				}
			}
			if p.os != "windows" {
				for _, exe := range []string{p.binary(), "kubectl_complete-promote"} {
					if f := files[exe]; f.mode&0o111 == 0 {
						t.Errorf("%s: %s is not executable (mode %v)", name, exe, f.mode)
					}
				}
			}
			if got, want := sums[name], sha256File(t, path); got != want {
				t.Errorf("checksums.txt has %q for %s, the file's SHA-256 is %s", got, name, want)
			}
			checkBinary(t, s, p)
		})
	}
	if _, err := os.Stat(filepath.Join(s.dist, "krew", "promote.yaml")); err != nil {
		t.Errorf("no krew manifest in dist/krew: %v", err)
	}
}

// checkBinary checks that the built binary of p is an executable for p's OS and
// architecture, statically linked (CGO off), with the snapshot's version linked in.
func checkBinary(t *testing.T, s snapshotResult, p platform) {
	t.Helper()
	var path string
	for _, artifact := range readArtifacts(t, s.dist) {
		if artifact.Type == "Binary" && artifact.Goos == p.os && artifact.Goarch == p.arch {
			path = filepath.Join(filepath.Dir(s.dist), artifact.Path)
		}
	}
	if path == "" {
		t.Fatalf("dist/artifacts.json lists no binary for %s/%s", p.os, p.arch)
	}
	switch p.os {
	case "linux":
		f, err := elf.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		want := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}[p.arch]
		if f.Machine != want {
			t.Errorf("%s is for %v, want %v", path, f.Machine, want)
		}
		for _, prog := range f.Progs {
			if prog.Type == elf.PT_INTERP {
				t.Errorf("%s is dynamically linked; CGO must be off", path)
			}
		}
	case "darwin":
		f, err := macho.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		want := map[string]macho.Cpu{"amd64": macho.CpuAmd64, "arm64": macho.CpuArm64}[p.arch]
		if f.Cpu != want {
			t.Errorf("%s is for %v, want %v", path, f.Cpu, want)
		}
	case "windows":
		f, err := pe.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		want := map[string]uint16{"amd64": pe.IMAGE_FILE_MACHINE_AMD64, "arm64": pe.IMAGE_FILE_MACHINE_ARM64}[p.arch]
		if f.Machine != want {
			t.Errorf("%s is for machine %#x, want %#x", path, f.Machine, want)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), s.version) {
		t.Errorf("%s does not hold the snapshot's version %s: the ldflags did not set pkg/version", path, s.version)
	}
}

// artifact is an entry of goreleaser's dist/artifacts.json.
type artifact struct {
	Name   string `json:"name"`
	Path   string `json:"path"`
	Goos   string `json:"goos"`
	Goarch string `json:"goarch"`
	Type   string `json:"type"`
}

func readArtifacts(t *testing.T, dist string) []artifact {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dist, "artifacts.json"))
	if err != nil {
		t.Fatal(err)
	}
	var as []artifact
	if err := json.Unmarshal(b, &as); err != nil {
		t.Fatal(err)
	}
	return as
}

// readArchive lists a tar.gz or zip archive's regular files.
func readArchive(t *testing.T, path string) map[string]archiveFile {
	t.Helper()
	files := map[string]archiveFile{}
	if strings.HasSuffix(path, ".zip") {
		z, err := zip.OpenReader(path)
		if err != nil {
			t.Fatal(err)
		}
		defer z.Close()
		for _, f := range z.File {
			files[f.Name] = archiveFile{mode: f.Mode(), size: int64(f.UncompressedSize64)}
		}
		return files
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if h.Typeflag == tar.TypeReg {
			files[h.Name] = archiveFile{mode: h.FileInfo().Mode(), size: h.Size}
		}
	}
	return files
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
