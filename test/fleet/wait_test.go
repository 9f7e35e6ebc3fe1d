package fleet

import (
	"net"
	"os"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestStorageProblem: an artifact address held by the source-controller itself is
// fine; one held by another process is named with its pid and command line (what
// kustomize-controller's 404s come from); one nobody holds is said so.
func TestStorageProblem(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()

	require.NoError(t, storageProblem(addr, os.Getpid()), "held by the source-controller (here: this process)")

	err = storageProblem(addr, 1)
	require.Error(t, err)
	require.Contains(t, err.Error(), "the artifact address "+addr+" is held by pid "+strconv.Itoa(os.Getpid())+" (")
	require.Contains(t, err.Error(), "not by this plane's source-controller (pid 1)")
	require.Contains(t, err.Error(), "404")

	require.NoError(t, l.Close())
	err = storageProblem(addr, 1)
	require.Error(t, err)
	require.Contains(t, err.Error(), "nothing listens on the artifact address "+addr)

	require.Error(t, storageProblem("no-port", 1))
}
