// Package version reports the build's version, commit and date, set at link time by
// goreleaser or the Makefile, so users, bug reports and API server audit logs can tell
// which kubectl-promote did what.
package version

import "runtime/debug"

// Set with -ldflags "-X github.com/kubectl-promote/kubectl-promote/pkg/version.Version=v1.2.3 ...".
var (
	Version = "dev"
	Commit  = ""
	Date    = ""
)

// Info is the build's identity, printed by `kubectl promote version`.
type Info struct {
	Version   string `json:"version"`
	Commit    string `json:"commit,omitempty"`
	Date      string `json:"date,omitempty"`
	GoVersion string `json:"goVersion"`
}

// Get returns the build's identity; a `go install`ed binary falls back to the module
// version recorded in its build info.
func Get() Info {
	info := Info{Version: Version, Commit: Commit, Date: Date}
	if bi, ok := debug.ReadBuildInfo(); ok {
		info.GoVersion = bi.GoVersion
		if info.Version == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			info.Version = bi.Main.Version
		}
	}
	return info
}

// UserAgent is sent on every API request, so audit logs name the tool and its version.
func UserAgent() string { return "kubectl-promote/" + Get().Version }
