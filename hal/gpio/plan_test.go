package gpio

import (
	"strings"
	"testing"

	"github.com/critline/critline/hal"
)

func pin(line int) hal.Pin { return hal.Pin{Chip: "gpiochip0", Line: line} }

func twoPorts() hal.BoardProfile {
	return hal.BoardProfile{
		Ports: []hal.PortProfile{
			{ID: 1, Hook: pin(17), Ring: pin(27), Polarity: pin(5), Relay: pin(13)},
			{ID: 2, Hook: pin(22), Ring: pin(23), Polarity: pin(6), Relay: pin(19)},
		},
		Mains:      &hal.Pin{Chip: "gpiochip0", Line: 24},
		BatteryLow: &hal.Pin{Chip: "gpiochip0", Line: 25, ActiveLow: true},
		LEDs:       map[string]hal.Pin{"status": pin(12), "fault": pin(16)},
	}
}

func TestPlanRequestsRelaysFirst(t *testing.T) {
	reqs, err := plan(twoPorts())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range reqs {
		got = append(got, r.fn)
	}
	want := []string{
		"port 1 relay", "port 2 relay",
		"port 1 hook", "port 1 ring", "port 1 polarity",
		"port 2 hook", "port 2 ring", "port 2 polarity",
		"mains", "battery_low", "led fault", "led status",
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("order:\n got %v\nwant %v", got, want)
	}
}

func TestPlanOptionalLines(t *testing.T) {
	p := hal.BoardProfile{Ports: []hal.PortProfile{{ID: 1, Hook: pin(1), Ring: pin(2), Polarity: hal.Pin{Line: -1}, Relay: hal.Pin{Line: -1}}}}
	reqs, err := plan(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(reqs) != 2 || reqs[0].role != roleHook || reqs[1].role != roleRing {
		t.Fatalf("got %+v", reqs)
	}
}

func TestPlanReportsEveryProblem(t *testing.T) {
	p := twoPorts()
	p.Ports[1].Ring = pin(27)             // clash with port 1 ring
	p.Ports[0].Hook = hal.Pin{Line: -1}   // missing hook
	p.Ports = append(p.Ports, p.Ports[1]) // duplicate id 2
	p.LEDs["x"] = hal.Pin{Line: 3}        // no chip
	p.Mains.Debounce = -1                 // nonsense
	_, err := plan(p)
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	for _, want := range []string{
		"port 1 (the 1. [[port]]) has no hook line",
		"port 1 ring and port 2 ring both use gpiochip0 line 27",
		"port 2 appears twice",
		"led x has no GPIO chip",
		"mains has a negative debounce",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
}
