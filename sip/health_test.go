package sip

import (
	"strings"
	"testing"
	"time"

	"github.com/critline/critline/hal"

	"github.com/prometheus/client_golang/prometheus"
)

func TestHealthHysteresis(t *testing.T) {
	clk := hal.NewManualClock(time.Hour)
	r := &regPath{}
	step := func(ok bool) (changed, up bool) {
		clk.Advance(500 * time.Millisecond) // a probe interval
		c := r.record(ok, 0, 2, 3, clk.Now())
		return c, r.up
	}
	// unknown: the first answer is enough to be up
	if c, up := step(true); !c || !up {
		t.Fatalf("first answer: changed %v up %v", c, up)
	}
	if c, up := step(false); c || !up {
		t.Fatalf("one miss must not take it down")
	}
	step(true) // a success resets the misses
	step(false)
	if c, up := step(false); !c || up {
		t.Fatalf("two misses in a row: changed %v up %v", c, up)
	}
	step(true)
	step(true)
	if r.up {
		t.Fatal("came up after 2 of 3 successes")
	}
	if c, up := step(true); !c || !up {
		t.Fatal("3 successes must bring it up")
	}
	if r.upSince != clk.Now() {
		t.Fatalf("up since %v on the UA's clock, want %v (the third answer)", r.upSince, clk.Now())
	}
	h := r.health()
	if h.Loss != 0 || !h.Known {
		t.Fatalf("loss window just after coming up: %+v", h)
	}
	step(false)
	if h := r.health(); h.Loss != 0.25 {
		t.Fatalf("one loss in four probes since coming up: %+v", h)
	}
	// unknown and silent from the start: down after DownAfter misses
	r2 := &regPath{}
	r2.record(false, 0, 2, 3, clk.Now())
	if r2.known {
		t.Fatal("a verdict after one miss")
	}
	if !r2.record(false, 0, 2, 3, clk.Now()) || r2.up || !r2.known {
		t.Fatal("no down verdict after two misses")
	}
}

// Loss describes the registrar as it is now: one that has just come back
// from an outage shows no loss (it once showed 85 %: the outage's losses
// filled the window), one that has just gone down shows total loss, and
// in between the window covers the last 20 probes.
func TestLossSinceTheVerdict(t *testing.T) {
	r := &regPath{}
	r.record(true, 0, 2, 3, 0)
	for range 30 {
		r.record(false, 0, 2, 3, 0) // the outage
	}
	if h := r.health(); h.Up || h.Loss != 1 {
		t.Fatalf("during the outage: %+v", h)
	}
	for range 3 {
		r.record(true, 0, 2, 3, 0)
	}
	if h := r.health(); !h.Up || h.Loss != 0 {
		t.Fatalf("just back up: %+v, want loss 0", h)
	}
	for i := range 40 { // then 1 in 4 lost, for longer than the window
		r.record(i%4 != 3, 0, 2, 3, 0)
	}
	if h := r.health(); !h.Up || h.Loss != 0.25 {
		t.Fatalf("steady 25 %% loss: %+v", h)
	}
	r.record(false, 0, 2, 3, 0)
	r.record(false, 0, 2, 3, 0)
	if h := r.health(); h.Up || h.Loss != 1 {
		t.Fatalf("just gone down: %+v", h)
	}
}

func TestConfigErrorsNameTheFix(t *testing.T) {
	_, err := New(Config{
		Listen: "nowhere", Advertise: "pbx.example", RTPPortMin: 5000, RTPPortMax: 4000,
		Registrars: []Registrar{{Name: "a", Address: "10.0.0.1:5060", Transport: "sctp"}, {Name: "a", Address: ""}},
		Lines:      []Line{{Port: 1, Extension: "270001"}, {Port: 1, Extension: "bad user"}},
		Registerer: prometheus.NewRegistry(),
	})
	if err == nil {
		t.Fatal("accepted a broken config")
	}
	for _, want := range []string{"listen \"nowhere\"", "advertise", "rtp port range", "transport \"sctp\"", "name used twice",
		"missing address", "port 1: configured twice", "not a SIP user", "OnIncoming is nil"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

// Which path a registrar is reached over, on a manual clock: fail over at
// once to the first path that is up, fail back to a preferred path only
// once it has been up (and not held) for the fail-back period and no call
// uses the current one.
func TestChoosePath(t *testing.T) {
	const fb = 30 * time.Second
	clk := hal.NewManualClock(time.Hour)
	up := func(since time.Duration) pathFacts { return pathFacts{known: true, up: true, upSince: since} }
	down := pathFacts{known: true}
	idle := func() bool { return false }
	busy := func() bool { return true }
	lan, wwan := 0, 1

	if got := choosePath([]pathFacts{{}, up(0)}, lan, clk.Now(), fb, idle); got != lan {
		t.Errorf("LAN not probed yet: path %d, want it kept", got)
	}
	if got := choosePath([]pathFacts{down, up(0)}, lan, clk.Now(), fb, busy); got != wwan {
		t.Errorf("LAN down: path %d, want the data path at once, calls or not", got)
	}
	if got := choosePath([]pathFacts{down, down}, lan, clk.Now(), fb, idle); got != lan {
		t.Errorf("both down: path %d, want it kept", got)
	}
	back := clk.Now()
	paths := []pathFacts{up(back), up(0)}
	clk.Advance(fb - time.Millisecond)
	if got := choosePath(paths, wwan, clk.Now(), fb, idle); got != wwan {
		t.Errorf("LAN back for less than the fail-back period: path %d", got)
	}
	clk.Advance(time.Millisecond)
	if got := choosePath(paths, wwan, clk.Now(), fb, busy); got != wwan {
		t.Errorf("LAN back long enough but a call on the data path: path %d, want no move", got)
	}
	if got := choosePath(paths, wwan, clk.Now(), fb, idle); got != lan {
		t.Errorf("LAN back long enough, idle: path %d, want the LAN", got)
	}
	paths[lan].holding = true
	if got := choosePath(paths, wwan, clk.Now(), fb, idle); got != wwan {
		t.Errorf("LAN's verdict held (its interface coming back): path %d, want no move", got)
	}
	if got := choosePath([]pathFacts{up(0), down}, wwan, clk.Now(), fb, idle); got != lan {
		t.Errorf("data path down, LAN up long since: path %d, want the LAN", got)
	}
}
