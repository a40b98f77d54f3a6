//go:build spandsp

package main

import (
	"testing"
	"time"

	"github.com/critline/critline/fxs/dsp"
	"github.com/critline/critline/internal/spandsp"
	"github.com/critline/critline/internal/testpeer"
)

// refereeMessages decodes the caller-ID channel's messages (V.23, the UK
// profile) in a recording with spandsp, checksums put back.
func refereeMessages(audio []int16) [][]byte {
	rx := spandsp.NewADSIRx(spandsp.StandardCLIP)
	defer rx.Close()
	rx.Process(audio)
	var out [][]byte
	for _, m := range rx.Messages() {
		var sum byte
		for _, b := range m {
			sum += b
		}
		out = append(out, append(append([]byte(nil), m...), -sum))
	}
	return out
}

// refereeCallerID decodes the one caller-ID message spandsp finds in a
// recording of the earpiece (UK profile).
func refereeCallerID(t *testing.T, audio []int16) dsp.CallerID {
	t.Helper()
	msgs := refereeMessages(audio)
	if len(msgs) != 1 {
		t.Fatalf("spandsp decoded %d caller-ID messages from the earpiece, want 1 (%x)", len(msgs), msgs)
	}
	cid, err := dsp.ParseCallerID(msgs[0])
	if err != nil {
		t.Fatalf("caller ID %x: %v", msgs[0], err)
	}
	return cid
}

// recordWhile records port's earpiece for seconds while start runs (the
// recording begins first).
func recordWhile(t *testing.T, p *proc, port, seconds int, start func()) []int16 {
	t.Helper()
	heard := make(chan []int16, 1)
	go func() { heard <- listenNoFatal(p, port, seconds) }()
	time.Sleep(300 * time.Millisecond) // the recording has begun (as the CIDCW test does)
	start()
	return <-heard
}

// callerIDFrom runs an inbound flow and returns the caller ID spandsp
// decodes from the ringing handset.
func callerIDFrom(t *testing.T, scenario string) (dsp.CallerID, *proc) {
	t.Helper()
	pbx := dialectPBX(t, testpeer.KamailioOptions{})
	p := dialectDaemon(t, pbx)
	var s *dialectRun
	audio := recordWhile(t, p, 1, 3, func() {
		s = startDialect(t, scenario, dialectOpts{to: pbx.Addr, service: "270001"})
	})
	cid := refereeCallerID(t, audio)
	s.wait()
	return cid, p
}

// Teams through an SBC, a withheld caller (anonymous From, PAI, Privacy:
// id): the handset shows the UK's reason for absence for a withheld
// number and name ('P'), never the asserted number.
func TestCallerIDWithheldFromTeams(t *testing.T) {
	cid, p := callerIDFrom(t, "caller-id-pai-privacy-teams.xml")
	if cid.Number != "" || cid.NumberAbsence != dsp.Private || cid.Name != "" || cid.NameAbsence != dsp.Private {
		t.Fatalf("withheld caller shown as %+v, want number and name withheld ('P')", cid)
	}
	_ = p
	t.Logf("spandsp: number absent %q, name absent %q", byte(cid.NumberAbsence), byte(cid.NameAbsence))
}

// Asterisk's P-Asserted-Identity: number and display name on the handset.
func TestCallerIDFromAsteriskPAI(t *testing.T) {
	cid, _ := callerIDFrom(t, "caller-id-pai-display-asterisk.xml")
	if cid.Number != "01223339000" || cid.Name != "Senior Tutor" {
		t.Fatalf("caller ID %+v, want the PAI's 01223339000 \"Senior Tutor\"", cid)
	}
}

// Unified CM's restricted caller (RPID privacy=full, anonymous From).
func TestCallerIDRestrictedFromCUCM(t *testing.T) {
	cid, _ := callerIDFrom(t, "caller-id-rpid-privacy-cucm.xml")
	if cid.Number != "" || cid.NumberAbsence != dsp.Private || cid.NameAbsence != dsp.Private {
		t.Fatalf("restricted caller shown as %+v, want number and name withheld", cid)
	}
}

// 3CX's plain From identity: number and display name.
func TestCallerIDFromFromHeader3CX(t *testing.T) {
	cid, _ := callerIDFrom(t, "caller-id-from-3cx.xml")
	if cid.Number != "3005" || cid.Name != "Night Manager" {
		t.Fatalf("caller ID %+v, want From's 3005 \"Night Manager\"", cid)
	}
}

// Unified CM's unsolicited NOTIFYs set and clear the lamp (visual message
// waiting on the hook, decoded by spandsp) and give the message-waiting
// dial tone (the UK's special dial tone) in between.
func TestMessageWaitingUnsolicitedFromCUCM(t *testing.T) {
	pbx := dialectPBX(t, testpeer.KamailioOptions{})
	p := dialectDaemon(t, pbx)
	var s *dialectRun
	set := recordWhile(t, p, 1, 3, func() {
		s = startDialect(t, "mwi-unsolicited-cucm.xml", dialectOpts{to: pbx.Addr, service: "270001", repl: []string{"{{GAP}}", "9000"}})
	})
	wantLamp(t, "the first NOTIFY", set, true)
	st := p.status()
	if !portState(st, 1).MessageWaiting || p.metric(`critline_message_waiting{port="1"}`) != "1" {
		t.Fatalf("message waiting not in status or metrics: %+v", portState(st, 1))
	}
	// The porter lifts the handset: the special dial tone, 350+440 Hz for
	// 750 ms then 440 Hz alone for 750 ms.
	p.mustCtl("sim", "hook", "1", "off")
	eventually(t, "dial tone", func() bool { return portState(p.status(), 1).State == "dialtone" })
	tone := listen(t, p, 1, 2)
	if !alternates350(tone) {
		t.Fatal("no message-waiting (special) dial tone: 350 Hz does not come and go every 750 ms")
	}
	hangUpPort(t, p, 1)
	clear := listen(t, p, 1, 6)
	wantLamp(t, "the second NOTIFY", clear, false)
	s.wait()
	if portState(p.status(), 1).MessageWaiting {
		t.Fatal("message waiting still on after Messages-Waiting: no")
	}
}

func wantLamp(t *testing.T, what string, audio []int16, on bool) {
	t.Helper()
	msgs := refereeMessages(audio)
	if len(msgs) != 1 {
		t.Fatalf("%s: spandsp decoded %d messages from the idle line (%x), want 1", what, len(msgs), msgs)
	}
	mw, err := dsp.ParseMessageWaiting(msgs[0])
	if err != nil {
		t.Fatalf("%s: %x is not a message-waiting message: %v", what, msgs[0], err)
	}
	if mw.Active != on {
		t.Fatalf("%s: lamp %v, want %v", what, mw.Active, on)
	}
	t.Logf("%s: spandsp decoded the visual indicator %v", what, mw.Active)
}

// alternates350 reports 350 Hz present and absent in alternate 750 ms
// stretches (the UK special dial tone; 440 Hz throughout).
func alternates350(s []int16) bool {
	const seg = 6000 // 750 ms
	on, off := 0, 0
	for i := 0; i+seg <= len(s); i += seg / 3 {
		w := s[i : i+seg/3]
		switch p := dsp.ToneLevelDBm0(w, 350); {
		case p > -20:
			on++
		case p < -40:
			off++
		}
	}
	return on >= 2 && off >= 2
}
