package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/critline/critline/hal"
	"github.com/critline/critline/hal/sim"
	"github.com/critline/critline/internal/testenv"
)

// The board test drives every output and reads every input: run on the
// simulated board, its watch stream shows each output move.
func TestExerciseBoardOnSimBoard(t *testing.T) {
	b, err := sim.New(sim.Options{Ports: []int{1, 2}, RingDrive: map[int]hal.RingDrive{2: hal.RingToggle}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	sub := b.Watch()
	defer sub.Close()
	var out bytes.Buffer
	if err := exerciseBoard(context.Background(), b, 60*time.Millisecond, 0, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	seen := map[string]int{}
	for len(sub.C) > 0 {
		c := <-sub.C
		seen[fmt.Sprintf("%d %s %v", c.Port, c.What, c.Value)]++
	}
	for _, want := range []string{
		"1 relay false", "1 relay true", "1 ring true", "1 ring false", "1 polarity true", "1 polarity false",
		"2 relay false", "2 relay true", "2 ring true", "2 ring false", "2 polarity true", "2 polarity false",
	} {
		if seen[want] == 0 {
			t.Errorf("output change %q never happened; saw %v", want, seen)
		}
	}
	if seen["2 polarity true"] < 2 {
		t.Errorf("ring-toggle port 2 was not toggled while ringing: %v", seen)
	}
	text := out.String()
	for _, want := range []string{
		"board sim, 2 port(s)", "port 1 hook: on-hook", "mains: present", "battery: ok", "LAN link: up",
		"port 1 ring (enable): on 60ms, off", "port 2 ring (toggle)", "port 2 polarity: reversed 60ms, forward",
		"port 1 audio: played 1 kHz", "port 2 relay: bypass=true",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	for _, p := range b.Ports() {
		if !p.Relay.Bypass() {
			t.Errorf("port %d relay not back in bypass", p.ID)
		}
	}
}

func TestExerciseBoardReportsInputChanges(t *testing.T) {
	b, err := sim.New(sim.Options{Ports: []int{1}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var out testenv.Buffer
	changed := make(chan struct{})
	go func() {
		defer close(changed)
		// Change the inputs once the test watches them.
		for !strings.Contains(out.String(), "watching inputs") {
			time.Sleep(time.Millisecond)
		}
		_ = b.Hook(1, true)
		b.SetPower(false, false)
		b.SetLink(false)
	}()
	if err := exerciseBoard(context.Background(), b, 20*time.Millisecond, 2*time.Second, &out); err != nil {
		t.Fatal(err)
	}
	<-changed
	for _, want := range []string{"port 1 hook off-hook (kernel time", "mains absent, battery ok", "LAN link down"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestRunTestBoardRefusesBadUse(t *testing.T) {
	var o, e bytes.Buffer
	if code := runTestBoard(context.Background(), nil, &o, &e); code != exitUsage || !strings.Contains(e.String(), "usage: critlinectl test board --config FILE") {
		t.Fatalf("no args: %d %q", code, e.String())
	}
	sim := filepath.Join("..", "..", "examples", "sim.toml")
	if _, err := os.Stat(sim); err != nil {
		t.Fatalf("examples/sim.toml: %v", err)
	}
	e.Reset()
	if code := runTestBoard(context.Background(), []string{"--config", sim}, &o, &e); code != exitFail || !strings.Contains(e.String(), `kind = "gpio"`) {
		t.Fatalf("sim config: %d %q", code, e.String())
	}
}
