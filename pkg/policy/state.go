package policy

import (
	"fmt"
	"strings"
	"time"
)

// horizon is how far ahead NextChange looks: two weeks covers every weekly window.
const horizon = 15 * 24 * time.Hour

// State is whether promotions (or rollbacks) are allowed at a time, and why.
type State struct {
	Open bool
	// Reason says what decides: the window open at the time, the deny window or the
	// freeze that closes it, or that no allow window is open.
	Reason string
	// NextChange is when Open next changes; zero when it does not within two weeks
	// (no windows, or a freeze that ends later).
	NextChange time.Time
}

// At is the state of the policy's windows at t for a promotion, or for a rollback
// (which only a deny window "including rollbacks" closes).
func (p *Policy) At(t time.Time, rollback bool) State {
	s := p.at(t, rollback)
	for _, e := range p.edges(t, t.Add(horizon)) {
		if p.at(e, rollback).Open != s.Open {
			s.NextChange = e.UTC()
			break
		}
	}
	return s
}

// at is At without NextChange.
func (p *Policy) at(t time.Time, rollback bool) State {
	for _, w := range p.Deny {
		if rollback && !w.Rollbacks {
			continue
		}
		if o, ok := w.At(t); ok {
			return State{Reason: fmt.Sprintf("deny window %q until %s", w.Text, Format(o.End, w.Location))}
		}
	}
	if rollback {
		return State{Open: true, Reason: "rollbacks allowed"}
	}
	if t.Before(p.FreezeUntil) {
		return State{Reason: "frozen until " + Format(p.FreezeUntil, p.FreezeUntil.Location())}
	}
	if len(p.Allow) == 0 {
		return State{Open: true, Reason: "no allow window restricts it"}
	}
	for _, w := range p.Allow {
		if o, ok := w.At(t); ok {
			return State{Open: true, Reason: fmt.Sprintf("allow window %q until %s", w.Text, Format(o.End, w.Location))}
		}
	}
	texts := make([]string, len(p.Allow))
	for i, w := range p.Allow {
		texts[i] = fmt.Sprintf("%q", w.Text)
	}
	return State{Reason: "outside the allow windows " + strings.Join(texts, ", ")}
}

// edges are the times in (from, to] at which some window opens or closes, or the
// freeze ends, in order.
func (p *Policy) edges(from, to time.Time) []time.Time {
	var out []time.Time
	for _, w := range append(append([]*Window{}, p.Allow...), p.Deny...) {
		out = append(out, w.edges(from, to)...)
	}
	if p.FreezeUntil.After(from) && !p.FreezeUntil.After(to) {
		out = append(out, p.FreezeUntil)
	}
	return sortedUnique(out)
}

// Format prints t in loc the way a window is written, with the zone's abbreviation
// and the UTC instant: "Mon 2026-12-07 09:00 CET (08:00 UTC)".
func Format(t time.Time, loc *time.Location) string {
	if loc == nil {
		loc = time.UTC
	}
	l := t.In(loc)
	s := l.Format("Mon 2006-01-02 15:04 MST")
	if loc != time.UTC {
		s += " (" + t.UTC().Format("15:04") + " UTC)"
	}
	return s
}
