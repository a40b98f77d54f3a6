package main

import (
	"context"
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
		restMemory(ctx, time.Millisecond, time.Millisecond, func() bool { asked.Add(1); return quietNow.Load() }, func() { rested.Add(1) }, func() { busy.Add(1) })
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
