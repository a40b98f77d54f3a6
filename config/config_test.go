package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/critline/critline/hal"
	"github.com/critline/critline/internal/testenv"
)

func TestExamplesAreValid(t *testing.T) {
	files, err := filepath.Glob("../examples/*.toml")
	if err != nil || len(files) < 2 {
		t.Fatalf("examples: %v %v", files, err)
	}
	for _, f := range files {
		c, err := Load(f)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if len(c.Ports) != 2 {
			t.Errorf("%s: %d ports, want 2", f, len(c.Ports))
		}
	}
}

func TestPiHatProfile(t *testing.T) {
	c, err := Load("../examples/pi-hat.toml")
	if err != nil {
		t.Fatal(err)
	}
	bp := c.BoardProfile()
	if len(bp.Ports) != 2 {
		t.Fatalf("ports %d", len(bp.Ports))
	}
	p := bp.Ports[0]
	if p.Hook != (hal.Pin{Chip: "gpiochip0", Line: 17, ActiveLow: true, Bias: hal.BiasPullUp, Debounce: 0}) {
		t.Errorf("hook pin %+v", p.Hook)
	}
	if p.Relay.Line != 13 || p.Ring.Line != 27 || p.Polarity.Line != 5 || p.Audio != "hw:1,0" {
		t.Errorf("port 1 %+v", p)
	}
	if bp.Mains == nil || bp.Mains.Line != 24 || bp.Mains.Debounce != 0 {
		t.Errorf("mains %+v", bp.Mains)
	}
	if bp.BatteryLow == nil || !bp.BatteryLow.ActiveLow {
		t.Errorf("battery %+v", bp.BatteryLow)
	}
	if bp.LEDs["status"].Line != 12 || bp.LEDs["fault"].Line != 16 {
		t.Errorf("leds %+v", bp.LEDs)
	}
	if c.Trunks[0].Device != "/dev/ttyUSB2" || c.Trunks[0].PCM != "/dev/ttyUSB4" {
		t.Errorf("trunk %+v", c.Trunks[0])
	}
}

// A pin's own debounce wins over the board's, and "0ms" means none.
func TestDebounceOverride(t *testing.T) {
	c, err := Parse("d.toml", []byte("[board]\nkind = \"gpio\"\ndebounce = \"10ms\"\nmains = { line = 3, debounce = \"0ms\" }\nbattery_low = { line = 4 }\n"+
		"[[port]]\nid = 1\nextension = \"201\"\naudio = \"hw:1,0\"\nhook = { line = 17 }\nring = { line = 27 }\npolarity = { line = 5 }\nrelay = { line = 13 }\n"))
	if err != nil {
		t.Fatal(err)
	}
	bp := c.BoardProfile()
	if bp.Mains.Debounce != 0 || bp.BatteryLow.Debounce != 10e6 || bp.Ports[0].Hook.Debounce != 10e6 {
		t.Fatalf("debounce: mains %v battery %v hook %v", bp.Mains.Debounce, bp.BatteryLow.Debounce, bp.Ports[0].Hook.Debounce)
	}
}

func TestDefaults(t *testing.T) {
	c, err := Parse("min.toml", []byte("[[port]]\nid = 1\nextension = \"201\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Board.Kind != "sim" || c.Board.Profile != "uk" || c.Control.Socket != DefaultSocket ||
		c.Metrics.Listen != DefaultMetricsListen || c.State.Dir != DefaultStateDir ||
		strings.Join(c.Survivability.Emergency, ",") != "999,112" || c.Ports[0].RingDrive != "enable" {
		t.Errorf("defaults not applied: %+v", c)
	}
}

// Every problem is reported at once, each with its line and a fix.
func TestAllErrorsAtOnce(t *testing.T) {
	src := `[board]
kind = "gpio"
profle = "uk"

[[port]]
id = 1
extension = "201"
hook = { line = 17 }
ring = { line = 17 }
polarity = { line = 5 }
relay = { line = 6 }
audio = "hw:1,0"

[[port]]
id = 1
hook = { line = 20 }
ring = { line = 21 }
polarity = { line = 22 }
relay = { line = "23" }
audio = "hw:1,1"

[sip]
listen = "nowhere"

[[sip.registrar]]
name = "a"
address = "10.0.0.1:5060"
transport = "carrier-pigeon"

[[trunk]]
name = "lte"
kind = "modem"

[metrics]
listen = 9469
`
	_, err := Parse("bad.toml", []byte(src))
	if err == nil {
		t.Fatal("bad config accepted")
	}
	got := err.Error()
	want := []string{
		`bad.toml:3: board.profle: unknown key: did you mean "profile"?`,
		`bad.toml:9: port[0].ring.line: line gpiochip0:17 is already used by port[0].hook`,
		`bad.toml:15: port[1].id: port id 1 is already used by port[0]`,
		`bad.toml:14: port[1].extension: missing:`,
		`bad.toml:19: port[1].relay.line: expected an integer, found the string "23": remove the quotes`,
		`bad.toml:23: sip.listen: "nowhere" is not host:port`,
		`bad.toml:28: sip.registrar[0].transport: "carrier-pigeon" is not a transport`,
		`bad.toml:30: trunk[0].device: missing: a modem trunk needs its AT port`,
		`bad.toml:35: metrics.listen: expected a string, found an integer`,
	}
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("missing %q in:\n%s", w, got)
		}
	}
	if n := err.(*Errors).Len(); n < len(want) {
		t.Errorf("%d problems, want at least %d", n, len(want))
	}
}

func TestSyntaxErrorHasLine(t *testing.T) {
	_, err := Parse("syn.toml", []byte("[board]\nkind = \"sim\"\nprofile = uk\n"))
	if err == nil || !strings.HasPrefix(err.Error(), "syn.toml:3: ") {
		t.Fatalf("got %v", err)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.toml"))
	if err == nil || !strings.Contains(err.Error(), "does not exist") || !strings.Contains(err.Error(), "examples/sim.toml") {
		t.Fatalf("got %v", err)
	}
}

// An unreadable file is reported as such. As root (CI) the load runs with
// an ordinary user's file permissions, since root reads any file.
func TestLoadUnreadableFile(t *testing.T) {
	p := filepath.Join(testenv.SearchableTempDir(t), "c.toml")
	if err := os.WriteFile(p, []byte(""), 0o000); err != nil {
		t.Fatal(err)
	}
	var err error
	testenv.AsUnprivileged(t, func() { _, err = Load(p) })
	if err == nil || !strings.Contains(err.Error(), "not readable") {
		t.Fatalf("got %v", err)
	}
	// The same file is fine for whoever may read it.
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	testenv.AsUnprivileged(t, func() { _, err = Load(p) })
	if err == nil || strings.Contains(err.Error(), "not readable") {
		t.Fatalf("a readable (empty) file: got %v", err)
	}
}

func FuzzParse(f *testing.F) {
	for _, name := range []string{"../examples/sim.toml", "../examples/pi-hat.toml"} {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("[[port]]\nid = 1\nextension = \"1\"\n"))
	f.Add([]byte("[board]\nled = 3\n[[port]]\nid = \"x\"\nhook = []\n"))
	f.Add([]byte("[[sip.registrar]]\n[[sip.registrar]]\nname=1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz.toml", data)
		if err == nil {
			if c == nil || len(c.Ports) == 0 {
				t.Fatal("accepted config without ports")
			}
			_ = c.BoardProfile()
			return
		}
		if c != nil {
			t.Fatal("config returned with an error")
		}
		for _, l := range err.(*Errors).Lines() {
			if !strings.HasPrefix(l, "fuzz.toml") {
				t.Fatalf("problem without file name: %q", l)
			}
		}
	})
}

// Issue 11's keys: what is behind each relay, registration with every
// registrar and its expiry, the emergency route; their defaults, their
// errors, and the notice for a relay whose copper is not stated.
func TestSurvivabilityKeys(t *testing.T) {
	c, err := Parse("k.toml", []byte("[[port]]\nid = 1\nextension = \"201\"\n\n[[port]]\nid = 2\nextension = \"202\"\nbehind_relay = \"copper\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Ports[0].BehindRelay != "none" || c.Ports[1].BehindRelay != "copper" {
		t.Errorf("behind_relay: %q, %q", c.Ports[0].BehindRelay, c.Ports[1].BehindRelay)
	}
	if c.SIP.Register != "all" || c.SIP.RegisterExpiry.Duration != DefaultRegisterExpiry || c.Survivability.EmergencyRoute != "pbx-first" {
		t.Errorf("defaults: register %q expiry %v emergency_route %q", c.SIP.Register, c.SIP.RegisterExpiry, c.Survivability.EmergencyRoute)
	}
	notes := c.NoticeLines()
	if len(notes) != 1 || !strings.HasPrefix(notes[0], `k.toml:1: port[0].behind_relay: not set: taken as "none"`) {
		t.Errorf("notices %q", notes)
	}

	_, err = Parse("bad.toml", []byte(`[[port]]
id = 1
extension = "201"
behind_relay = "fibre"

[sip]
register = "some"
register_expiry = "5s"

[survivability]
emergency_route = "satellite-first"
`))
	if err == nil {
		t.Fatal("bad values accepted")
	}
	for _, w := range []string{
		`bad.toml:4: port[0].behind_relay: "fibre": use "copper"`,
		`bad.toml:7: sip.register: "some": use "all"`,
		`bad.toml:8: sip.register_expiry: 5s: use 30s to 1h0m0s`,
		`bad.toml:11: survivability.emergency_route: "satellite-first": use "pbx-first"`,
	} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("missing %q in:\n%v", w, err)
		}
	}
}

// The path tests' targets (issue 17): never an emergency number, never the
// trunk's own number; what they are expected to do; the battery's runtime.
func TestPathTestKeys(t *testing.T) {
	c, err := Parse("k.toml", []byte(`[board]
battery_runtime = "4h"
[[port]]
id = 1
extension = "201"
behind_relay = "none"
[[sip.registrar]]
name = "pbx"
address = "10.1.2.3:5060"
test_extension = "*43"
test_expect = "echo"
[[trunk]]
name = "lte"
kind = "sim"
test_number = "07700900100"
test_expect = "tone"
test_tone_hz = 1020
`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Board.BatteryRuntime.Duration != 4*time.Hour || c.SIP.Registrars[0].TestExtension != "*43" || c.Trunks[0].TestToneHz != 1020 {
		t.Fatalf("%+v %+v %+v", c.Board, c.SIP.Registrars[0], c.Trunks[0])
	}
	_, err = Parse("bad.toml", []byte(`[board]
battery_runtime = "10s"
[[port]]
id = 1
extension = "201"
behind_relay = "none"
[[sip.registrar]]
name = "pbx"
address = "10.1.2.3:5060"
test_extension = "112"
[[trunk]]
name = "lte"
kind = "sim"
number = "07700900001"
test_number = "07700900001"
test_expect = "music"
test_tone_hz = 9000
[[trunk]]
name = "lte2"
kind = "sim"
test_expect = "tone"
`))
	if err == nil {
		t.Fatal("bad values accepted")
	}
	for _, w := range []string{
		`bad.toml:2: board.battery_runtime: 10s: give the UPS's rated runtime`,
		`bad.toml:10: sip.registrar[0].test_extension: "112" is an emergency number`,
		`bad.toml:15: trunk[0].test_number: "07700900001" is the trunk's own number`,
		`bad.toml:16: trunk[0].test_expect: "music": use audio`,
		`bad.toml:17: trunk[0].test_tone_hz: 9000 Hz: use 50..3900`,
		`trunk[1].test_expect: there is no test_number to test`,
	} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("missing %q in:\n%v", w, err)
		}
	}
}

// The flash-hook keys of a port (issue 14 point 3): defaults, and each bad
// value named with its line and the fix.
func TestFlashKeys(t *testing.T) {
	c, err := Parse("k.toml", []byte("[[port]]\nid = 1\nextension = \"201\"\n\n[[port]]\nid = 2\nextension = \"202\"\nflash = \"sip-info\"\ntransfer_on_hangup = false\n"))
	if err != nil {
		t.Fatal(err)
	}
	p1, p2 := c.Ports[0], c.Ports[1]
	if p1.Flash != "local" || !p1.CallWaitingOn() || !p1.TransferOnHangupOn() {
		t.Errorf("port 1 defaults: flash %q call_waiting %v transfer_on_hangup %v", p1.Flash, p1.CallWaitingOn(), p1.TransferOnHangupOn())
	}
	if p2.Flash != "sip-info" || p2.CallWaitingOn() || p2.TransferOnHangupOn() {
		t.Errorf("port 2: flash %q call_waiting %v transfer_on_hangup %v", p2.Flash, p2.CallWaitingOn(), p2.TransferOnHangupOn())
	}
	_, err = Parse("bad.toml", []byte(`[[port]]
id = 1
extension = "201"
flash = "morse"

[[port]]
id = 2
extension = "202"
flash = "rfc4733"
call_waiting = true
transfer_on_hangup = "yes"
`))
	if err == nil {
		t.Fatal("bad values accepted")
	}
	for _, w := range []string{
		`bad.toml:4: port[0].flash: "morse": use "local"`,
		`bad.toml:10: port[1].call_waiting: true needs flash = "local"`,
		`bad.toml:11: port[1].transfer_on_hangup:`,
	} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("missing %q in:\n%v", w, err)
		}
	}
}
