package e2e

import (
	"flag"
	"os"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"
)

// suite admits the suite's parallel tests longest first. Go releases the parallel
// tests of a package all at once and lets -parallel of them run, in no order it
// promises; on two cores a long test that starts last sets the end of the whole
// suite. make e2e therefore gives go test a -parallel above the number of tests, and
// this schedule runs suiteParallel of them at a time, the longest expected first
// (longest processing time first: simulated on the suite's own durations, the suite
// ends about two minutes sooner than in Go's order).
//
// It is made at the first test's turn, once go test has parsed -parallel.
func suite() *schedule {
	suiteOnce.Do(func() { suiteSchedule = newSchedule(suiteParallel(), 300*time.Millisecond, expectedSeconds) })
	return suiteSchedule
}

var (
	suiteOnce     sync.Once
	suiteSchedule *schedule
)

// suiteParallel is how many tests run at once: six on two cores (three tests at once
// keep about one core busy, as they mostly wait on Flux), or
// $KUBECTL_PROMOTE_E2E_PARALLEL, and never more than go test's -parallel.
func suiteParallel() int {
	n := 6
	if v, err := strconv.Atoi(os.Getenv("KUBECTL_PROMOTE_E2E_PARALLEL")); err == nil && v > 0 {
		n = v
	}
	if f := flag.Lookup("test.parallel"); f != nil {
		if p, err := strconv.Atoi(f.Value.String()); err == nil && p > 0 && p < n {
			n = p
		}
	}
	return n
}

// expectedSeconds is how long each test took in a full CI run (make test on 2
// cores, six tests at once), rounded: only their order matters. A test not listed
// counts as defaultSeconds. Refresh it from a run's "--- PASS: TestX (Ns)" lines
// when tests are added or change much.
var expectedSeconds = map[string]int{
	"TestClusterFaults":                          500,
	"TestReview":                                 370,
	"TestFleetWaves":                             350,
	"TestConcurrentPromotionsAndRollbacks":       330,
	"TestSSHPromotions":                          300,
	"TestVerifyAfterReady":                       280,
	"TestBadInputTable":                          270,
	"TestPolicyReviewAndCommitStatuses":          260,
	"TestPinnedTagTarget":                        250,
	"TestGitFaults":                              250,
	"TestFleetReview":                            240,
	"TestSupersededHealthCheck":                  230,
	"TestBranchPerEnvSamePath":                   200,
	"TestFleetRerunFinishesAnUnannouncedPush":    190,
	"TestUnhealthyAfterPush":                     180,
	"TestConcurrentRollbacksOneLands":            170,
	"TestHumanOutputDryRun":                      170,
	"TestSemverTarget":                           160,
	"TestFleetSigned":                            150,
	"TestHistoryListsPromotionsAndRollbacks":     150,
	"TestPolicyDenyWindowStopsAutomaticRollback": 140,
	"TestSignedPromotions":                       140,
	"TestLongHistoryThroughTheCache":             130,
	"TestPolicyUpstreamsAndFreezeEnds":           130,
	"TestPolicyWindowBlocksAndForce":             130,
	"TestRollbackToRevision":                     120,
	"TestImageFilter":                            120,
	"TestRollbackOnFailure":                      120,
	"TestRollbackNothingToRollBack":              120,
	"TestOCIGitless":                             120, // its subtests, four at a time
	"TestFleetComesUp":                           65,
}

// defaultSeconds is the expectation of a test expectedSeconds does not list: the
// suite's median, so that a new test neither jumps the queue nor ends the suite.
const defaultSeconds = 95

// schedule is a semaphore that, once the tests released together have all arrived,
// admits the waiting test expected to take longest.
type schedule struct {
	settle   time.Duration
	expected map[string]int

	mu      sync.Mutex
	free    int
	open    bool // the first arrivals have settled: admit as slots free up
	timer   *time.Timer
	arrived int
	waiting []*admission
}

type admission struct {
	name    string
	seconds int
	order   int // arrival, to break ties as Go would
	ready   chan struct{}
}

func newSchedule(slots int, settle time.Duration, expected map[string]int) *schedule {
	return &schedule{free: slots, settle: settle, expected: expected}
}

// acquire waits for test name's turn and returns the release of its slot. Until no
// test has arrived for settle, nobody is admitted: Go wakes the paused parallel tests
// together, and the first few to run must be the longest, not the quickest to wake.
func (s *schedule) acquire(name string) (release func()) {
	secs, ok := s.expected[name]
	if !ok {
		secs = defaultSeconds
	}
	a := &admission{name: name, seconds: secs, ready: make(chan struct{})}
	s.mu.Lock()
	a.order = s.arrived
	s.arrived++
	s.waiting = append(s.waiting, a)
	if s.open {
		s.admit()
	} else if s.timer == nil {
		s.timer = time.AfterFunc(s.settle, s.opened)
	} else {
		s.timer.Reset(s.settle)
	}
	s.mu.Unlock()
	<-a.ready
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			s.free++
			s.admit()
			s.mu.Unlock()
		})
	}
}

func (s *schedule) opened() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.open = true
	s.admit()
}

// admit starts the longest waiting tests while slots are free. Called with mu held.
func (s *schedule) admit() {
	sort.SliceStable(s.waiting, func(i, j int) bool {
		if s.waiting[i].seconds != s.waiting[j].seconds {
			return s.waiting[i].seconds > s.waiting[j].seconds
		}
		return s.waiting[i].order < s.waiting[j].order
	})
	for s.free > 0 && len(s.waiting) > 0 {
		s.free--
		close(s.waiting[0].ready)
		s.waiting = s.waiting[1:]
	}
}

// TestScheduleAdmitsLongestFirst is the schedule alone, without planes: tests that
// arrive together start longest first, as many as there are slots, and each freed
// slot goes to the longest still waiting, also to one that arrived after the rest.
func TestScheduleAdmitsLongestFirst(t *testing.T) {
	s := newSchedule(2, 100*time.Millisecond, map[string]int{"short": 10, "long": 300, "mid": 100, "late": 200})
	var mu sync.Mutex
	var started []string
	releases := map[string]func(){}
	var wg sync.WaitGroup
	arrive := func(name string) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := s.acquire(name)
			mu.Lock()
			started = append(started, name)
			releases[name] = r
			mu.Unlock()
		}()
	}
	startedNow := func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), started...)
	}
	waitFor := func(n int) []string {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for len(startedNow()) < n {
			if time.Now().After(deadline) {
				t.Fatalf("%d started, want %d: %v", len(startedNow()), n, startedNow())
			}
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(150 * time.Millisecond) // nobody else starts
		return startedNow()
	}
	for _, n := range []string{"short", "unlisted", "mid", "long"} {
		arrive(n)
	}
	if got := waitFor(2); !equal(sorted(got), "long", "mid") {
		t.Fatalf("first two started %v, want the longest two, long and mid", got)
	}
	arrive("late") // after the rest: longer than every test still waiting
	time.Sleep(50 * time.Millisecond)
	if got := startedNow(); len(got) != 2 {
		t.Fatalf("started %v with no slot free", got)
	}
	releases["long"]()
	releases["long"]() // a second release frees nothing more
	if got := waitFor(3); got[2] != "late" {
		t.Fatalf("started %v, want late in the freed slot", got)
	}
	releases["mid"]()
	if got := waitFor(4); got[3] != "unlisted" {
		t.Fatalf("started %v, want unlisted (%d s by default) before short", got, defaultSeconds)
	}
	releases["late"]()
	wg.Wait()
	if got := startedNow(); !equal(sorted(got[:2]), "long", "mid") || !equal(got[2:], "late", "unlisted", "short") {
		t.Fatalf("started %v", got)
	}
}

func sorted(s []string) []string {
	s = append([]string(nil), s...)
	sort.Strings(s)
	return s
}

func equal(got []string, want ...string) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i] != want[i] {
			return false
		}
	}
	return true
}
