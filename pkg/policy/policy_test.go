package policy

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func zone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	require.NoError(t, err)
	return loc
}

func at(t *testing.T, loc *time.Location, s string) time.Time {
	t.Helper()
	tm, err := time.ParseInLocation("2006-01-02 15:04", s, loc)
	require.NoError(t, err)
	return tm
}

// instant fails unless two times are the same instant, whatever their zones.
func instant(t *testing.T, want, got time.Time) {
	t.Helper()
	require.True(t, want.Equal(got), "want %s, got %s", want.UTC(), got.UTC())
}

func mustParse(t *testing.T, ann map[string]string) *Policy {
	t.Helper()
	p, err := Parse(ann)
	require.NoError(t, err)
	return p
}

func TestParseWindowForms(t *testing.T) {
	berlin := zone(t, "Europe/Berlin")
	w, err := ParseWindow("Mon-Thu 09:00-16:00 Europe/Berlin", false)
	require.NoError(t, err)
	require.Equal(t, [7]bool{false, true, true, true, true, false, false}, w.Days)
	require.Equal(t, 9*60, w.Start)
	require.Equal(t, 0, w.EndDays)
	require.Equal(t, 16*60, w.End)
	require.Equal(t, berlin.String(), w.Location.String())

	w, err = ParseWindow("Fri 15:00 to Mon 09:00 Europe/Berlin including rollbacks", true)
	require.NoError(t, err)
	require.Equal(t, 3, w.EndDays)
	require.True(t, w.Rollbacks)

	w, err = ParseWindow("sat-mon,wed 22:00-06:00", false)
	require.NoError(t, err)
	require.Equal(t, [7]bool{true, true, false, true, false, false, true}, w.Days)
	require.Equal(t, 1, w.EndDays)
	require.Equal(t, time.UTC, w.Location)

	w, err = ParseWindow("daily 23:30 for 90m UTC", false)
	require.NoError(t, err)
	require.Equal(t, 90*time.Minute, w.For)

	w, err = ParseWindow("Saturday 10:00 to Saturday 09:00", true)
	require.NoError(t, err)
	require.Equal(t, 7, w.EndDays, "a window ending before it starts on the same day ends a week later")

	w, err = ParseWindow("Mon 00:00-24:00", false)
	require.NoError(t, err)
	require.Equal(t, 0, w.EndDays)
	require.Equal(t, 24*60, w.End)
}

func TestParseWindowErrors(t *testing.T) {
	for in, want := range map[string]string{
		"Mon-Thu":                             "expected DAYS HH:MM-HH:MM",
		"Mo 09:00-10:00":                      `unknown day "Mo"`,
		"Mon 9:00-10:00":                      `time "9:00": expected HH:MM`,
		"Mon 09:00-24:01":                     `time "24:01"`,
		"Mon 24:00-10:00":                     `time "24:00"`,
		"Mon 09:00-10:00 Mars/Olympus":        `time zone "Mars/Olympus": not an IANA time zone`,
		"Mon 09:00-10:00 Local":               `time zone "Local": name an IANA time zone`,
		"Mon 09:00-10:00 UTC extra":           `unexpected "extra" after the time zone`,
		"Mon 09:00 for 9d":                    `duration "9d"`,
		"Mon 09:00 for 169h":                  `duration "169h"`,
		"Mon-Fri 09:00 to Mon 10:00":          "starts on one day",
		"Mon 09:00 until Tue 10:00":           `expected "for" or "to"`,
		"Mon 09:00 to Xyz 10:00":              `unknown day "Xyz"`,
		"Mon 09:00-10:00 including rollbacks": "only a deny window can name rollbacks",
		"Mon +9:00-10:00":                     `time "+9:00"`,
	} {
		_, err := ParseWindow(in, false)
		require.Error(t, err, in)
		require.Contains(t, err.Error(), want, in)
	}
}

func TestParseAnnotations(t *testing.T) {
	p := mustParse(t, map[string]string{
		AnnotationAllow:                         "Mon-Thu 09:00-16:00 Europe/Berlin; Fri 09:00-12:00 Europe/Berlin",
		AnnotationDeny:                          "Fri 15:00 to Mon 09:00 Europe/Berlin\n",
		AnnotationFreezeUntil:                   "2027-01-04 09:00 Europe/Berlin",
		AnnotationRequireReview:                 "true",
		AnnotationUpstreams:                     "staging, qa",
		AnnotationMinSoak:                       "30m",
		AnnotationRequireSigning:                "false",
		AnnotationVerify:                        "- url: https://my-app.example.com/healthz\n  status: 200\n  expr: body.status == 'ok'\n  for: 2m\n",
		"kustomize.toolkit.fluxcd.io/reconcile": "disabled",
	})
	require.Len(t, p.Allow, 2)
	require.Len(t, p.Deny, 1)
	require.Equal(t, "2027-01-04T08:00:00Z", p.FreezeUntil.UTC().Format(time.RFC3339))
	require.True(t, p.RequireReview)
	require.Equal(t, []string{"staging", "qa"}, p.Upstreams)
	require.Equal(t, 30*time.Minute, p.MinSoak)
	require.False(t, p.RequireSigning)
	require.Equal(t, []Check{{URL: "https://my-app.example.com/healthz", Status: 200, Expr: "body.status == 'ok'", For: "2m"}}, p.Checks)
	require.False(t, p.Empty())
	require.True(t, mustParse(t, map[string]string{"other.io/x": "y"}).Empty())

	for ann, want := range map[[2]string]string{
		{AnnotationAllow, "Mon-Thu 9-16"}:                  `annotation promote.kubectl-promote.dev/allow: "Mon-Thu 9-16"`,
		{AnnotationAllow, " ; "}:                           "annotation promote.kubectl-promote.dev/allow: no window",
		{AnnotationDeny, "Fri 15:00 to Mon"}:               `annotation promote.kubectl-promote.dev/deny: "Fri 15:00 to Mon": expected DAY HH:MM after "to"`,
		{AnnotationFreezeUntil, "next monday"}:             `annotation promote.kubectl-promote.dev/freeze-until: "next monday": expected a date`,
		{AnnotationFreezeUntil, "2027-01-04 Nowhere/X"}:    "not an IANA time zone",
		{AnnotationRequireReview, "yes please"}:            `annotation promote.kubectl-promote.dev/require-review: "yes please": expected true or false`,
		{AnnotationUpstreams, " , "}:                       "no environment named",
		{AnnotationMinSoak, "1 hour"}:                      `annotation promote.kubectl-promote.dev/min-soak: "1 hour": expected a Go duration`,
		{AnnotationVerify, "url: x"}:                       "annotation promote.kubectl-promote.dev/verify: expected a YAML list of checks",
		{AnnotationVerify, "- url: ftp://x"}:               `check 1: url "ftp://x"`,
		{AnnotationVerify, "- url: http://x\n  stat: 200"}: "unknown field",
		{AnnotationVerify, "- url: http://x\n  for: soon"}: `check 1: for "soon"`,
		{Prefix + "require-reveiw", "true"}:                "annotation promote.kubectl-promote.dev/require-reveiw: not a policy annotation",
	} {
		_, err := Parse(map[string]string{ann[0]: ann[1]})
		require.Error(t, err, ann)
		require.Contains(t, err.Error(), want, ann)
	}
}

func TestParseTime(t *testing.T) {
	for in, want := range map[string]string{
		"2027-01-04":                      "2027-01-04T00:00:00Z",
		"2027-01-04 09:00":                "2027-01-04T09:00:00Z",
		"2027-01-04 Europe/Berlin":        "2027-01-03T23:00:00Z",
		"2027-07-04 09:00 Europe/Berlin":  "2027-07-04T07:00:00Z",
		"2027-01-04T09:00:00+01:00":       "2027-01-04T08:00:00Z",
		"2027-01-04 09:00 America/Denver": "2027-01-04T16:00:00Z",
	} {
		got, err := ParseTime(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got.UTC().Format(time.RFC3339), in)
	}
}

// The seed's example: allowed Monday to Thursday 09:00-16:00 in Berlin, never from
// Friday 15:00 to Monday 09:00.
func TestWindowsBerlinWeek(t *testing.T) {
	berlin := zone(t, "Europe/Berlin")
	p := mustParse(t, map[string]string{
		AnnotationAllow: "Mon-Thu 09:00-16:00 Europe/Berlin",
		AnnotationDeny:  "Fri 15:00 to Mon 09:00 Europe/Berlin",
	})
	for when, open := range map[string]bool{
		"2026-12-03 08:59": false, // Thursday before the window
		"2026-12-03 09:00": true,
		"2026-12-03 15:59": true,
		"2026-12-03 16:00": false, // the end is not in the window
		"2026-12-04 10:00": false, // Friday: no allow window
		"2026-12-06 12:00": false, // Sunday, in the deny window
		"2026-12-07 09:00": true,  // Monday: the deny window has ended, the allow window begun
	} {
		s := p.At(at(t, berlin, when), false)
		require.Equal(t, open, s.Open, "%s: %s", when, s.Reason)
	}
	s := p.At(at(t, berlin, "2026-12-04 17:00"), false)
	require.False(t, s.Open)
	require.Contains(t, s.Reason, `deny window "Fri 15:00 to Mon 09:00 Europe/Berlin" until Mon 2026-12-07 09:00 CET (08:00 UTC)`)
	instant(t, at(t, berlin, "2026-12-07 09:00"), s.NextChange)

	s = p.At(at(t, berlin, "2026-12-03 10:00"), false)
	require.True(t, s.Open)
	instant(t, at(t, berlin, "2026-12-03 16:00"), s.NextChange)

	// Thursday evening: the allow window ends at 16:00, the deny window follows on
	// Friday; the next opening is Monday 09:00.
	s = p.At(at(t, berlin, "2026-12-03 16:30"), false)
	instant(t, at(t, berlin, "2026-12-07 09:00"), s.NextChange)
}

func TestWindowAcrossMidnightAndWeekEnd(t *testing.T) {
	p := mustParse(t, map[string]string{AnnotationAllow: "Mon-Fri 22:00-06:00 UTC; Sun 23:00 to Mon 01:00 UTC"})
	for when, open := range map[string]bool{
		"2026-12-04 23:00": true,  // Friday night
		"2026-12-05 05:59": true,  // Saturday morning, Friday's window
		"2026-12-05 06:00": false, // it ended
		"2026-12-05 23:00": false, // Saturday night: no window starts on Saturday
		"2026-12-06 23:30": true,  // Sunday 23:00 to Monday 01:00, across the week's end
		"2026-12-07 00:30": true,
		"2026-12-07 01:00": false,
		"2026-12-07 22:00": true,
	} {
		require.Equal(t, open, p.At(at(t, time.UTC, when), false).Open, when)
	}
	s := p.At(at(t, time.UTC, "2026-12-05 12:00"), false)
	instant(t, at(t, time.UTC, "2026-12-06 23:00"), s.NextChange)

	// A range of days that wraps the week.
	p = mustParse(t, map[string]string{AnnotationDeny: "Sat-Mon 00:00-24:00 UTC"})
	for when, open := range map[string]bool{"2026-12-05 00:00": false, "2026-12-07 23:59": false, "2026-12-08 00:00": true, "2026-12-04 23:59": true} {
		require.Equal(t, open, p.At(at(t, time.UTC, when), false).Open, when)
	}
	instant(t, at(t, time.UTC, "2026-12-08 00:00"), p.At(at(t, time.UTC, "2026-12-05 10:00"), false).NextChange)
}

func TestWindowTimeZones(t *testing.T) {
	// The same instant, Monday 14:00 UTC: 09:00 in New York, 23:00 in Tokyo.
	now := at(t, time.UTC, "2026-12-07 14:00")
	ny := mustParse(t, map[string]string{AnnotationAllow: "Mon 09:00-10:00 America/New_York"})
	tokyo := mustParse(t, map[string]string{AnnotationAllow: "Mon 09:00-10:00 Asia/Tokyo"})
	kolkata := mustParse(t, map[string]string{AnnotationAllow: "Mon 19:30-19:45 Asia/Kolkata"})
	require.True(t, ny.At(now, false).Open)
	require.False(t, tokyo.At(now, false).Open)
	require.True(t, kolkata.At(now, false).Open, "a half-hour offset zone")
	instant(t, at(t, time.UTC, "2026-12-14 00:00"), tokyo.At(now, false).NextChange)
	require.Contains(t, ny.At(now, false).Reason, "until Mon 2026-12-07 10:00 EST (15:00 UTC)")
}

func TestWindowDST(t *testing.T) {
	berlin := zone(t, "Europe/Berlin")
	p := mustParse(t, map[string]string{AnnotationAllow: "Mon-Fri 09:00-16:00 Europe/Berlin"})
	// Summer time ends on Sunday 2026-10-25: 09:00 in Berlin is 07:00 UTC on the
	// Friday before, 08:00 UTC on the Monday after.
	require.True(t, p.At(at(t, time.UTC, "2026-10-23 07:00"), false).Open)
	require.False(t, p.At(at(t, time.UTC, "2026-10-26 07:30"), false).Open)
	require.True(t, p.At(at(t, time.UTC, "2026-10-26 08:00"), false).Open)
	instant(t, at(t, time.UTC, "2026-10-26 08:00"), p.At(at(t, time.UTC, "2026-10-23 15:00"), false).NextChange)

	// A window over the changes themselves keeps to the clock on the wall: 01:00 to
	// 04:00 lasts four hours the night the clocks go back, two the night they go on.
	wall := mustParse(t, map[string]string{AnnotationDeny: "Sun 01:00-04:00 Europe/Berlin"})
	o, ok := wall.Deny[0].At(at(t, berlin, "2026-10-25 03:30"))
	require.True(t, ok)
	require.Equal(t, 4*time.Hour, o.End.Sub(o.Start))
	o, ok = wall.Deny[0].At(at(t, berlin, "2027-03-28 03:30"))
	require.True(t, ok)
	require.Equal(t, 2*time.Hour, o.End.Sub(o.Start))
	// A duration is elapsed time.
	elapsed := mustParse(t, map[string]string{AnnotationDeny: "Sun 01:00 for 3h Europe/Berlin"})
	o, ok = elapsed.Deny[0].At(at(t, time.UTC, "2026-10-25 01:30"))
	require.True(t, ok)
	require.Equal(t, "2026-10-25T02:00:00Z", o.End.UTC().Format(time.RFC3339))
	// A start in the hour that does not exist (02:30 when the clocks go on) still opens.
	gap := mustParse(t, map[string]string{AnnotationAllow: "Sun 02:30-05:00 Europe/Berlin"})
	require.True(t, gap.At(at(t, time.UTC, "2027-03-28 02:00"), false).Open)
}

func TestFreezeAndRollbacks(t *testing.T) {
	p := mustParse(t, map[string]string{
		AnnotationFreezeUntil: "2027-01-04 09:00 Europe/Berlin",
		AnnotationDeny:        "Fri 15:00 to Mon 09:00 Europe/Berlin; Sat 00:00-06:00 UTC including rollbacks",
	})
	now := at(t, time.UTC, "2026-12-22 10:00") // a Tuesday in the freeze
	s := p.At(now, false)
	require.False(t, s.Open)
	require.Equal(t, "frozen until Mon 2027-01-04 09:00 CET (08:00 UTC)", s.Reason)
	instant(t, at(t, time.UTC, "2027-01-04 08:00"), p.At(at(t, time.UTC, "2026-12-28 10:00"), false).NextChange)
	require.True(t, p.At(now, true).Open, "rollbacks pass a freeze")
	require.True(t, p.At(at(t, time.UTC, "2026-12-25 20:00"), true).Open, "rollbacks pass a deny window that does not name them")
	s = p.At(at(t, time.UTC, "2026-12-26 05:00"), true)
	require.False(t, s.Open, "a deny window including rollbacks")
	instant(t, at(t, time.UTC, "2026-12-26 06:00"), s.NextChange)
	// Far in the freeze, nothing changes within two weeks.
	far := mustParse(t, map[string]string{AnnotationFreezeUntil: "2027-06-01"})
	require.True(t, far.At(now, false).NextChange.IsZero())
}

func TestGates(t *testing.T) {
	berlin := zone(t, "Europe/Berlin")
	p := mustParse(t, map[string]string{
		AnnotationAllow:         "Mon-Thu 09:00-16:00 Europe/Berlin",
		AnnotationRequireReview: "true",
		AnnotationUpstreams:     "staging",
	})
	gates := p.Gates("production", Request{Now: at(t, berlin, "2026-12-04 10:00"), Source: []string{"qa", "qa-ctx"}})
	require.Equal(t, []string{GateWindow, GateReview, GateUpstream}, gates.Failed())
	require.Equal(t, `closed: outside the allow windows "Mon-Thu 09:00-16:00 Europe/Berlin"; the next window opens Mon 2026-12-07 09:00 CET (08:00 UTC)`, gates[0].Message)
	require.Equal(t, "production requires review (promote.kubectl-promote.dev/require-review): run the same command with --review to open a pull request", gates[1].Message)
	require.Equal(t, "production accepts promotions only from staging, not from qa", gates[2].Message)

	gates = p.Gates("production", Request{Now: at(t, berlin, "2026-12-03 10:00"), Source: []string{"stg", "staging"}, Review: true})
	require.True(t, gates.Passed(), gates)
	require.Len(t, gates, 3)

	// A rollback: no upstream; the window closes only with "including rollbacks".
	gates = p.Gates("production", Request{Now: at(t, berlin, "2026-12-04 10:00"), Rollback: true, Review: true})
	require.True(t, gates.Passed(), gates)
	require.Len(t, gates, 2)
	require.Empty(t, (&Policy{}).Gates("production", Request{Now: time.Now(), Source: []string{"x"}}))
}

func TestDescribe(t *testing.T) {
	p := mustParse(t, map[string]string{
		AnnotationAllow:   "Mon-Thu 09:00-16:00 Europe/Berlin",
		AnnotationMinSoak: "1h",
		AnnotationVerify:  `[{"url": "http://127.0.0.1:8080/healthz"}]`,
	})
	d := p.Describe(at(t, time.UTC, "2026-12-03 09:00"))
	require.Equal(t, []string{"Mon-Thu 09:00-16:00 Europe/Berlin"}, d.Allow)
	require.Equal(t, "1h0m0s", d.MinSoak)
	require.True(t, d.Window.Open)
	require.Equal(t, "2026-12-03T15:00:00Z", d.Window.NextChange)
	require.Equal(t, "http://127.0.0.1:8080/healthz", d.Verify[0].URL)
	require.Nil(t, mustParse(t, map[string]string{AnnotationRequireReview: "true"}).Describe(time.Now()).Window)
}

func TestErrorNamesKustomization(t *testing.T) {
	_, err := Parse(map[string]string{AnnotationAllow: "whenever"})
	var pe *Error
	require.ErrorAs(t, err, &pe)
	require.Equal(t, AnnotationAllow, pe.Annotation)
	require.True(t, strings.HasPrefix(err.Error(), "annotation "+AnnotationAllow+": "))
}
