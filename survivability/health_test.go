package survivability

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/critline/critline/fxs"
	"github.com/critline/critline/hal"
	"github.com/critline/critline/sip"
)

func TestDecide(t *testing.T) {
	up, down := map[string]bool{"pbx": true}, map[string]bool{"pbx": false}
	trunkUp, trunkDown := map[string]bool{"lte": true}, map[string]bool{"lte": false}
	for _, c := range []struct {
		h      Health
		mode   Mode
		reason string
	}{
		{Health{Mains: true, LANUp: true, Registrars: up, Trunks: trunkUp}, Normal, "registrar pbx reachable"},
		{Health{Mains: false, LANUp: true, Registrars: up, Trunks: trunkUp}, Normal, "on battery"},
		{Health{Mains: true, LANUp: true, Registrars: down, Trunks: trunkUp}, Survivable, "no registrar reachable; trunk lte up"},
		{Health{Mains: true, LANUp: false, Registrars: up, Trunks: trunkUp}, Survivable, "LAN down"},
		{Health{Mains: true, LANUp: true, Registrars: down, Trunks: trunkDown}, Lifeline, "no route left"},
		{Health{Mains: true, LANUp: true, Registrars: map[string]bool{}, Trunks: map[string]bool{}}, Lifeline, "no route left"},
		{Health{Mains: false, BatteryLow: true, LANUp: true, Registrars: up, Trunks: trunkUp, Copper: true}, Lifeline, "battery low"},
		// Without a copper line behind every relay, a low battery does not
		// abandon working routes.
		{Health{Mains: false, BatteryLow: true, LANUp: true, Registrars: up, Trunks: trunkUp}, Normal, "battery low: serving calls"},
		{Health{Mains: false, BatteryLow: true, LANUp: false, Registrars: up, Trunks: trunkUp}, Survivable, "battery low"},
		// A trunk in limited service is no route for ordinary calls.
		{Health{Mains: true, LANUp: true, Registrars: down, Trunks: trunkDown, EmergencyTrunks: trunkUp}, Lifeline, "trunk lte: emergency calls only"},
		{Health{Mains: true, LANUp: true, Registrars: up, Forced: Lifeline}, Lifeline, "forced"},
	} {
		mode, reason := decide(c.h)
		if mode != c.mode || !strings.Contains(reason, c.reason) {
			t.Errorf("%+v: got %s %q, want %s containing %q", c.h, mode, reason, c.mode, c.reason)
		}
	}
}

func TestWorse(t *testing.T) {
	if !worse(Lifeline, Survivable) || !worse(Survivable, Normal) || worse(Normal, Survivable) || worse(Normal, Normal) {
		t.Fatal("mode order wrong")
	}
}

// Which failures let the next rung try, and which tone the porter hears.
func TestClassifyFailures(t *testing.T) {
	for _, c := range []struct {
		err    error
		retry  bool
		reason fxs.FailReason
	}{
		{fmt.Errorf("dial: %w", hal.ErrBusy), false, fxs.FailBusy},
		{hal.ErrNoAnswer, false, fxs.FailCongestion},
		{hal.ErrRejected, false, fxs.FailUnobtainable},
		{fmt.Errorf("x: %w", hal.ErrNoCarrier), true, fxs.FailCongestion},
		{hal.ErrTrunkDown, true, fxs.FailCongestion},
		{hal.ErrTrunkBusy, true, fxs.FailCongestion},
	} {
		if retry, r := classifyTrunkErr(c.err); retry != c.retry || r != c.reason {
			t.Errorf("trunk %v: retry %v %s", c.err, retry, r)
		}
	}
	for _, c := range []struct {
		err    error
		retry  bool
		reason fxs.FailReason
	}{
		{&sip.StatusError{Code: 486}, false, fxs.FailBusy},
		{&sip.StatusError{Code: 404}, false, fxs.FailUnobtainable},
		{&sip.StatusError{Code: 503}, true, fxs.FailCongestion},
		{&sip.StatusError{Code: 408}, true, fxs.FailCongestion},
		{fmt.Errorf("dial: %w", sip.ErrTimeout), true, fxs.FailCongestion},
		{sip.ErrTransport, true, fxs.FailCongestion},
		{errors.New("anything else"), true, fxs.FailCongestion},
	} {
		if retry, r := classifySIPErr(c.err); retry != c.retry || r != c.reason {
			t.Errorf("sip %v: retry %v %s", c.err, retry, r)
		}
	}
}
