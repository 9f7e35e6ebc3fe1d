package policy

import (
	"reflect"
	"testing"
	"time"
)

// Any annotation value: Parse never panics; an accepted window parses back from its
// text to the same window, and every opening it has in the weeks around a fixed time
// ends after it starts, within a week (and the hour a clock change adds); At agrees
// with its own NextChange (the state there differs).
func FuzzParsePolicy(f *testing.F) {
	for _, s := range []string{"Mon-Thu 09:00-16:00 Europe/Berlin", "Fri 15:00 to Mon 09:00 Europe/Berlin including rollbacks",
		"daily 22:00-06:00", "Sat-Mon,Wed 00:00-24:00 UTC; Sun 02:30 for 3h Europe/Berlin", "Mon 09:00 to Mon 08:00 Asia/Kolkata",
		"2027-01-04 09:00 Europe/Berlin", "true", "- url: http://127.0.0.1/\n  for: 2m", "Mon 9-16", ""} {
		f.Add(s, uint8(0))
	}
	keys := []string{AnnotationAllow, AnnotationDeny, AnnotationFreezeUntil, AnnotationVerify, AnnotationUpstreams}
	now := time.Date(2026, 10, 24, 22, 30, 0, 0, time.UTC) // the night Berlin's summer time ends
	f.Fuzz(func(t *testing.T, v string, k uint8) {
		key := keys[int(k)%len(keys)]
		p, err := Parse(map[string]string{key: v})
		if err != nil {
			if p != nil {
				t.Fatalf("Parse(%s=%q) returned a policy with error %v", key, v, err)
			}
			return
		}
		for _, w := range append(append([]*Window{}, p.Allow...), p.Deny...) {
			again, err := ParseWindow(w.Text, w.Rollbacks || key == AnnotationDeny)
			if err != nil || again.Location.String() != w.Location.String() {
				t.Fatalf("window %q does not parse back: %v", w.Text, err)
			}
			again.Location = w.Location
			if !reflect.DeepEqual(again, w) {
				t.Fatalf("window %q parses back to %+v, was %+v", w.Text, again, w)
			}
			for _, o := range w.occurrences(now.Add(-10*24*time.Hour), now.Add(10*24*time.Hour)) {
				if d := o.End.Sub(o.Start); d <= 0 || d > maxWindow+time.Hour {
					t.Fatalf("window %q opens for %s at %s", w.Text, d, o.Start)
				}
			}
		}
		for _, rollback := range []bool{false, true} {
			s := p.At(now, rollback)
			if !s.NextChange.IsZero() && (!s.NextChange.After(now) || p.at(s.NextChange, rollback).Open == s.Open) {
				t.Fatalf("%s=%q: open %v at %s, next change %s does not change it", key, v, s.Open, now, s.NextChange)
			}
		}
	})
}
