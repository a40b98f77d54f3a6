package main

import (
	"regexp"
	"testing"

	"github.com/critline/critline/internal/testpeer"
)

// Issue 14 point 3: a port set to pass the hook flash to the PBX
// (`flash = "sip-info"` or `"dtmf-relay"`) sends it in an INFO, in either
// form analogue adapters use, through kamailio to the caller, and does
// nothing with it itself: no hold, no enquiry call.
func TestFlashPassedToThePBX(t *testing.T) {
	for _, tc := range []struct{ flash, ctype, body string }{
		{"sip-info", "application/hook-flash", `signal=hf`},
		{"dtmf-relay", "application/dtmf-relay", `Signal=!`},
	} {
		t.Run(tc.flash, func(t *testing.T) {
			pbx := testpeer.StartKamailio(t, testpeer.KamailioOptions{Users: pbxUsers()})
			cfg := editConfig(t, pbxConfig(t, pbx.Addr), "",
				`extension = "270001"`+"\n", `extension = "270001"`+"\nflash = \""+tc.flash+"\"\n")
			p := startDaemon(t, cfg)
			eventually(t, "both lines registered, mode normal", func() bool { st := p.status(); return st.Mode == "normal" && registered(st) })
			if f := portState(p.status(), 1).Flash; f != tc.flash {
				t.Fatalf("status shows port 1's flash as %q, want %q", f, tc.flash)
			}
			caller := sippUAC(t, pbx, scenarioFile(t, "uac-info-flash.xml", "",
				"{{CTYPE}}", tc.ctype, "{{BODY}}", regexp.QuoteMeta(tc.body)), "270001")
			eventually(t, "port 1 rings", func() bool { return portState(p.status(), 1).State == "ringing" })
			p.mustCtl("sim", "hook", "1", "off")
			eventually(t, "port 1 connected", func() bool { return portState(p.status(), 1).State == "connected" })
			p.mustCtl("sim", "flash", "1")
			caller.wait("the caller got the flash in an INFO and hung up")
			if v := p.metric(`critline_flash_services_total{port="1",service="enquiry"}`); v != "" && v != "0" {
				t.Errorf("the port acted on a flash it should have passed on: enquiry %s", v)
			}
			eventually(t, "the call over at the port", func() bool { return portState(p.status(), 1).State != "connected" })
			p.mustCtl("sim", "hook", "1", "on")
		})
	}
}
