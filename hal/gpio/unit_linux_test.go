//go:build linux

package gpio

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"log/slog"

	"github.com/critline/critline/hal"
	"github.com/warthog618/go-gpiocdev"
)

// Gaps in the kernel's per-line sequence numbers are counted as lost; the
// events themselves pass through with their timestamp and Seq unchanged.
func TestSequenceGapsCountedAsLost(t *testing.T) {
	b := &Board{log: slog.New(slog.DiscardHandler)}
	pl := &portLine{b: b, id: 3, events: make(chan hal.HookEvent, 8)}
	in := &input{fn: "port 3 hook", b: b, onEdge: pl.deliver}
	for _, e := range []gpiocdev.LineEvent{
		{Timestamp: 100 * time.Millisecond, Type: gpiocdev.LineEventRisingEdge, LineSeqno: 1},
		{Timestamp: 150 * time.Millisecond, Type: gpiocdev.LineEventFallingEdge, LineSeqno: 2},
		{Timestamp: 400 * time.Millisecond, Type: gpiocdev.LineEventRisingEdge, LineSeqno: 5},
	} {
		in.handle(e)
	}
	if st := b.Stats(); st.Lost != 2 || st.Dropped != 0 {
		t.Fatalf("stats %+v, want 2 lost", st)
	}
	want := []hal.HookEvent{
		{Port: 3, OffHook: true, At: 100 * time.Millisecond, Seq: 1},
		{Port: 3, OffHook: false, At: 150 * time.Millisecond, Seq: 2},
		{Port: 3, OffHook: true, At: 400 * time.Millisecond, Seq: 5},
	}
	for _, w := range want {
		if got := <-pl.events; got != w {
			t.Fatalf("got %+v, want %+v", got, w)
		}
	}
}

func TestFullChannelDropsAndCounts(t *testing.T) {
	b := &Board{log: slog.New(slog.DiscardHandler)}
	pl := &portLine{b: b, id: 1, events: make(chan hal.HookEvent, 1)}
	in := &input{fn: "port 1 hook", b: b, onEdge: pl.deliver}
	for i := uint32(1); i <= 4; i++ {
		in.handle(gpiocdev.LineEvent{LineSeqno: i})
	}
	if st := b.Stats(); st.Dropped != 3 || st.Lost != 0 {
		t.Fatalf("stats %+v, want 3 dropped", st)
	}
}

func TestLinkReadsCarrier(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "eth0"), 0o755); err != nil {
		t.Fatal(err)
	}
	carrier := filepath.Join(root, "eth0", "carrier")
	write := func(v string) {
		if err := os.WriteFile(carrier, []byte(v+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("1")
	l := newLink(root, "eth0", 5*time.Millisecond, 4, slog.New(slog.DiscardHandler))
	defer l.close()
	if st, err := l.Link(); err != nil || !st.Up {
		t.Fatalf("carrier 1: %+v %v", st, err)
	}
	write("0")
	select {
	case st := <-l.Events():
		if st.Up {
			t.Fatalf("event %+v after carrier 0", st)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no event after carrier 0")
	}
	if err := os.Remove(carrier); err != nil {
		t.Fatal(err)
	}
	if st, err := l.Link(); err != nil || st.Up {
		t.Fatalf("missing interface: %+v %v, want down", st, err)
	}
	none := newLink(root, "", time.Second, 1, slog.New(slog.DiscardHandler))
	defer none.close()
	if st, err := none.Link(); err != nil || !st.Up {
		t.Fatalf("no interface configured: %+v %v, want up", st, err)
	}
}
