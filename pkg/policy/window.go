package policy

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
	// Windows name IANA zones: the zone database goes into the binary, so a window
	// means the same on a machine without one (Windows, a scratch container).
	_ "time/tzdata"
)

// maxWindow is the longest a window may last: a week. Window arithmetic looks one
// week (plus a day) back for an occurrence that is still open.
const maxWindow = 7 * 24 * time.Hour

// Window is a recurring weekly period in a time zone: it starts on each of Days at
// Start (minutes after local midnight) and ends either For later (elapsed time), or
// EndDays days later at End (minutes after local midnight, wall clock), so that
// "09:00-16:00 Europe/Berlin" is 09:00 to 16:00 on the clock in Berlin on the days
// summer time starts and ends too.
type Window struct {
	// Days are the weekdays the window starts on, indexed by time.Weekday.
	Days [7]bool
	// Start is when it starts, in minutes after local midnight.
	Start int
	// EndDays and End are when it ends, wall clock: End minutes after midnight,
	// EndDays days after the day it starts. Unused when For is set.
	EndDays, End int
	// For is how long it lasts in elapsed time ("Mon-Fri 09:00 for 8h").
	For time.Duration
	// Location is the window's time zone.
	Location *time.Location
	// Rollbacks, on a deny window, says it denies rollbacks too.
	Rollbacks bool
	// Text is the window as written.
	Text string
}

// Occurrence is one opening of a window: [Start, End).
type Occurrence struct{ Start, End time.Time }

// occurrences are the window's openings that start on the local days from from to to
// (inclusive), in order.
func (w *Window) occurrences(from, to time.Time) []Occurrence {
	from, to = from.In(w.Location), to.In(w.Location)
	var out []Occurrence
	day := time.Date(from.Year(), from.Month(), from.Day(), 0, 0, 0, 0, w.Location)
	for ; !day.After(to); day = time.Date(day.Year(), day.Month(), day.Day()+1, 0, 0, 0, 0, w.Location) {
		if !w.Days[day.Weekday()] {
			continue
		}
		start := time.Date(day.Year(), day.Month(), day.Day(), 0, w.Start, 0, 0, w.Location)
		end := start.Add(w.For)
		if w.For == 0 {
			end = time.Date(day.Year(), day.Month(), day.Day()+w.EndDays, 0, w.End, 0, 0, w.Location)
		}
		if end.After(start) {
			out = append(out, Occurrence{Start: start, End: end})
		}
	}
	return out
}

// At is the occurrence of the window open at t, if any.
func (w *Window) At(t time.Time) (Occurrence, bool) {
	for _, o := range w.occurrences(t.Add(-maxWindow-24*time.Hour), t) {
		if !t.Before(o.Start) && t.Before(o.End) {
			return o, true
		}
	}
	return Occurrence{}, false
}

// edges are the starts and ends of the window's occurrences between from and to.
func (w *Window) edges(from, to time.Time) []time.Time {
	var out []time.Time
	for _, o := range w.occurrences(from.Add(-maxWindow-24*time.Hour), to) {
		for _, e := range []time.Time{o.Start, o.End} {
			if e.After(from) && !e.After(to) {
				out = append(out, e)
			}
		}
	}
	return out
}

// String is the window as written.
func (w *Window) String() string { return w.Text }

var dayNames = map[string]time.Weekday{}

func init() {
	for d := time.Sunday; d <= time.Saturday; d++ {
		long := strings.ToLower(d.String())
		dayNames[long] = d
		dayNames[long[:3]] = d
	}
}

// ParseWindow reads one window:
//
//	DAYS HH:MM-HH:MM [ZONE]            Mon-Thu 09:00-16:00 Europe/Berlin
//	DAYS HH:MM for DURATION [ZONE]     Mon-Fri 22:00 for 10h UTC
//	DAY HH:MM to DAY HH:MM [ZONE]      Fri 15:00 to Mon 09:00 Europe/Berlin
//
// DAYS is a day (Mon or Monday), a range that may wrap (Fri-Mon), a comma list of
// both, or "daily". An end at or before the start ends the next day (22:00-06:00);
// 24:00 is the end of the day. ZONE is an IANA time zone, UTC when left out. With
// deny, the window may end with "including rollbacks".
func ParseWindow(s string, deny bool) (*Window, error) {
	f := strings.Fields(s)
	w := &Window{Location: time.UTC, Text: strings.Join(f, " ")}
	if n := len(f); n >= 2 && strings.EqualFold(f[n-2], "including") && strings.EqualFold(f[n-1], "rollbacks") {
		if !deny {
			return nil, fmt.Errorf("%q: only a deny window can name rollbacks (rollbacks are always allowed by allow windows)", w.Text)
		}
		w.Rollbacks, f = true, f[:n-2]
	}
	if len(f) < 2 {
		return nil, fmt.Errorf("%q: expected DAYS HH:MM-HH:MM [ZONE], DAYS HH:MM for DURATION [ZONE] or DAY HH:MM to DAY HH:MM [ZONE]", w.Text)
	}
	days, err := parseDays(f[0])
	if err != nil {
		return nil, fmt.Errorf("%q: %v", w.Text, err)
	}
	w.Days = days
	rest, err := w.parseSpan(f[1:])
	if err != nil {
		return nil, fmt.Errorf("%q: %v", w.Text, err)
	}
	switch len(rest) {
	case 0:
	case 1:
		if w.Location, err = loadZone(rest[0]); err != nil {
			return nil, fmt.Errorf("%q: %v", w.Text, err)
		}
	default:
		return nil, fmt.Errorf("%q: unexpected %q after the time zone", w.Text, strings.Join(rest[1:], " "))
	}
	return w, nil
}

// parseSpan reads the times of a window after its days, returning what follows.
func (w *Window) parseSpan(f []string) ([]string, error) {
	if from, to, ok := strings.Cut(f[0], "-"); ok {
		start, err := parseClock(from, false)
		if err != nil {
			return nil, err
		}
		end, err := parseClock(to, true)
		if err != nil {
			return nil, err
		}
		w.Start, w.End = start, end
		if end <= start {
			w.EndDays = 1
		}
		return f[1:], nil
	}
	start, err := parseClock(f[0], false)
	if err != nil {
		return nil, err
	}
	w.Start = start
	if len(f) < 3 {
		return nil, fmt.Errorf("expected HH:MM-HH:MM, HH:MM for DURATION or HH:MM to DAY HH:MM after the days")
	}
	switch strings.ToLower(f[1]) {
	case "for":
		d, err := time.ParseDuration(f[2])
		if err != nil || d <= 0 || d > maxWindow {
			return nil, fmt.Errorf("duration %q: expected a Go duration between 1m and 168h (8h, 90m)", f[2])
		}
		w.For = d
		return f[3:], nil
	case "to":
		return w.parseTo(f[2:])
	}
	return nil, fmt.Errorf("expected \"for\" or \"to\" after %s, got %q", f[0], f[1])
}

// parseTo reads "DAY HH:MM" of "DAY HH:MM to DAY HH:MM".
func (w *Window) parseTo(f []string) ([]string, error) {
	n := 0
	var first time.Weekday
	for d, on := range w.Days {
		if on {
			n, first = n+1, time.Weekday(d)
		}
	}
	if n != 1 {
		return nil, fmt.Errorf("a window \"DAY HH:MM to DAY HH:MM\" starts on one day, not several")
	}
	if len(f) < 2 {
		return nil, fmt.Errorf("expected DAY HH:MM after \"to\"")
	}
	last, ok := dayNames[strings.ToLower(f[0])]
	if !ok {
		return nil, fmt.Errorf("unknown day %q after \"to\" (Mon, Tue, ... or Monday, ...)", f[0])
	}
	end, err := parseClock(f[1], true)
	if err != nil {
		return nil, err
	}
	w.End = end
	w.EndDays = (int(last) - int(first) + 7) % 7
	if w.EndDays == 0 && end <= w.Start {
		w.EndDays = 7
	}
	return f[2:], nil
}

// parseDays reads Mon, Mon-Thu, Fri-Mon, Mon,Wed,Fri-Sun or daily.
func parseDays(s string) ([7]bool, error) {
	var days [7]bool
	if strings.EqualFold(s, "daily") {
		return [7]bool{true, true, true, true, true, true, true}, nil
	}
	for _, part := range strings.Split(s, ",") {
		from, to, isRange := strings.Cut(part, "-")
		a, ok := dayNames[strings.ToLower(from)]
		if !ok {
			return days, fmt.Errorf("unknown day %q (Mon, Tue, ... or Monday, ..., a range Mon-Fri, a list Mon,Wed or daily)", from)
		}
		b := a
		if isRange {
			if b, ok = dayNames[strings.ToLower(to)]; !ok {
				return days, fmt.Errorf("unknown day %q (Mon, Tue, ... or Monday, ...)", to)
			}
		}
		for d := a; ; d = (d + 1) % 7 {
			days[d] = true
			if d == b {
				break
			}
		}
	}
	return days, nil
}

// parseClock reads HH:MM as minutes after midnight; end allows 24:00.
func parseClock(s string, end bool) (int, error) {
	hh, mm, ok := strings.Cut(s, ":")
	h, err1 := strconv.Atoi(hh)
	m, err2 := strconv.Atoi(mm)
	switch {
	case !ok || !digits(hh) || !digits(mm) || err1 != nil || err2 != nil || m > 59:
	case h < 24, end && h == 24 && m == 0:
		return h*60 + m, nil
	}
	return 0, fmt.Errorf("time %q: expected HH:MM from 00:00 to 23:59 (24:00 as an end)", s)
}

func digits(s string) bool {
	return len(s) == 2 && s[0] >= '0' && s[0] <= '9' && s[1] >= '0' && s[1] <= '9'
}

// loadZone is an IANA time zone; "Local" is refused, since a window must mean the
// same wherever the promotion runs.
func loadZone(name string) (*time.Location, error) {
	if name == "Local" || strings.HasPrefix(name, "/") || strings.Contains(name, "..") {
		return nil, fmt.Errorf("time zone %q: name an IANA time zone (Europe/Berlin, UTC)", name)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("time zone %q: not an IANA time zone (Europe/Berlin, America/New_York, UTC)", name)
	}
	return loc, nil
}

// sortedUnique sorts times and drops repeats.
func sortedUnique(ts []time.Time) []time.Time {
	sort.Slice(ts, func(i, j int) bool { return ts[i].Before(ts[j]) })
	out := ts[:0]
	for i, t := range ts {
		if i == 0 || !t.Equal(out[len(out)-1]) {
			out = append(out, t)
		}
	}
	return out
}
