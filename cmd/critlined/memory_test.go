package main

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/critline/critline/control"
)

func TestQuiet(t *testing.T) {
	ports := func(states ...string) control.Status {
		var st control.Status
		for i, s := range states {
			st.Ports = append(st.Ports, control.Port{ID: i + 1, State: s})
		}
		return st
	}
	for _, tc := range []struct {
		st   control.Status
		want bool
	}{
		{ports(), true},
		{ports("idle", "idle"), true},
		{ports("idle", "parked", "stopped"), true},
		{ports("idle", "dialtone"), false},
		{ports("ringing", "idle"), false},
		{ports("connected"), false},
		{ports("idle", "busy"), false},
		{control.Status{Ports: ports("idle").Ports, Trunks: []control.Trunk{{Name: "lte"}}}, true},
		{control.Status{Ports: ports("idle").Ports, Trunks: []control.Trunk{{Name: "lte", InCall: true}}}, false},
	} {
		if got := quiet(tc.st); got != tc.want {
			t.Errorf("quiet(%v) = %v, want %v", tc.st.Ports, got, tc.want)
		}
	}
}

// restMemory rests only while the appliance is quiet, reports it busy
// otherwise, keeps asking, and stops with its context.
func TestRestMemoryOnlyWhenQuiet(t *testing.T) {
	var asked, rested, busy atomic.Int32
	quietNow := atomic.Bool{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		restMemory(ctx, time.Millisecond, time.Millisecond, fullRestEvery, func() bool { asked.Add(1); return quietNow.Load() }, func(bool) { rested.Add(1) }, func() { busy.Add(1) })
		close(done)
	}()
	eventually(t, "three busy checks", func() bool { return asked.Load() >= 3 })
	if n := rested.Load(); n != 0 {
		t.Fatalf("rested %d times while busy", n)
	}
	if n := busy.Load(); n < 3 {
		t.Fatalf("reported busy %d times in 3 busy checks", n)
	}
	quietNow.Store(true)
	eventually(t, "a rest once quiet", func() bool { return rested.Load() >= 1 })
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("restMemory did not return when its context ended")
	}
}

// restMemory's schedule: the first rest full, then light ones with a full
// one every fullEvery-th, and a full one as the first after a busy check.
func TestRestMemorySchedule(t *testing.T) {
	var mu sync.Mutex
	var got []string
	busyNow := atomic.Bool{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	record := func(s string) {
		mu.Lock()
		got = append(got, s)
		mu.Unlock()
	}
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(got) }
	go func() {
		defer close(done)
		restMemory(ctx, time.Millisecond, time.Millisecond, 3, func() bool { return !busyNow.Load() },
			func(full bool) {
				if full {
					record("F")
				} else {
					record("l")
				}
			}, func() { record("B") })
	}()
	eventually(t, "seven rests", func() bool { return count() >= 7 })
	busyNow.Store(true)
	eventually(t, "a busy check", func() bool { mu.Lock(); defer mu.Unlock(); return strings.Contains(strings.Join(got, ""), "B") })
	busyNow.Store(false)
	n := count()
	eventually(t, "two rests after the busy one", func() bool { return count() >= n+2 })
	cancel()
	<-done
	s := strings.Join(got, "")
	if !strings.HasPrefix(s, "FllFllF") {
		t.Errorf("rests %q: want full, light, light, full, ... (every third full)", s)
	}
	after := s[strings.LastIndex(s, "B")+1:]
	if !strings.HasPrefix(after, "F") {
		t.Errorf("rests %q: the first rest after a busy check is %q, want full", s, after[:1])
	}
}
