// Package version reports the build's version, commit and date, set at link time by
// goreleaser or the Makefile, so users, bug reports and API server audit logs can tell
// which kubectl-promote did what.
package version

import (
	"runtime/debug"

	"github.com/kubectl-promote/kubectl-promote/pkg/apis/v1alpha1"
)

// Set with -ldflags "-X github.com/kubectl-promote/kubectl-promote/pkg/version.Version=v1.2.3 ...".
var (
	Version = "dev"
	Commit  = ""
	Date    = ""
)

// Get returns the build's identity, the document `kubectl promote version -o` prints; a `go install`ed binary falls back to the module
// version recorded in its build info.
func Get() *v1alpha1.Version {
	v, goVersion := Version, ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		goVersion = bi.GoVersion
		if v == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
	}
	return v1alpha1.NewVersion(v, Commit, Date, goVersion)
}

// UserAgent is sent on every API request, so audit logs name the tool and its version.
func UserAgent() string { return "kubectl-promote/" + Get().Version }
