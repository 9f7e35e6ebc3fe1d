package promote

import (
	"os"
	"testing"

	"github.com/kubectl-promote/kubectl-promote/internal/gitserver"
)

// TestMain keeps the repository cache of every test out of the user's.
func TestMain(m *testing.M) { os.Exit(gitserver.RunWithTempCache(m)) }
