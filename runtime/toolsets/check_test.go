package toolsets

import (
	"testing"
	"time"
)

// The bootstrap check waits only for a toolset that is coming up: failing
// fast, and not for long. One whose fetch timed out, or that has failed
// for longer than ComingUpWindow, is down.
func TestComingUp(t *testing.T) {
	now := time.Now()
	m := &Manager{Now: func() time.Time { return now }}
	for _, tc := range []struct {
		name         string
		failingSince time.Time
		timedOut     bool
		want         bool
	}{
		{name: "answering"},
		{name: "refused a moment ago", failingSince: now.Add(-10 * time.Second), want: true},
		{name: "timed out", failingSince: now.Add(-10 * time.Second), timedOut: true},
		{name: "refusing for long", failingSince: now.Add(-ComingUpWindow)},
	} {
		st := &state{}
		if !tc.failingSince.IsZero() {
			st.failingSince.Store(tc.failingSince.UnixNano())
		}
		st.timedOut.Store(tc.timedOut)
		if got := m.comingUp(st); got != tc.want {
			t.Errorf("%s: coming up %v, want %v", tc.name, got, tc.want)
		}
	}
}
