//go:build linux

package modem

import (
	"strings"
	"testing"
	"time"

	"github.com/critline/critline/hal"
	"github.com/critline/critline/hal/sim/modemsim"
)

func withData(apn string) rigOpt {
	return func(_ *modemsim.Options, c *Config) {
		c.DataBearer, c.DataInterface, c.APN = BearerAT, "wwan0", apn
		c.DataTimeout = 2 * time.Second
		c.DataRetryMin, c.DataRetryMax = 100*time.Millisecond, 400*time.Millisecond
	}
}

func (r *rig) dataState(want hal.DataState) hal.DataStatus {
	r.t.Helper()
	var st hal.DataStatus
	eventually(r.t, "data "+string(want), func() bool { st = r.tr.DataStatus(); return st.State == want })
	return st
}

func (r *rig) simCommands() string {
	out, _ := r.sim.Control([]string{"commands", "200"})
	return out
}

// Each variant dials its data call with its own command on the AT port the
// trunk already owns, reads the module's network-device mode, writes the
// APN first when one is configured, and keeps the session up: a session
// the network ends is dialled again (after a refusal, with a backoff), and
// a voice call meanwhile goes through.
func TestDataBearerPerVariant(t *testing.T) {
	for _, tc := range []struct {
		v       Variant
		connect string
		query   string
		mode    string
	}{
		{SIMCom, "AT$QCRMCALL=1,1", "AT$QCRMCALL?", "rndis"},
		{Quectel, "AT+QNETDEVCTL=1,1,1", "AT+QNETDEVCTL?", "ecm"},
		{Generic, "AT+CGACT=1,1", "AT+CGACT?", ""},
	} {
		t.Run(string(tc.v), func(t *testing.T) {
			r := newRig(t, tc.v, withData("internet.example"))
			st := r.dataState(hal.DataUp)
			if st.Interface != "wwan0" || st.Bearer != BearerAT || st.USBMode != tc.mode || st.Connects != 1 {
				t.Fatalf("data status %+v, want wwan0 by at in mode %q, one session", st, tc.mode)
			}
			cmds := r.simCommands()
			apn := strings.Index(cmds, `AT+CGDCONT=1,"IP","internet.example"`)
			conn := strings.Index(cmds, tc.connect)
			if apn < 0 || conn < 0 || apn > conn {
				t.Fatalf("want the APN written, then %s:\n%s", tc.connect, cmds)
			}
			if !strings.Contains(cmds, tc.query) {
				t.Fatalf("the session was never read with %s:\n%s", tc.query, cmds)
			}
			if got := gather(t, r, "critline_trunk_data_up"); got != 1 {
				t.Fatalf("critline_trunk_data_up %v", got)
			}

			// The network ends the session and refuses new ones for a moment.
			if _, err := r.sim.Control([]string{"data", "drop", "600ms"}); err != nil {
				t.Fatal(err)
			}
			r.dataState(hal.DataDown)
			st = r.dataState(hal.DataUp)
			if st.Connects != 2 {
				t.Fatalf("after a drop: %+v, want a second session", st)
			}

			// A voice call goes through while the data call is up.
			from := r.mark()
			id, err := r.tr.Dial(ctx(t), "07700900123")
			if err != nil {
				t.Fatalf("dial with the data call up: %v", err)
			}
			r.waitKind(from, hal.TrunkAnswered)
			if err := r.tr.Hangup(ctx(t), id); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// A network that refuses data sessions gets a connect attempt per backoff
// period, never a loop, and the status says why; allowed again, it comes up.
func TestDataBearerRefusedBacksOff(t *testing.T) {
	r := newRig(t, SIMCom, withData(""), withConfig(func(c *Config) {
		c.DataRetryMin, c.DataRetryMax = 300*time.Millisecond, 300*time.Millisecond
	}))
	r.dataState(hal.DataUp)
	if _, err := r.sim.Control([]string{"data", "refuse"}); err != nil {
		t.Fatal(err)
	}
	st := r.dataState(hal.DataDown)
	eventually(t, "a refused attempt", func() bool {
		st = r.tr.DataStatus()
		return strings.Contains(st.Detail, "NO CARRIER") && strings.Contains(st.Detail, "retrying in")
	})
	if strings.Contains(r.simCommands(), "CGDCONT") {
		t.Fatal("no APN is configured, yet one was written")
	}
	before := strings.Count(r.simCommands(), "AT$QCRMCALL=1,1")
	time.Sleep(time.Second)
	tries := strings.Count(r.simCommands(), "AT$QCRMCALL=1,1") - before
	// At most one per backoff period (300 ms) and probe: a loop would be
	// dozens. Not a timing assertion: a generous ceiling.
	if tries > 8 {
		t.Fatalf("%d connect attempts in a second against a refusing network: a loop", tries)
	}
	if _, err := r.sim.Control([]string{"data", "allow"}); err != nil {
		t.Fatal(err)
	}
	r.dataState(hal.DataUp)
}

// The modem unplugged takes the data connection down with it; plugged back
// in, the session is dialled again. An external bearer is only reported.
func TestDataBearerFollowsTheModem(t *testing.T) {
	r := newRig(t, Quectel, withData(""))
	r.dataState(hal.DataUp)
	if _, err := r.sim.Control([]string{"vanish"}); err != nil {
		t.Fatal(err)
	}
	st := r.dataState(hal.DataDown)
	if !strings.Contains(st.Detail, "modem down") {
		t.Fatalf("detail %q", st.Detail)
	}
	if _, err := r.sim.Control([]string{"return"}); err != nil {
		t.Fatal(err)
	}
	r.dataState(hal.DataUp)

	ext := newRig(t, Quectel, withConfig(func(c *Config) { c.DataBearer, c.DataInterface = BearerExternal, "wwan0" }))
	if st := ext.tr.DataStatus(); st.State != hal.DataExternal || st.Interface != "wwan0" {
		t.Fatalf("external bearer: %+v", st)
	}
	if strings.Contains(ext.simCommands(), "QNETDEVCTL") {
		t.Fatal("an external bearer was dialled")
	}
}

func TestDataConfigErrorsNameTheFix(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{Name: "lte", Device: "/dev/x", DataBearer: "ppp"}, `use "at"`},
		{Config{Name: "lte", Device: "/dev/x", APN: `a"b`}, "APN"},
		{Config{Name: "lte", Device: "/dev/x", DataCID: 99}, "1..24"},
	} {
		err := c.cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.cfg, err, c.want)
		}
	}
}
