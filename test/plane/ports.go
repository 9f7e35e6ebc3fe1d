package plane

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Ports are chosen free (freePorts) but bound by the components only a moment later,
// so another process on the machine (another plane, a test server) can take one in
// between. Most components then exit with "address already in use", but not all of
// them, or not at once: source-controller serves its artifacts from a goroutine
// started after it reports ready, and kustomize-controller would download another
// plane's artifacts and get 404s. So every port a component is given is proven to be
// held by that component: the listening socket's inode, read from /proc/net/tcp and
// tcp6, must be one of the process's open files.

// PortHolder is the process listening on a TCP port.
type PortHolder struct {
	PID     int
	Command string // its command line, shortened
}

func (h PortHolder) String() string {
	return fmt.Sprintf("pid %d (%s)", h.PID, h.Command)
}

// PortCollisionError says that a component's port is held by a process that is not
// the component.
type PortCollisionError struct {
	Component string
	Port      int
	Holder    *PortHolder // nil when the holder could not be identified
}

func (e *PortCollisionError) Error() string {
	holder := "another process (not visible in /proc)"
	if e.Holder != nil {
		holder = e.Holder.String()
	}
	return fmt.Sprintf("%s: port %d is held by %s, not by %s", e.Component, e.Port, holder, e.Component)
}

// tcpListenState is TCP_LISTEN in /proc/net/tcp's st column.
const tcpListenState = "0A"

// listeningInodes returns the socket inodes listening on port in a /proc/net/tcp or
// /proc/net/tcp6 table.
func listeningInodes(table io.Reader, port int) ([]uint64, error) {
	var inodes []uint64
	sc := bufio.NewScanner(table)
	first := true
	for sc.Scan() {
		if first { // header
			first = false
			continue
		}
		fields := strings.Fields(sc.Text())
		if len(fields) < 10 || fields[3] != tcpListenState {
			continue
		}
		_, hexPort, ok := strings.Cut(fields[1], ":")
		if !ok {
			return nil, fmt.Errorf("unexpected local address %q", fields[1])
		}
		p, err := strconv.ParseUint(hexPort, 16, 16)
		if err != nil {
			return nil, fmt.Errorf("unexpected local address %q: %w", fields[1], err)
		}
		if int(p) != port {
			continue
		}
		inode, err := strconv.ParseUint(fields[9], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("unexpected inode %q: %w", fields[9], err)
		}
		inodes = append(inodes, inode)
	}
	return inodes, sc.Err()
}

// listeners returns the inodes of the sockets listening on port on this machine
// (this network namespace), IPv4 and IPv6.
func listeners(procRoot string, port int) ([]uint64, error) {
	var all []uint64
	for _, table := range []string{"net/tcp", "net/tcp6"} {
		f, err := os.Open(filepath.Join(procRoot, table))
		if errors.Is(err, os.ErrNotExist) {
			continue // no IPv6
		}
		if err != nil {
			return nil, err
		}
		inodes, err := listeningInodes(f, port)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.Name(), err)
		}
		all = append(all, inodes...)
	}
	return all, nil
}

// socketInodes returns the inodes of the sockets pid has open.
func socketInodes(procRoot string, pid int) (map[uint64]bool, error) {
	fdDir := filepath.Join(procRoot, strconv.Itoa(pid), "fd")
	entries, err := os.ReadDir(fdDir)
	if err != nil {
		return nil, err
	}
	out := map[uint64]bool{}
	for _, e := range entries {
		link, err := os.Readlink(filepath.Join(fdDir, e.Name()))
		if err != nil {
			continue // closed meanwhile
		}
		if s, ok := strings.CutPrefix(link, "socket:["); ok {
			if inode, err := strconv.ParseUint(strings.TrimSuffix(s, "]"), 10, 64); err == nil {
				out[inode] = true
			}
		}
	}
	return out, nil
}

// groupMembers returns the processes of process group pgid (the components run in
// their own groups; a component that forks keeps its listener in the group).
func groupMembers(procRoot string, pgid int) []int {
	members := []int{pgid}
	entries, err := os.ReadDir(procRoot)
	if err != nil {
		return members
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == pgid {
			continue
		}
		stat, err := os.ReadFile(filepath.Join(procRoot, e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp ...; comm may contain spaces and parentheses.
		i := strings.LastIndexByte(string(stat), ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(stat[i+1:]))
		if len(f) >= 3 && f[2] == strconv.Itoa(pgid) {
			members = append(members, pid)
		}
	}
	return members
}

// portState is what portOwner finds out about a port.
type portState int

const (
	portFree    portState = iota // nobody listens
	portOurs                     // a process of the group listens
	portForeign                  // someone else listens
)

// portOwner says whether port is listened on by a process of process group pgid, by
// someone else, or by nobody.
func portOwner(procRoot string, pgid, port int) (portState, error) {
	inodes, err := listeners(procRoot, port)
	if err != nil || len(inodes) == 0 {
		return portFree, err
	}
	for _, pid := range groupMembers(procRoot, pgid) {
		open, err := socketInodes(procRoot, pid)
		if err != nil {
			continue // ended meanwhile
		}
		for _, in := range inodes {
			if open[in] {
				return portOurs, nil
			}
		}
	}
	return portForeign, nil
}

// FindPortHolder returns the process listening on TCP port on this machine, if any
// is visible (as root every process is).
func FindPortHolder(port int) (*PortHolder, error) {
	return findPortHolder("/proc", port)
}

func findPortHolder(procRoot string, port int) (*PortHolder, error) {
	inodes, err := listeners(procRoot, port)
	if err != nil || len(inodes) == 0 {
		return nil, err
	}
	entries, err := os.ReadDir(procRoot)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		open, err := socketInodes(procRoot, pid)
		if err != nil {
			continue
		}
		for _, in := range inodes {
			if open[in] {
				return &PortHolder{PID: pid, Command: commandLine(procRoot, pid)}, nil
			}
		}
	}
	return nil, nil
}

func commandLine(procRoot string, pid int) string {
	data, err := os.ReadFile(filepath.Join(procRoot, strconv.Itoa(pid), "cmdline"))
	if err != nil {
		return "?"
	}
	s := strings.TrimSpace(strings.ReplaceAll(string(data), "\x00", " "))
	if len(s) > 240 {
		s = s[:240] + "…"
	}
	return s
}
