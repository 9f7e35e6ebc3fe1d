package plane

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A /proc/net/tcp and tcp6 excerpt: port 8080 (0x1F90) listening on 127.0.0.1 with
// inode 4242, an established connection from port 8080 (not a listener), port 8081
// listening elsewhere, and port 8080 listening on [::] with inode 4343.
const (
	procTCP = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 5555 1 0000000000000000 20 4 30 10 -1
   2: 0100007F:1F91 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 6666 1 0000000000000000 100 0 0 10 0
`
	procTCP6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4343 1 0000000000000000 100 0 0 10 0
`
)

func TestListeningInodes(t *testing.T) {
	got, err := listeningInodes(strings.NewReader(procTCP), 8080)
	require.NoError(t, err)
	require.Equal(t, []uint64{4242}, got, "only the LISTEN socket on the port")
	got, err = listeningInodes(strings.NewReader(procTCP6), 8080)
	require.NoError(t, err)
	require.Equal(t, []uint64{4343}, got)
	got, err = listeningInodes(strings.NewReader(procTCP), 9999)
	require.NoError(t, err)
	require.Empty(t, got)
	_, err = listeningInodes(strings.NewReader("header\n 0: 0100007F:ZZZZ 00000000:0000 0A 0 0 0 0 0 1 1\n"), 1)
	require.Error(t, err)
}

// fakeProc writes a /proc with the tables above and processes whose fds link to
// sockets: pid 100 (group 100) holds inode 4242, pid 101 (group 100) holds 6666 and
// pid 200 (group 200) holds 4343.
func fakeProc(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	write := func(path, data string) {
		require.NoError(t, os.MkdirAll(root+"/"+path[:strings.LastIndexByte(path, '/')], 0o755))
		require.NoError(t, os.WriteFile(root+"/"+path, []byte(data), 0o644))
	}
	write("net/tcp", procTCP)
	write("net/tcp6", procTCP6)
	proc := func(pid, pgrp, inode, cmd string) {
		write(pid+"/stat", pid+" (a (b) c) S 1 "+pgrp+" "+pgrp+" 0 -1\n")
		write(pid+"/cmdline", strings.ReplaceAll(cmd, " ", "\x00")+"\x00")
		require.NoError(t, os.MkdirAll(root+"/"+pid+"/fd", 0o755))
		require.NoError(t, os.Symlink("/dev/null", root+"/"+pid+"/fd/0"))
		require.NoError(t, os.Symlink("socket:["+inode+"]", root+"/"+pid+"/fd/3"))
	}
	proc("100", "100", "4242", "source-controller --storage-addr=127.0.0.1:8080")
	proc("101", "100", "6666", "helper")
	proc("200", "200", "4343", "other-plane")
	return root
}

func TestPortOwner(t *testing.T) {
	root := fakeProc(t)
	st, err := portOwner(root, 100, 8080)
	require.NoError(t, err)
	require.Equal(t, portOurs, st, "the group leader holds the IPv4 listener")
	st, err = portOwner(root, 100, 8081)
	require.NoError(t, err)
	require.Equal(t, portOurs, st, "a member of the group holds it")
	st, err = portOwner(root, 200, 8081)
	require.NoError(t, err)
	require.Equal(t, portForeign, st, "group 200 does not hold 8081")
	st, err = portOwner(root, 100, 9999)
	require.NoError(t, err)
	require.Equal(t, portFree, st)

	h, err := findPortHolder(root, 8081)
	require.NoError(t, err)
	require.Equal(t, &PortHolder{PID: 101, Command: "helper"}, h)
	h, err = findPortHolder(root, 9999)
	require.NoError(t, err)
	require.Nil(t, h)
}

// TestPortOwnerReal matches real sockets of this test process against the real /proc:
// an IPv4 and an IPv6 listener are ours, a port nobody listens on is free, and a
// listener of a child process in another process group is foreign and named.
func TestPortOwnerReal(t *testing.T) {
	pgid := syscall.Getpgrp()
	l4, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l4.Close()
	port4 := l4.Addr().(*net.TCPAddr).Port
	st, err := portOwner("/proc", pgid, port4)
	require.NoError(t, err)
	require.Equal(t, portOurs, st)
	h, err := FindPortHolder(port4)
	require.NoError(t, err)
	require.NotNil(t, h)
	require.Equal(t, os.Getpid(), h.PID)

	if l6, err := net.Listen("tcp", "[::1]:0"); err == nil {
		defer l6.Close()
		st, err := portOwner("/proc", pgid, l6.Addr().(*net.TCPAddr).Port)
		require.NoError(t, err)
		require.Equal(t, portOurs, st)
	}

	free, err := freePorts(1)
	require.NoError(t, err)
	st, err = portOwner("/proc", pgid, free[0])
	require.NoError(t, err)
	require.Equal(t, portFree, st)

	// A child in its own group that listens on a port: foreign to our group, ours
	// for its group, and named by FindPortHolder.
	pr := listenerProcess(t, free[0])
	st, err = portOwner("/proc", pgid, free[0])
	require.NoError(t, err)
	require.Equal(t, portForeign, st)
	st, err = portOwner("/proc", pr.cmd.Process.Pid, free[0])
	require.NoError(t, err)
	require.Equal(t, portOurs, st)
	h, err = FindPortHolder(free[0])
	require.NoError(t, err)
	require.NotNil(t, h)
	require.Equal(t, pr.cmd.Process.Pid, h.PID)
	require.Contains(t, h.Command, "TestHelperListen")
}

// listenerProcess runs this test binary as a child process (in its own process
// group, as plane components run) that listens on port until the test ends.
func listenerProcess(t *testing.T, port int) *process {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, err := startProcess(ctx, "listener", t.TempDir(), []string{"PLANE_LISTEN_PORT=" + strconv.Itoa(port)}, os.Args[0], "-test.run=^TestHelperListen$")
	require.NoError(t, err)
	t.Cleanup(func() { cancel(); pr.stop(time.Second) })
	hctx, hcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer hcancel()
	require.NoError(t, pr.holdPorts(hctx, port), pr.tail(20))
	return pr
}

// TestHelperListen is the child of listenerProcess; it does nothing in a normal run.
func TestHelperListen(t *testing.T) {
	port := os.Getenv("PLANE_LISTEN_PORT")
	if port == "" {
		return
	}
	l, err := net.Listen("tcp", "127.0.0.1:"+port)
	if err != nil {
		os.Exit(3)
	}
	defer l.Close()
	select {}
}

// TestHoldPortsCollision: a component given a port that another process holds fails
// holdPorts at once with a *PortCollisionError naming the holder, instead of being
// taken for ready.
func TestHoldPortsCollision(t *testing.T) {
	other, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer other.Close()
	taken := other.Addr().(*net.TCPAddr).Port

	// The component (sleep) never listens; the port is someone else's.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sleep, err := exec.LookPath("sleep")
	require.NoError(t, err)
	pr, err := startProcess(ctx, "component", t.TempDir(), nil, sleep, "60")
	require.NoError(t, err)
	defer pr.stop(time.Second)

	hctx, hcancel := context.WithTimeout(ctx, 10*time.Second)
	defer hcancel()
	began := time.Now()
	err = pr.holdPorts(hctx, taken)
	var collision *PortCollisionError
	require.True(t, errors.As(err, &collision), "%v", err)
	require.Less(t, time.Since(began), 5*time.Second, "at once, not at the timeout")
	require.Equal(t, taken, collision.Port)
	require.NotNil(t, collision.Holder)
	require.Equal(t, os.Getpid(), collision.Holder.PID)
	require.Contains(t, err.Error(), "component: port "+strconv.Itoa(taken)+" is held by pid ")

	// A port nobody takes: holdPorts waits and reports that it never listened.
	free, err := freePorts(1)
	require.NoError(t, err)
	sctx, scancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer scancel()
	err = pr.holdPorts(sctx, free[0])
	require.Error(t, err)
	require.False(t, errors.As(err, &collision))
	require.Contains(t, err.Error(), "never listened")
}
