//go:build linux

package modem

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/critline/critline/hal"
	"github.com/critline/critline/hal/sim/modemsim"
	"github.com/critline/critline/internal/testenv"
)

// gather reads one gauge of the rig's trunk.
func gather(t *testing.T, r *rig, name string) float64 {
	t.Helper()
	mfs, err := r.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "trunk" && l.GetValue() == r.tr.Name() {
					return gaugeValue(m)
				}
			}
		}
	}
	t.Fatalf("metric %s not found", name)
	return 0
}

func gaugeValue(m *dto.Metric) float64 {
	if m.GetCounter() != nil {
		return m.GetCounter().GetValue()
	}
	return m.GetGauge().GetValue()
}

// counter reads one counter of the rig's trunk.
func counter(t *testing.T, r *rig, name string) float64 { return gather(t, r, name) }

func TestInitOnEchoingModem(t *testing.T) {
	r := newRig(t, SIMCom)
	st := r.tr.Status()
	if !st.Up || !st.Registered || st.Operator != "critline sim" || st.SignalDBm != -73 {
		t.Fatalf("status after init: %+v", st)
	}
	sent := strings.Join(r.sim.Commands(), "|")
	for _, want := range []string{"ATE0", "AT+CLIP=1", "AT+CREG=2", "AT+CLCC=1", "AT+DDET=1", "AT+CPCMFRM=0"} {
		if !strings.Contains("|"+sent+"|", "|"+want+"|") {
			t.Errorf("init did not send %s: %s", want, sent)
		}
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
	for _, v := range []Variant{SIMCom, Quectel, Generic} {
		t.Run(string(v), func(t *testing.T) { dialAnswerDTMFHangup(t, v) })
	}
}

func dialAnswerDTMFHangup(t *testing.T, v Variant) {
	r := newRig(t, v)
	m := r.mark()
	if _, err := r.tr.Dial(ctx(t), "+447700900123"); err != nil {
		t.Fatal(err)
	}
	if v != Generic { // a generic module is polled, and may be seen answered before ringing
		r.waitKind(m, hal.TrunkAlerting)
	}
	_, m3 := r.waitKind(m, hal.TrunkAnswered)
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
	if err := r.tr.Hangup(ctx(t), r.cur()); err != nil {
		t.Fatal(err)
	}
	ev, _ := r.waitKind(m3, hal.TrunkEnded)
	if ev.Reason != nil {
		t.Fatalf("ended with %v", ev.Reason)
	}
	if r.tr.Status().InCall {
		t.Fatal("still in call")
	}
	if errors.Is(dialErr(r.tr.Dial(ctx(t), "12a")), hal.ErrTrunkDown) {
		t.Fatal("bad number must be refused as bad input")
	}
}

func TestDialOutcomes(t *testing.T) {
	for _, tc := range []struct {
		ondial string
		want   error
	}{
		{"busy", hal.ErrBusy},
		{"noanswer", hal.ErrNoAnswer},
		{"reject", hal.ErrNoCarrier},
	} {
		t.Run(tc.ondial, func(t *testing.T) {
			for _, v := range []Variant{SIMCom, Quectel, Generic} {
				r := newRig(t, v)
				r.ctl("ondial", tc.ondial)
				m := r.mark()
				if _, err := r.tr.Dial(ctx(t), "01234567890"); err != nil {
					t.Fatalf("%s: %v", v, err)
				}
				ev, _ := r.waitKind(m, hal.TrunkEnded)
				if !errors.Is(ev.Reason, tc.want) {
					t.Fatalf("%s: ended with %v, want %v", v, ev.Reason, tc.want)
				}
				if r.count(m, hal.TrunkAnswered) != 0 {
					t.Fatalf("%s: answered?", v)
				}
				// The trunk is free for the next call.
				r.ctl("ondial", "answer")
				m = r.mark()
				if _, err := r.tr.Dial(ctx(t), "01234567890"); err != nil {
					t.Fatalf("%s: second dial: %v", v, err)
				}
				r.waitKind(m, hal.TrunkAnswered)
				r.ctl("hangup")
				ev, _ = r.waitKind(m, hal.TrunkEnded)
				if ev.Reason != nil {
					t.Fatalf("%s: far-end clear gave %v", v, ev.Reason)
				}
			}
		})
	}
}

func TestDialWhileBusyAndWhileDown(t *testing.T) {
	r := newRig(t, SIMCom)
	r.ctl("ondial", "ring")
	if _, err := r.tr.Dial(ctx(t), "123"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.tr.Dial(ctx(t), "456"); !errors.Is(err, hal.ErrTrunkBusy) {
		t.Fatalf("second dial: %v", err)
	}
	m := r.mark()
	r.ctl("answer")
	r.waitKind(m, hal.TrunkAnswered)
	r.tr.Hangup(ctx(t), r.cur())
	r.ctl("network", "limited")
	r.waitStatus(m, "limited service", func(s hal.TrunkStatus) bool { return !s.Registered && s.Service == hal.ServiceLimited })
	if _, err := r.tr.Dial(ctx(t), "123"); !errors.Is(err, hal.ErrRejected) {
		t.Fatalf("ordinary call in limited service: %v", err)
	}
	// The trunk never refuses a call for want of registration itself:
	// emergency calls work in limited service.
	r.ctl("ondial", "answer")
	m = r.mark()
	if _, err := r.tr.Dial(ctx(t), "999"); err != nil {
		t.Fatalf("emergency call without registration: %v", err)
	}
	r.waitKind(m, hal.TrunkAnswered)
	if err := r.tr.Hangup(ctx(t), r.cur()); err != nil {
		t.Fatal(err)
	}
	r.ctl("network", "up")
	r.waitStatus(m, "registered", func(s hal.TrunkStatus) bool { return s.Registered })
}

func TestIncomingCall(t *testing.T) {
	for _, v := range []Variant{SIMCom, Quectel, Generic} {
		t.Run(string(v), func(t *testing.T) {
			r := newRig(t, v)
			m := r.mark()
			r.ctl("ring", "+441234567890", "Porter")
			ev, m2 := r.waitKind(m, hal.TrunkIncoming)
			if ev.CallerID != "+441234567890" || ev.Presentation != hal.PresentationAllowed || ev.CallerName != "Porter" {
				t.Fatalf("incoming %+v", ev)
			}
			if err := r.tr.Answer(ctx(t), r.cur()); err != nil {
				t.Fatal(err)
			}
			r.waitKind(m2, hal.TrunkAnswered)
			r.ctl("hangup")
			ev, _ = r.waitKind(m2, hal.TrunkEnded)
			if ev.Reason != nil {
				t.Fatal(ev.Reason)
			}
			if n := r.count(m, hal.TrunkIncoming); n != 1 {
				t.Fatalf("%d incoming events", n)
			}
		})
	}
}

func TestIncomingWithheldRejectedAndCancelled(t *testing.T) {
	r := newRig(t, SIMCom)
	m := r.mark()
	r.ctl("ring", "withheld")
	ev, m2 := r.waitKind(m, hal.TrunkIncoming)
	if ev.CallerID != "" || ev.Presentation != hal.PresentationWithheld {
		t.Fatalf("withheld: %+v", ev)
	}
	if err := r.tr.Hangup(ctx(t), r.cur()); err != nil { // reject
		t.Fatal(err)
	}
	r.waitKind(m2, hal.TrunkEnded)
	if r.sim.Commands()[len(r.sim.Commands())-1] == "" {
		t.Fatal("no command")
	}

	m = r.mark()
	r.ctl("ring", "unavailable")
	ev, m2 = r.waitKind(m, hal.TrunkIncoming)
	if ev.Presentation != hal.PresentationUnavailable {
		t.Fatalf("unavailable: %+v", ev)
	}
	r.ctl("hangup") // the caller gives up
	ev, _ = r.waitKind(m2, hal.TrunkEnded)
	if ev.Reason != nil {
		t.Fatalf("missed call ended with %v", ev.Reason)
	}
	if err := r.tr.Answer(ctx(t), r.cur()); err == nil {
		t.Fatal("answered a call that is gone")
	}
}

// A generic modem reports nothing when the caller gives up: the +CLCC poll
// must notice.
func TestGenericCallerCancelsFoundByPoll(t *testing.T) {
	r := newRig(t, Generic)
	m := r.mark()
	r.ctl("ring", "0123")
	_, m2 := r.waitKind(m, hal.TrunkIncoming)
	r.ctl("hangup")
	r.waitKind(m2, hal.TrunkEnded)
}

func TestRingBurst(t *testing.T) {
	r := newRig(t, SIMCom)
	m := r.mark()
	burst := ""
	for range 25 {
		burst += `RING\r\n\r\n+CLIP: "07700900999",129,"",0,"",0\r\n\r\n`
	}
	r.ctl("raw", burst)
	r.ctl("raw", `RING\r\nRING\rRING\n`)
	ev, m2 := r.waitKind(m, hal.TrunkIncoming)
	if ev.CallerID != "07700900999" {
		t.Fatalf("incoming %+v", ev)
	}
	// The trunk still answers commands after the burst, and there was one call.
	if _, err := r.tr.Command(ctx(t), "AT"); err != nil {
		t.Fatal(err)
	}
	if n := r.count(m, hal.TrunkIncoming); n != 1 {
		t.Fatalf("%d incoming events for one burst", n)
	}
	// No real call exists in the simulator: the poll ends the phantom call.
	r.waitKind(m2, hal.TrunkEnded)
}

func TestGarbageInterleavedWithURC(t *testing.T) {
	r := newRig(t, SIMCom)
	m := r.mark()
	r.ctl("garbage", "200")
	r.ctl("interleave", `\x00\xff#%garbage\r\n\x07\x1b[0m RING\r\n#$+CLIP: "01865270000",129,"",0,"",0\r\n\xfe`)
	resp, err := r.tr.Command(ctx(t), "AT+CSQ")
	if err != nil {
		t.Fatal(err)
	}
	if l, ok := resp.Line("+CSQ:"); !ok || l != "+CSQ: 20,99" {
		t.Fatalf("response %+v", resp)
	}
	ev, _ := r.waitKind(m, hal.TrunkIncoming)
	if ev.CallerID != "01865270000" {
		t.Fatalf("caller %q", ev.CallerID)
	}
	r.ctl("garbage", "100")
	if _, err := r.tr.Command(ctx(t), "AT"); err != nil {
		t.Fatal(err)
	}
	if !r.tr.Status().Up {
		t.Fatal("garbage took the trunk down")
	}
}

func TestSlowAnswers(t *testing.T) {
	r := newRig(t, SIMCom, withConfig(func(c *Config) { c.CommandTimeout = 2 * time.Second }))
	r.ctl("slow", "250ms")
	m := r.mark()
	if _, err := r.tr.Dial(ctx(t), "999"); err != nil {
		t.Fatal(err)
	}
	r.waitKind(m, hal.TrunkAnswered)
	if err := r.tr.Hangup(ctx(t), r.cur()); err != nil {
		t.Fatal(err)
	}
	if n := r.count(m, hal.TrunkState); n != 0 {
		t.Fatalf("slow modem flapped the trunk: %d state events", n)
	}
}

func TestHangMidCommandRecovers(t *testing.T) {
	r := newRig(t, SIMCom)
	m := r.mark()
	r.ctl("wedge", "mid")
	_, err := r.tr.Command(ctx(t), "AT+CSQ")
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("command on a hung modem: %v", err)
	}
	ev, m2 := r.waitStatus(m, "down", func(s hal.TrunkStatus) bool { return !s.Up })
	if !strings.Contains(ev.Status.Detail, "wedged") {
		t.Fatalf("down because %q", ev.Status.Detail)
	}
	if _, err := r.tr.Dial(ctx(t), "123"); !errors.Is(err, hal.ErrTrunkDown) {
		t.Fatalf("dial on a wedged trunk: %v", err)
	}
	r.ctl("unwedge")
	r.waitStatus(m2, "up", func(s hal.TrunkStatus) bool { return s.Up })
	if _, err := r.tr.Command(ctx(t), "AT"); err != nil {
		t.Fatal(err)
	}
}

func TestUnplugDuringCall(t *testing.T) {
	r := newRig(t, SIMCom)
	m := r.mark()
	if _, err := r.tr.Dial(ctx(t), "07700900123"); err != nil {
		t.Fatal(err)
	}
	_, m2 := r.waitKind(m, hal.TrunkAnswered)
	r.ctl("vanish")
	ev, m3 := r.waitKind(m2, hal.TrunkEnded)
	if !errors.Is(ev.Reason, hal.ErrTrunkDown) {
		t.Fatalf("call ended with %v", ev.Reason)
	}
	r.waitStatus(m2, "down", func(s hal.TrunkStatus) bool { return !s.Up })
	if r.tr.Status().InCall {
		t.Fatal("in call while down")
	}
	if err := r.tr.Hangup(ctx(t), r.cur()); err != nil {
		t.Fatalf("hangup with no call: %v", err)
	}
	r.ctl("return")
	r.waitStatus(m3, "up", func(s hal.TrunkStatus) bool { return s.Up })
	m = r.mark()
	if _, err := r.tr.Dial(ctx(t), "07700900123"); err != nil {
		t.Fatal(err)
	}
	r.waitKind(m, hal.TrunkAnswered)
	if err := r.tr.Hangup(ctx(t), r.cur()); err != nil {
		t.Fatal(err)
	}
}

func TestStartsWithDeviceMissing(t *testing.T) {
	dir := t.TempDir()
	cfg := fastConfig("late", dir+"/modem", dir+"/modem-pcm", SIMCom)
	cfg.Logger = quiet()
	tr, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if st := tr.Status(); st.Up {
		t.Fatalf("up without a device: %+v", st)
	}
	if _, err := tr.Dial(ctx(t), "1"); !errors.Is(err, hal.ErrTrunkDown) {
		t.Fatalf("dial: %v", err)
	}
	sim, err := modemsim.New(modemsim.Options{Dir: dir, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	if err := tr.WaitUp(ctx(t)); err != nil {
		t.Fatal(err)
	}
}

func TestNetworkDropDuringCall(t *testing.T) {
	r := newRig(t, SIMCom)
	m := r.mark()
	r.ctl("ring", "0123")
	_, m2 := r.waitKind(m, hal.TrunkIncoming)
	if err := r.tr.Answer(ctx(t), r.cur()); err != nil {
		t.Fatal(err)
	}
	r.waitKind(m2, hal.TrunkAnswered)
	r.ctl("network", "down")
	r.waitKind(m2, hal.TrunkEnded)
	r.waitStatus(m2, "deregistered", func(s hal.TrunkStatus) bool { return s.Up && !s.Registered })
}

func TestSignalAndMetrics(t *testing.T) {
	r := newRig(t, Quectel)
	sent := "|" + strings.Join(r.sim.Commands(), "|") + "|"
	for _, want := range []string{"AT^DSCI=1", "AT+QTONEDET=1", `AT+QINDCFG="csq",1`, "AT+QPCMV=1,0"} {
		if !strings.Contains(sent, "|"+want+"|") {
			t.Errorf("quectel init did not send %s: %s", want, sent)
		}
	}
	r.ctl("signal", "-91")
	eventually(t, "signal -91", func() bool { return r.tr.Status().SignalDBm == -91 })
	got := gather(t, r, "critline_trunk_signal_dbm")
	if got != -91 {
		t.Fatalf("critline_trunk_signal_dbm %v", got)
	}
	if up := gather(t, r, "critline_trunk_up"); up != 1 {
		t.Fatalf("critline_trunk_up %v", up)
	}
}

func TestForwarding(t *testing.T) {
	r := newRig(t, SIMCom)
	c := ctx(t)
	if err := r.tr.SetForwarding(c, ForwardNoReply, "+447700900555", 20*time.Second); err != nil {
		t.Fatal(err)
	}
	fs, err := r.tr.QueryForwarding(c, ForwardNoReply)
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 1 || !fs[0].Active || fs[0].Number != "+447700900555" || fs[0].Type != 145 || fs[0].Seconds != 20 {
		t.Fatalf("query: %+v", fs)
	}
	if err := r.tr.ClearForwarding(c, ForwardAll); err != nil {
		t.Fatal(err)
	}
	fs, err = r.tr.QueryForwarding(c, ForwardNoReply)
	if err != nil || len(fs) != 1 || fs[0].Active {
		t.Fatalf("after clear: %+v %v", fs, err)
	}
	if err := r.tr.SetForwarding(c, ForwardBusy, "12#", 0); err == nil {
		t.Fatal("accepted a bad number")
	}
}

func TestSMS(t *testing.T) {
	r := newRig(t, SIMCom)
	if err := r.tr.SendSMS(ctx(t), "+447700900555", "critline: mains lost at Lodge"); err != nil {
		t.Fatal(err)
	}
	msgs := r.sim.Messages()
	if len(msgs) != 1 || msgs[0].To != "+447700900555" || msgs[0].Text != "critline: mains lost at Lodge" {
		t.Fatalf("sent %+v", msgs)
	}
	if _, err := r.tr.Command(ctx(t), "AT"); err != nil {
		t.Fatalf("after SMS: %v", err)
	}
	if err := r.tr.SendSMS(ctx(t), "+4477", "bad\x00"); err == nil {
		t.Fatal("accepted a control byte")
	}
	r.ctl("network", "down")
	if err := r.tr.SendSMS(ctx(t), "+447700900555", "x"); err == nil {
		t.Fatal("SMS without network succeeded")
	}
}

func TestCloseEndsEverything(t *testing.T) {
	r := newRig(t, SIMCom)
	m := r.mark()
	if _, err := r.tr.Dial(ctx(t), "07700900123"); err != nil {
		t.Fatal(err)
	}
	r.waitKind(m, hal.TrunkAnswered)
	r.tr.Close()
	<-r.done // the events channel was closed
	ev, _ := r.waitKind(m, hal.TrunkEnded)
	if !errors.Is(ev.Reason, hal.ErrTrunkDown) {
		t.Fatalf("ended with %v", ev.Reason)
	}
	if _, err := r.tr.Dial(ctx(t), "1"); !errors.Is(err, hal.ErrTrunkDown) {
		t.Fatalf("dial after close: %v", err)
	}
	var f hal.Frame
	if err := r.tr.Audio().ReadFrame(&f); !errors.Is(err, hal.ErrClosed) {
		t.Fatalf("read after close: %v", err)
	}
}

// Close never waits on a modem that does not answer.
func TestCloseWhileWedged(t *testing.T) {
	r := newRig(t, SIMCom, withConfig(func(c *Config) { c.CommandTimeout = 5 * time.Second; c.ProbeInterval = time.Hour }))
	r.ctl("wedge")
	errc := make(chan error, 1)
	go func() {
		_, err := r.tr.Command(context.Background(), "AT+CSQ")
		errc <- err
	}()
	eventually(t, "command in flight", func() bool {
		c := r.sim.Commands()
		return len(c) > 0 && c[len(c)-1] == "AT+CSQ"
	})
	done := make(chan struct{})
	go func() { r.tr.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(4 * time.Second): // a hang guard: far beyond any close
		t.Fatal("Close blocked on a wedged modem")
	}
	if err := <-errc; !errors.Is(err, ErrPortClosed) {
		t.Fatalf("command in flight ended with %v", err)
	}
}

// The trunk's metrics pass promtool's lint (names, help, units).
func TestMetricsLint(t *testing.T) {
	promtool := testenv.LookTool(t, "promtool", "prometheus")
	r := newRig(t, SIMCom)
	r.ctl("ondial", "busy")
	m := r.mark()
	if _, err := r.tr.Dial(ctx(t), "123"); err != nil {
		t.Fatal(err)
	}
	r.waitKind(m, hal.TrunkEnded)
	var buf bytes.Buffer
	mfs, err := r.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if _, err := expfmt.MetricFamilyToText(&buf, mf); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []string{`critline_trunk_up{trunk="lte"} 1`, `critline_trunk_signal_dbm{trunk="lte"} -73`,
		`critline_trunk_calls_total{direction="out",result="busy",trunk="lte"} 1`} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = &buf
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool: %v\n%s", err, out)
	}
}

// A module wedged from the start gets the Reset hook (a power GPIO on a
// real board); here the reset wakes the simulator.
func TestResetHookWakesWedgedModule(t *testing.T) {
	dir := t.TempDir()
	sim, err := modemsim.New(modemsim.Options{Dir: dir, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	sim.Control([]string{"wedge"})
	cfg := fastConfig("lte", sim.ATPath(), "", SIMCom)
	cfg.Logger = quiet()
	resets := make(chan struct{}, 10)
	cfg.Reset = func(context.Context) error {
		resets <- struct{}{}
		_, err := sim.Control([]string{"unwedge"})
		return err
	}
	tr, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if err := tr.WaitUp(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if len(resets) != 1 {
		t.Fatalf("%d resets", len(resets))
	}
}

// Every call has its own identity; a late hang-up of an old call never
// clears the next one, and each event says which call it is about.
func TestCallIdentity(t *testing.T) {
	r := newRig(t, SIMCom)
	m := r.mark()
	a, err := r.tr.Dial(ctx(t), "07700900001")
	if err != nil || a == 0 {
		t.Fatalf("first dial: %d %v", a, err)
	}
	ev, _ := r.waitKind(m, hal.TrunkAnswered)
	if ev.Call != a {
		t.Fatalf("answered event for call %d, want %d", ev.Call, a)
	}
	m = r.mark()
	if err := r.tr.Hangup(ctx(t), a); err != nil {
		t.Fatal(err)
	}
	ev, _ = r.waitKind(m, hal.TrunkEnded)
	if ev.Call != a {
		t.Fatalf("ended event for call %d, want %d", ev.Call, a)
	}
	m = r.mark()
	b, err := r.tr.Dial(ctx(t), "07700900002")
	if err != nil || b == a || b == 0 {
		t.Fatalf("second dial: %d (first %d) %v", b, a, err)
	}
	r.waitKind(m, hal.TrunkAnswered)
	// The first call's owner hangs up late: the second call stays up.
	if err := r.tr.Hangup(ctx(t), a); err != nil {
		t.Fatal(err)
	}
	if err := r.tr.Answer(ctx(t), a); err == nil {
		t.Fatal("answering an old call succeeded")
	}
	if !r.tr.Status().InCall || r.cur() != b {
		t.Fatalf("a late hang-up of call %d cleared call %d", a, b)
	}
	if err := r.tr.Hangup(ctx(t), b); err != nil {
		t.Fatal(err)
	}
	// An inbound call gets an identity of its own, carried by every event.
	m = r.mark()
	r.ctl("ring", "01865270000")
	in, m2 := r.waitKind(m, hal.TrunkIncoming)
	if in.Call == 0 || in.Call == a || in.Call == b {
		t.Fatalf("inbound call identity %d (earlier %d, %d)", in.Call, a, b)
	}
	if err := r.tr.Answer(ctx(t), b); err == nil {
		t.Fatal("answered the ringing call with another call's identity")
	}
	if err := r.tr.Answer(ctx(t), in.Call); err != nil {
		t.Fatal(err)
	}
	if ev, _ := r.waitKind(m2, hal.TrunkAnswered); ev.Call != in.Call {
		t.Fatalf("answered event for call %d, want %d", ev.Call, in.Call)
	}
	r.ctl("hangup")
	if ev, _ := r.waitKind(m2, hal.TrunkEnded); ev.Call != in.Call {
		t.Fatalf("ended event for call %d, want %d", ev.Call, in.Call)
	}
}

// A dial the caller gives up on is cleared on the module before the trunk
// is free again, so the next call is never cleared by the old one's
// AT+CHUP or by a late report of the old call.
func TestCancelledDialFreesTheTrunkCleanly(t *testing.T) {
	for i := range 5 {
		r := newRig(t, SIMCom)
		r.ctl("slow", "100ms") // answers late, but within the command timeout
		c, cancel := context.WithTimeout(ctx(t), 30*time.Millisecond)
		if _, err := r.tr.Dial(c, "07700900001"); err == nil {
			t.Fatal("a cancelled dial succeeded")
		}
		cancel()
		r.ctl("slow", "0")
		m := r.mark()
		var id hal.TrunkCallID
		eventually(t, "the trunk free again", func() bool {
			var err error
			id, err = r.tr.Dial(ctx(t), "999")
			if err != nil && !errors.Is(err, hal.ErrTrunkBusy) {
				t.Fatalf("run %d: dial after a cancelled one: %v", i, err)
			}
			return err == nil
		})
		ev, _ := r.waitFor(m, "the second call answered or ended", func(e hal.TrunkEvent) bool {
			return e.Call == id && (e.Kind == hal.TrunkAnswered || e.Kind == hal.TrunkEnded)
		})
		if ev.Kind != hal.TrunkAnswered {
			t.Fatalf("run %d: the call after a cancelled dial did not connect: %+v", i, ev)
		}
		r.tr.Close()
	}
}

// The network states a trunk can be in, and what each lets it do: a trunk
// is a route for ordinary calls only while registered, for emergency calls
// also in limited service, and for nothing with no network at all.
func TestNetworkService(t *testing.T) {
	r := newRig(t, Quectel)
	check := func(what string, svc hal.NetworkService, up, emerg, modemUp float64) {
		t.Helper()
		eventually(t, what, func() bool { return r.tr.Status().Service == svc })
		for name, want := range map[string]float64{"critline_trunk_up": up, "critline_trunk_emergency_up": emerg, "critline_trunk_modem_up": modemUp} {
			if got := gather(t, r, name); got != want {
				t.Errorf("%s: %s = %v, want %v", what, name, got, want)
			}
		}
	}
	check("registered", hal.ServiceFull, 1, 1, 1)
	if st := r.tr.Status(); !st.CanCall() || !st.CanCallEmergency() {
		t.Fatalf("registered trunk cannot call: %+v", st)
	}

	r.ctl("network", "limited")
	check("limited service", hal.ServiceLimited, 0, 1, 1)
	if st := r.tr.Status(); st.CanCall() || !st.CanCallEmergency() || st.Registered {
		t.Fatalf("limited service: %+v", st)
	}
	if _, err := r.tr.Dial(ctx(t), "07700900123"); !errors.Is(err, hal.ErrRejected) {
		t.Fatalf("ordinary call in limited service: %v", err)
	}
	m := r.mark()
	id, err := r.tr.Dial(ctx(t), "112")
	if err != nil {
		t.Fatalf("emergency call in limited service: %v", err)
	}
	if ev, _ := r.waitKind(m, hal.TrunkAnswered); ev.Call != id {
		t.Fatalf("answered %+v", ev)
	}
	if err := r.tr.Hangup(ctx(t), id); err != nil {
		t.Fatal(err)
	}

	r.ctl("network", "off")
	check("no network", hal.ServiceNone, 0, 0, 1)
	if _, err := r.tr.Dial(ctx(t), "999"); !errors.Is(err, hal.ErrNoCarrier) {
		t.Fatalf("emergency call with no network: %v, want no carrier", err)
	}

	r.ctl("network", "up")
	check("registered again", hal.ServiceFull, 1, 1, 1)
}
