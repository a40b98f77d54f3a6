package sip

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestHealthHysteresis(t *testing.T) {
	r := &regPath{}
	step := func(ok bool) (changed, up bool) {
		c := r.record(ok, 0, 2, 3)
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
	r2.record(false, 0, 2, 3)
	if r2.known {
		t.Fatal("a verdict after one miss")
	}
	if !r2.record(false, 0, 2, 3) || r2.up || !r2.known {
		t.Fatal("no down verdict after two misses")
	}
}

// Loss describes the registrar as it is now: one that has just come back
// from an outage shows no loss (it once showed 85 %: the outage's losses
// filled the window), one that has just gone down shows total loss, and
// in between the window covers the last 20 probes.
func TestLossSinceTheVerdict(t *testing.T) {
	r := &regPath{}
	r.record(true, 0, 2, 3)
	for range 30 {
		r.record(false, 0, 2, 3) // the outage
	}
	if h := r.health(); h.Up || h.Loss != 1 {
		t.Fatalf("during the outage: %+v", h)
	}
	for range 3 {
		r.record(true, 0, 2, 3)
	}
	if h := r.health(); !h.Up || h.Loss != 0 {
		t.Fatalf("just back up: %+v, want loss 0", h)
	}
	for i := range 40 { // then 1 in 4 lost, for longer than the window
		r.record(i%4 != 3, 0, 2, 3)
	}
	if h := r.health(); !h.Up || h.Loss != 0.25 {
		t.Fatalf("steady 25 %% loss: %+v", h)
	}
	r.record(false, 0, 2, 3)
	r.record(false, 0, 2, 3)
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
