package main

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/critline/critline/internal/testenv"
	"github.com/critline/critline/internal/testpeer"
)

// countLines counts the daemon's log lines matching re.
func countLines(log string, re *regexp.Regexp) int {
	n := 0
	for _, l := range strings.Split(log, "\n") {
		if re.MatchString(l) {
			n++
		}
	}
	return n
}

// With the PBX unreachable the log says each thing once: the first mode
// decision waits for the first probes (no lifeline-then-survivable flap at
// start), and a registrar that stays down is one WARN per port however
// often the lines retry (the retries are DEBUG, counted).
//
// It runs with register = "first", where a line keeps retrying its REGISTER
// while no registrar answers; with "all" (the default) a line waits for a
// down registrar's probes to answer again before it registers, so there is
// nothing to repeat.
func TestQuietLogWhilePBXDown(t *testing.T) {
	p := startDaemon(t, simConfigWith(t, `register = "all"`, `register = "first"`)) // registrar 127.0.0.1:5070: nobody there
	// The first mode is recorded once the registrar has been probed (it is
	// provisional before, while the trunk already carries calls).
	eventually(t, "the first mode recorded", func() bool { return len(p.status().RecentModes) > 0 })
	st := p.status()
	if len(st.RecentModes) != 1 || st.RecentModes[0].From != "" || st.RecentModes[0].To != "survivable" {
		t.Errorf("mode history at start %+v, want one decision: survivable", st.RecentModes)
	}
	if v := p.metric("critline_mode_changes_total"); v != "0" {
		t.Errorf("mode changes at start: %s", v)
	}
	if strings.Contains(p.log.String(), "mode=lifeline") {
		t.Errorf("lifeline logged at start:\n%s", p.log.String())
	}
	// Wait for each line's second failed attempt (the daemon under test logs
	// at debug level), then count.
	for _, port := range []string{"1", "2"} {
		again := regexp.MustCompile(`level=DEBUG msg="registration failed again" .*port=` + port + ` `)
		testenv.Eventually(t, time.Minute, "port "+port+"'s second registration attempt", func() bool { return countLines(p.log.String(), again) > 0 })
	}
	log := p.log.String()
	for _, port := range []string{"1", "2"} {
		for _, msg := range []string{`"registration failed"`, `"line registration"`} {
			re := regexp.MustCompile(`level=WARN msg=` + msg + ` .*port=` + port + ` `)
			if n := countLines(log, re); n != 1 {
				t.Errorf("%d WARN %s lines for port %s, want 1", n, msg, port)
			}
		}
	}
	if t.Failed() {
		t.Logf("log:\n%s", log)
	}
}

// A registrar that dies is not shown active, and one that comes back shows
// the loss since it came back, not the outage's.
func TestRegistrarStatusAcrossAnOutage(t *testing.T) {
	pbx := testpeer.StartKamailio(t, testpeer.KamailioOptions{Users: pbxUsers()})
	p := startDaemon(t, pbxConfig(t, pbx.Addr))
	eventually(t, "registered, normal", func() bool { st := p.status(); return st.Mode == "normal" && registered(st) })
	if r := p.status().Registrars[0]; !r.Up || !r.Active || r.Loss != 0 {
		t.Fatalf("registrar before the outage: %+v", r)
	}
	pbx.Kill()
	eventually(t, "registrar down", func() bool { return !p.status().Registrars[0].Up })
	if r := p.status().Registrars[0]; r.Active {
		t.Errorf("a dead registrar is shown active: %+v", r)
	}
	// Keep it down for a whole loss window (20 probes), as a real outage
	// would be, before it comes back.
	lost := func() int {
		n, _ := strconv.Atoi(p.metric(`critline_registrar_probes_total{registrar="pbx1",result="lost"}`))
		return n
	}
	from := lost()
	testenv.Eventually(t, time.Minute, "20 more probes lost", func() bool { return lost() >= from+20 })
	pbx.Start()
	eventually(t, "registrar up again", func() bool { return p.status().Registrars[0].Up })
	if r := p.status().Registrars[0]; r.Loss > 0.5 {
		t.Errorf("a registrar that is back shows %.0f %% loss: %+v", 100*r.Loss, r)
	}
	eventually(t, "lines registered again", func() bool { return registered(p.status()) })
}
