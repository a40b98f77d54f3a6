//go:build linux && vmtest

package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The field tool's `test board` end to end, inside the VM scripts/test-vm
// boots: the pi-hat example's pin map on a gpio-sim chip, audio on
// snd-aloop, through config.Load, hal/gpio and hal/alsa.
func TestVMTestBoardOnSimulatedHat(t *testing.T) {
	cfgfs := "/sys/kernel/config/gpio-sim/hat"
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	write := func(p, v string) { t.Helper(); must(os.WriteFile(p, []byte(v), 0o644)) }
	read := func(p string) string {
		t.Helper()
		b, err := os.ReadFile(p)
		must(err)
		return strings.TrimSpace(string(b))
	}
	must(os.Mkdir(cfgfs, 0o755))
	must(os.Mkdir(cfgfs+"/bank0", 0o755))
	write(cfgfs+"/bank0/num_lines", "32")
	write(cfgfs+"/live", "1")
	defer func() { write(cfgfs+"/live", "0"); _ = os.Remove(cfgfs + "/bank0"); _ = os.Remove(cfgfs) }()
	chip := read(cfgfs + "/bank0/chip_name")
	sys := filepath.Join("/sys/devices/platform", read(cfgfs+"/dev_name"), chip)
	pull := func(line int, v string) { write(filepath.Join(sys, "sim_gpio"+strconv.Itoa(line), "pull"), v) }
	level := func(line int) string { return read(filepath.Join(sys, "sim_gpio"+strconv.Itoa(line), "value")) }

	// Port 1 off-hook (the SLIC pulls its active-low hook output down), the
	// UPS reports mains and a good battery, relays float high.
	pull(17, "pull-down")
	pull(24, "pull-up")
	pull(25, "pull-up")
	pull(13, "pull-up")
	pull(19, "pull-up")

	cfg := filepath.Join(t.TempDir(), "hat.toml")
	must(os.WriteFile(cfg, []byte(strings.ReplaceAll(hatConfig, "CHIP", chip)), 0o644))

	go func() { // a porter lifts port 2's handset while the tool watches
		time.Sleep(6 * time.Second)
		pull(22, "pull-down")
	}()
	var out, errb bytes.Buffer
	code := runTestBoard(context.Background(), []string{"--config", cfg, "--hold", "200ms", "--watch", "10s"}, &out, &errb)
	t.Logf("stdout:\n%s\nstderr:\n%s", out.String(), errb.String())
	if code != exitOK {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{
		"board gpio, 2 port(s)",
		"port 1 relay: energised, bypass=false",
		"port 1 hook: off-hook", "port 2 hook: on-hook",
		"mains: present", "battery: ok", "LAN link: up",
		"port 1 ring (enable): on 200ms, off", "port 2 polarity: reversed 200ms, forward",
		"led fault: on 200ms, off", "led status: on 200ms, off",
		"port 1 audio: played 1 kHz", "port 2 audio: played 1 kHz",
		"port 2 hook off-hook (kernel time",
		"port 2 relay: bypass=true", "done: every relay back in bypass",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
	// Everything released; the relays fall back to their drive's pull, which
	// docs/wiring.md requires to be the de-energised level.
	pull(13, "pull-down")
	pull(19, "pull-down")
	for _, l := range []int{13, 19, 27, 23, 5, 6, 12, 16} {
		if level(l) != "0" {
			t.Errorf("line %d reads %s after the test, want 0", l, level(l))
		}
	}
}

// hatConfig is examples/pi-hat.toml with the chip and audio devices replaced
// (and port 1's hook bias left as-is: gpio-sim would take a requested pull-up
// as the porter putting the handset down).
const hatConfig = `
[board]
kind = "gpio"
profile = "uk"
chip = "CHIP"
debounce = "5ms"
link = "lo"
mains = { line = 24 }
battery_low = { line = 25, active_low = true, bias = "pull-up" }
led.status = { line = 12 }
led.fault = { line = 16 }

[[port]]
id = 1
name = "Lodge desk"
extension = "270001"
password = "change-me-1"
hook = { line = 17, active_low = true, debounce = "5ms" }
ring = { line = 27 }
polarity = { line = 5 }
relay = { line = 13 }
ring_drive = "enable"
audio = "hw:Loopback,0"

[[port]]
id = 2
name = "Night porter"
extension = "270002"
password = "change-me-2"
hook = { line = 22, active_low = true, bias = "pull-up", debounce = "5ms" }
ring = { line = 23 }
polarity = { line = 6 }
relay = { line = 19 }
ring_drive = "enable"
audio = "hw:Loopback,1"

[sip]
listen = "0.0.0.0:5060"

[[sip.registrar]]
name = "chorus"
address = "10.1.2.3:5060"
transport = "udp"

[survivability]
emergency = ["999", "112"]
`
