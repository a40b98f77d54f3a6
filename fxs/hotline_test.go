package fxs

import (
	"testing"
	"time"
)

func withHotline(n string) harnessOpt { return func(c *Config) { c.Hotline = n } }
func withWarmline(n string, after time.Duration) harnessOpt {
	return func(c *Config) { c.Warmline, c.WarmlineAfter = n, after }
}

// A hotline port dials its number the moment the handset is lifted, with
// no dial tone and whatever the dial plan says; every time.
func TestHotlineDialsOnOffHook(t *testing.T) {
	h := newHarness(t, "uk", withHotline("270000"), withPlan("999"))
	for range 3 {
		h.offHook()
		r := h.route()
		if r.req.Number != "270000" || r.req.Emergency {
			t.Fatalf("hotline routed %+v", r.req)
		}
		r.reply <- routeReply{call: &fakeCall{}}
		if s := h.state(); s != StateRouting {
			t.Fatalf("state %s after the hotline fired, want routing", s)
		}
		h.onHook()
		h.waitState(StateIdle)
	}
}

// A hotline to an emergency number is routed as one.
func TestHotlineToEmergency(t *testing.T) {
	h := newHarness(t, "uk", withHotline("999"))
	h.offHook()
	if r := h.route(); r.req.Number != "999" || !r.req.Emergency {
		t.Fatalf("routed %+v", r.req)
	}
}

// A warmline port plays dial tone; silence for warmline_after dials the
// warmline, but a number dialled first (999 above all) goes where it was
// dialled.
func TestWarmline(t *testing.T) {
	h := newHarness(t, "uk", withWarmline("270000", 5*time.Second))
	h.offHook()
	h.waitState(StateDialTone)
	if l := toneLevel(h.frames(25), 350); l < -30 {
		t.Fatalf("no dial tone on a warmline port: 350 Hz at %.1f dBm0", l)
	}
	select {
	case r := <-h.router.reqs:
		t.Fatalf("routed %+v before the warmline's pause was over", r.req)
	default:
	}
	h.advance(5 * time.Second)
	r := h.route()
	if r.req.Number != "270000" || r.req.Emergency {
		t.Fatalf("warmline routed %+v", r.req)
	}
	r.reply <- routeReply{call: &fakeCall{}}
	h.onHook()
	h.waitState(StateIdle)

	// 999 keyed before the pause is over.
	h.offHook()
	h.waitState(StateDialTone)
	h.dtmf("999")
	r = h.route()
	if r.req.Number != "999" || !r.req.Emergency {
		t.Fatalf("999 on a warmline port routed %+v", r.req)
	}
	r.reply <- routeReply{call: &fakeCall{}}
	h.advance(10 * time.Second)
	select {
	case r := <-h.router.reqs:
		t.Fatalf("the warmline fired after 999 was dialled: %+v", r.req)
	case <-time.After(100 * time.Millisecond):
	}
	h.onHook()
	h.waitState(StateIdle)

	// One digit is enough to stop it (the porter is dialling).
	h.offHook()
	h.waitState(StateDialTone)
	h.dtmf("0")
	h.advance(6 * time.Second)
	select {
	case r := <-h.router.reqs:
		t.Fatalf("the warmline fired after a digit: %+v", r.req)
	case <-time.After(100 * time.Millisecond):
	}
}

func TestHotlineConfigChecked(t *testing.T) {
	h := newHarness(t, "uk")
	cfg := Config{Line: h.line, Profile: h.p.prof, Router: h.router}
	for _, c := range []Config{
		{Hotline: "1", Warmline: "2", WarmlineAfter: time.Second},
		{Warmline: "2"},
		{Warmline: "2", WarmlineAfter: time.Hour},
	} {
		c.Line, c.Profile, c.Router = cfg.Line, cfg.Profile, cfg.Router
		if _, err := New(c); err == nil {
			t.Errorf("New accepted hotline %q warmline %q after %s", c.Hotline, c.Warmline, c.WarmlineAfter)
		}
	}
}
