package control

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/status.golden.json from the Status type (a deliberate change of the contract)")

const goldenStatus = "testdata/status.golden.json"

// fullStatus has every field of the status set, so that each one shows in
// the JSON (omitempty ones included).
func fullStatus() Status {
	at := time.Date(2026, 11, 27, 9, 30, 0, 0, time.UTC)
	audio, volts, low := -9.2, 50.0, 3000.0
	return Status{
		Version: "1.4.0", Board: "sim", Profile: "uk",
		Mode: "survivable", ModeSince: at, ModeReason: "no registrar reachable; trunk lte up",
		Uptime:         3600.5,
		Power:          Power{Source: "battery", Mains: false, BatteryLow: true, Shedding: true},
		RouteAvailable: true, EmergencyRouteAvailable: true, EmergencyRoute: "pbx-first",
		LAN: LAN{Up: true},
		Registrars: []Registrar{{Name: "chorus", Address: "10.1.2.3:5060", Transport: "udp", Up: true, Active: true,
			RTTMillis: 4.2, Loss: 0.05, Detail: "recovering: back in use after the fail-back period",
			Via: "any", Path: "wwan", Holding: true,
			Paths: []RegistrarPath{{Path: "wwan", Up: true, Known: true, Holding: true, RTTMillis: 61.5, Loss: 0.1, PublicAddress: "203.0.113.9:40112"}}}},
		Paths: []NetPath{{Name: "wwan", Interface: "wwan0", Up: true, Address: "100.64.0.2", Detail: "bearer down", Since: at,
			SIPBytesIn: 1200, SIPBytesOut: 1500, RTPBytesIn: 960000, RTPBytesOut: 960000}},
		Trunks: []Trunk{{Name: "lte", Kind: "modem", Up: true, ModemUp: true, EmergencyCalls: true, Registered: true, Operator: "EE", SignalDBm: -73,
			InCall: true, Detail: "registered", Service: "full",
			Services:     []TrunkService{{Name: "deflection", Support: "working", Detail: "AT+CTFR carried", Since: at}},
			Waiting:      "07700900999",
			MissedCalls:  2,
			RecentMissed: []MissedCall{{At: at, Caller: "withheld", Reason: "no-port"}},
			Data:         &TrunkData{State: "up", Interface: "wwan0", Bearer: "at", USBMode: "ecm", Detail: "data call up", Since: at, Connects: 1}}},
		Ports: []Port{{ID: 1, Name: "Lodge desk", Extension: "270001", Hook: "off", State: "connected",
			Condition: "left-off-hook", Digits: "999", Route: "lte", Registered: "chorus", Forwarding: "all->07700900555",
			ForwardMirror: "on", Divert: "07700900333", Relay: "board", Mode: "survivable", Lifeline: true,
			Registrations: []LineRegistration{{Registrar: "chorus", Registered: false, Error: "registrar chorus: timeout", Path: "wwan"}},
			BehindRelay:   "copper", Engine: "ok", Caller: "withheld", CallerName: "Bursar", OriginallyCalled: "270009",
			Media: "srtp", MessageWaiting: true, Messages: "2 new, 8 old",
			Held: "07700900123", Waiting: "07700900222", ThreeWay: true, Flash: "local"}},
		RecentModes: []ModeChange{{At: at, From: "normal", To: "survivable", Reason: "no registrar reachable; trunk lte up"}},
		Lockouts:    []Lockout{{Kind: "caller", Key: "07700900777", Remaining: 3599}},
		Remote: &Remote{ServiceExtension: "270009", ServiceRegistered: "chorus", StaffNumbers: 2,
			ServiceTrunk: "svc", Prompts: "en-GB built-in"},
		PathTests: []PathStatus{{Path: "trunk:lte", Target: "08001234567",
			Last: &PathTest{Path: "trunk:lte", Target: "08001234567", Result: "ok", Detail: "answered in 1.6 s from trunk lte; a 1004 Hz tone at -9.2 dBm0",
				SetupSeconds: 1.6, AudioDBm0: &audio, LineVolts: &volts, Seconds: 4.5, At: at, Trigger: "scheduled"},
			LastSuccess: &at, NextTest: &at, Postponed: "port 1 handset off-hook: the test waits until the porters are idle",
			ConsecutiveFailures: 1, IntervalSeconds: 86400}},
		Battery: &Battery{ExpectedRuntimeSeconds: 14400, OnBatterySince: &at,
			Runs: []BatteryRun{{Start: at, End: at.Add(time.Hour), Seconds: 3600, BatteryLowAfterSeconds: &low, EndedBy: "mains", Early: true}}},
		Transfers: []Transfer{{Port: 1, Held: "07700900123", Target: "270002", Method: "bridge", State: "joined", Since: at}},
		Groups: []Group{{Name: "lodge", Extension: "270000", Strategy: "sequential", Line: "registered", Overflow: "07700900333",
			Calls: 1, Ringing: []string{"port:2"}, Members: []GroupMember{{Member: "port:2", State: "ringing"}}}},
	}
}

// zeroFields lists the fields of v (recursively, through slices' first
// elements) that are left at their zero value.
func zeroFields(v reflect.Value, path string) []string {
	switch v.Kind() {
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			if v.Interface().(time.Time).IsZero() {
				return []string{path}
			}
			return nil
		}
		var out []string
		for i := range v.NumField() {
			out = append(out, zeroFields(v.Field(i), path+"."+v.Type().Field(i).Name)...)
		}
		return out
	case reflect.Slice:
		if v.Len() == 0 {
			return []string{path}
		}
		return zeroFields(v.Index(0), path+"[0]")
	case reflect.Bool:
		return nil // false is a value; omitempty bools are set true above
	}
	if v.IsZero() {
		return []string{path}
	}
	return nil
}

// The status JSON is a contract (scripts, the NOC and field engineers read
// it; docs/design.md lists it): a renamed, removed or retyped field fails
// here. A deliberate change: go test ./control -run TestStatusJSONGolden
// -update, and say so in docs/design.md.
func TestStatusJSONGolden(t *testing.T) {
	st := fullStatus()
	if z := zeroFields(reflect.ValueOf(st), "Status"); len(z) > 0 {
		t.Fatalf("fullStatus leaves %s unset: set every field so the golden file shows it", strings.Join(z, ", "))
	}
	got, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	if *update {
		if err := os.WriteFile(goldenStatus, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(goldenStatus)
	if err != nil {
		t.Fatalf("%v (go test ./control -run TestStatusJSONGolden -update writes it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("the status JSON no longer matches %s:\n%s\nIf the contract change is deliberate, rerun with -update and update docs/design.md.",
			goldenStatus, lineDiff(string(want), string(got)))
	}
	// Every key of the golden file is a field of Status.
	dec := json.NewDecoder(bytes.NewReader(want))
	dec.DisallowUnknownFields()
	var back Status
	if err := dec.Decode(&back); err != nil {
		t.Errorf("%s has a key Status does not: %v", goldenStatus, err)
	}
}

// lineDiff shows the lines of want and got that differ, marked - and +.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := 0; i < max(len(w), len(g)); i++ {
		var a, c string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			c = g[i]
		}
		if a != c {
			b.WriteString("- " + a + "\n+ " + c + "\n")
		}
	}
	return b.String()
}
