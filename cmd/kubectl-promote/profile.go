package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
)

// profileEnv names a directory into which the plugin writes a CPU profile of each
// run, cpu-<pid>.pprof, for `go tool pprof`. It is a developer's hook (README,
// Development), not a user-facing flag.
const profileEnv = "KUBECTL_PROMOTE_CPUPROFILE"

// startProfile starts the CPU profile when profileEnv is set; the func it returns
// stops it.
func startProfile() func() {
	dir := os.Getenv(profileEnv)
	if dir == "" {
		return func() {}
	}
	f, err := os.Create(filepath.Join(dir, fmt.Sprintf("cpu-%d.pprof", os.Getpid())))
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", profileEnv, err)
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", profileEnv, err)
		f.Close()
		return func() {}
	}
	return func() { pprof.StopCPUProfile(); f.Close() }
}
