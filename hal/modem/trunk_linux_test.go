//go:build linux

package modem

import (
	"errors"
	"testing"

	"github.com/critline/critline/hal"
)

func TestInitOnEchoingModem(t *testing.T) {
	r := newRig(t, SIMCom)
	st := r.tr.Status()
	if !st.Up || !st.Registered || st.Operator != "critline sim" || st.SignalDBm != -73 {
		t.Fatalf("status after init: %+v", st)
	}
	// Echo is on by default in the simulator, as on a real module: init
	// succeeded through it. Now force echo back on and keep working.
	r.ctl("echo", "stuck")
	resp, err := r.tr.Command(ctx(t), "AT+CSQ")
	if err != nil {
		t.Fatal(err)
	}
	if l, ok := resp.Line("+CSQ:"); !ok || l != "+CSQ: 20,99" {
		t.Fatalf("AT+CSQ with echo: %+v", resp)
	}
}

func TestDialAnswerDTMFHangup(t *testing.T) {
	r := newRig(t, SIMCom)
	m := r.mark()
	if err := r.tr.Dial(ctx(t), "+447700900123"); err != nil {
		t.Fatal(err)
	}
	_, m2 := r.waitKind(m, hal.TrunkAlerting)
	_, m3 := r.waitKind(m2, hal.TrunkAnswered)
	if !r.tr.Status().InCall {
		t.Fatal("not in call after answer")
	}
	if err := r.tr.SendDTMF(ctx(t), "12#"); err != nil {
		t.Fatal(err)
	}
	if d := r.sim.FarDigits(); d != "12#" {
		t.Fatalf("far end got DTMF %q", d)
	}
	r.ctl("dtmf", "5*")
	e, m4 := r.waitKind(m3, hal.TrunkDigit)
	e2, _ := r.waitKind(m4, hal.TrunkDigit)
	if e.Digit != '5' || e2.Digit != '*' {
		t.Fatalf("digits %q %q", e.Digit, e2.Digit)
	}
	if err := r.tr.Hangup(ctx(t)); err != nil {
		t.Fatal(err)
	}
	ev, _ := r.waitKind(m3, hal.TrunkEnded)
	if ev.Reason != nil {
		t.Fatalf("ended with %v", ev.Reason)
	}
	if r.tr.Status().InCall {
		t.Fatal("still in call")
	}
	if errors.Is(r.tr.Dial(ctx(t), "12a"), hal.ErrTrunkDown) {
		t.Fatal("bad number must be refused as bad input")
	}
}
