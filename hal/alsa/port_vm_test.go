//go:build linux && vmtest

package alsa_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/critline/critline/fxs"
	"github.com/critline/critline/fxs/dsp"
	"github.com/critline/critline/fxs/profile"
	"github.com/critline/critline/hal"
	"github.com/critline/critline/hal/alsa"
	"github.com/critline/critline/hal/sim"
)

type noRouter struct{}

func (noRouter) Route(ctx context.Context, req fxs.RouteRequest, p fxs.Progress) (fxs.Call, error) {
	return nil, fmt.Errorf("no routes in this test")
}

func captureState(t *testing.T, p *alsa.PCM) string {
	t.Helper()
	var card, dev int
	fmt.Sscanf(p.Config().Device, "/dev/snd/pcmC%dD%d", &card, &dev)
	b, err := os.ReadFile(fmt.Sprintf("/proc/asound/card%d/pcm%dc/sub0/status", card, dev))
	if err != nil {
		t.Fatal(err)
	}
	var st string
	fmt.Sscanf(string(b), "state: %s", &st)
	return st
}

// An FXS port on a real ALSA device (snd-aloop) rests while idle (the kernel
// reports the capture stream PREPARED, not RUNNING) and wakes for each
// off-hook: dial tone reaches the far end of the loop, and the first DTMF
// digit sent back from there is detected, cycle after cycle.
func TestVMPortRestsOnALSA(t *testing.T) {
	opts := []alsa.Option{alsa.WithPeriods(25), alsa.WithPrefill(12), alsa.WithStallTimeout(10 * time.Second)}
	dev, err := alsa.Open("hw:Loopback,0", opts...)
	if err != nil {
		t.Fatal(err)
	}
	pcm := dev.(*alsa.PCM)
	far, err := alsa.Open("hw:Loopback,1", opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer far.Close()
	board, err := sim.New(sim.Options{Ports: []int{1}})
	if err != nil {
		t.Fatal(err)
	}
	defer board.Close()
	hw := board.Ports()[0]
	_ = hw.Relay.SetBypass(false)
	prof, err := profile.Load("uk", nil)
	if err != nil {
		t.Fatal(err)
	}
	port, err := fxs.New(fxs.Config{Line: hw.Line, Audio: pcm, Profile: prof, Router: noRouter{}, DialPlan: "2xxxxx",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	events, _ := port.Subscribe(1024)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- port.Run(ctx) }()
	defer func() { cancel(); <-done }()

	waitState := func(s fxs.State) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for port.Snapshot().State != s {
			if time.Now().After(deadline) {
				t.Fatalf("state %s, want %s", port.Snapshot().State, s)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitCapture := func(want string) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for captureState(t, pcm) != want {
			if time.Now().After(deadline) {
				t.Fatalf("capture %s, want %s", captureState(t, pcm), want)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitState(fxs.StateIdle)
	waitCapture("PREPARED")

	var in, out hal.Frame
	for cycle := 0; cycle < 5; cycle++ {
		for len(events) > 0 {
			<-events
		}
		if err := board.Hook(1, true); err != nil {
			t.Fatal(err)
		}
		waitState(fxs.StateDialTone)
		waitCapture("RUNNING")
		// The far end hears dial tone (350 + 440 Hz).
		var got []int16
		for i := 0; i < 40; i++ {
			if err := far.ReadFrame(&in); err != nil {
				t.Fatal(err)
			}
			got = append(got, in[:]...)
			if err := far.WriteFrame(&out); err != nil {
				t.Fatal(err)
			}
		}
		if l := dsp.ToneLevelDBm0(got[len(got)/2:], 350); l < -30 {
			t.Fatalf("cycle %d: dial tone at %.1f dBm0 at the far end", cycle, l)
		}
		// The far end keys one digit; the port detects it first time.
		d := string("0123456789"[cycle*3%10])
		keys, _ := dsp.AppendDTMF(nil, d, 60*time.Millisecond, 60*time.Millisecond, -10)
		digit := ""
		for i := 0; i < 100 && digit == ""; i++ {
			clear(out[:])
			n := copy(out[:], keys)
			keys = keys[n:]
			if err := far.ReadFrame(&in); err != nil {
				t.Fatal(err)
			}
			if err := far.WriteFrame(&out); err != nil {
				t.Fatal(err)
			}
			for len(events) > 0 {
				if e := <-events; e.Kind == fxs.EventDigit {
					digit = e.Digit
				}
			}
		}
		if digit != d {
			t.Fatalf("cycle %d: first digit %q, want %q", cycle, digit, d)
		}
		clear(out[:])
		board.Hook(1, false)
		waitState(fxs.StateIdle)
		waitCapture("PREPARED")
		r0 := pcm.Stats().Read
		time.Sleep(200 * time.Millisecond)
		if r := pcm.Stats().Read; r != r0 {
			t.Fatalf("cycle %d: the resting port read %d frames", cycle, r-r0)
		}
	}
	fmt.Printf("FIGURE alsa port rest: 5 off-hook cycles, device %+v\n", pcm.Stats())
}
