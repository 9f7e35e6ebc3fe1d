package fakeflux

import (
	"fmt"
	"strings"
	"sync"
)

// Progress records the progress lines the orchestrators print, each prefixed by its
// kind ("doing: ", "done: ", "waiting: ", "failed: "), for tests to assert on.
type Progress struct {
	mu    sync.Mutex
	lines []string
}

func (p *Progress) add(kind, format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lines = append(p.lines, kind+": "+fmt.Sprintf(format, args...))
}

func (p *Progress) Doing(format string, args ...any)   { p.add("doing", format, args...) }
func (p *Progress) Done(format string, args ...any)    { p.add("done", format, args...) }
func (p *Progress) Waiting(format string, args ...any) { p.add("waiting", format, args...) }
func (p *Progress) Failed(format string, args ...any)  { p.add("failed", format, args...) }

// Lines are the lines recorded so far.
func (p *Progress) Lines() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.lines...)
}

// String is every line, one a line.
func (p *Progress) String() string { return strings.Join(p.Lines(), "\n") }
