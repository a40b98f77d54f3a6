package main

// SRTP (SDES, RFC 4568) against the daemon with an independent SRTP
// peer: baresip (libre's SRTP), behind kamailio, signalling to the
// daemon over TLS. Audio is checked by frequency at the handset.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/critline/critline/internal/audiofile"
	"github.com/critline/critline/internal/testenv"
	"github.com/critline/critline/internal/testpeer"
)

// baresipPeer is baresip registered with the PBX as 270009, SRTP
// mandatory (RTP/SAVP with SDES).
type baresipPeer struct {
	out *testenv.Buffer
}

// startBaresip runs baresip with the given extra modules and audio; dial,
// when set, is called at start.
func startBaresip(t *testing.T, pbx *testpeer.Kamailio, modules []string, source, dial string) *baresipPeer {
	t.Helper()
	return startBaresipMedia(t, pbx, modules, source, dial, ";mediaenc=srtp-mand")
}

// startBaresipMedia is startBaresip with the account's media parameters.
func startBaresipMedia(t *testing.T, pbx *testpeer.Kamailio, modules []string, source, dial, media string) *baresipPeer {
	t.Helper()
	bin := testenv.LookTool(t, "baresip", "baresip-core")
	dir := t.TempDir()
	port := testpeer.FreeUDPPort(t, "127.0.0.1")
	var conf strings.Builder
	fmt.Fprintf(&conf, "poll_method\tepoll\nsip_listen\t127.0.0.1:%d\nsip_transports\tudp\nmodule_path\t/usr/lib/baresip/modules\n", port)
	for _, m := range append([]string{"g711.so", "srtp.so", "aubridge.so"}, modules...) {
		fmt.Fprintf(&conf, "module\t%s\n", m)
	}
	conf.WriteString("module_app\taccount.so\n")
	// The player is an aubridge device: with the source the same device,
	// what baresip hears it sends back (an echo through its SRTP).
	fmt.Fprintf(&conf, "audio_source\t%s\naudio_player\taubridge,loop\nausrc_srate\t8000\nauplay_srate\t8000\nausrc_channels\t1\nauplay_channels\t1\n", source)
	conf.WriteString("rtp_ports\t31000-31100\n")
	acct := fmt.Sprintf("<sip:270009@%s;transport=udp>;auth_pass=secret-9%s;answermode=auto;regint=300\n", pbx.Addr, media)
	for name, s := range map[string]string{"config": conf.String(), "accounts": acct, "contacts": "", "uuid": "9d2d1d52-0b6f-4c5e-8b2c-3e3f1a7c0018\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	args := []string{"-f", dir, "-v", "-4", "-n", "127.0.0.1"} // media on loopback, where the daemon is
	if dial != "" {
		args = append(args, "-e", "/dial "+dial)
	}
	b := &baresipPeer{out: &testenv.Buffer{}}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = b.out, b.out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		if t.Failed() {
			t.Logf("baresip:\n%s", b.out.String())
		}
	})
	return b
}

// wavTone writes seconds of hz as an 8 kHz mono WAV (baresip's aufile).
func wavTone(t *testing.T, hz, seconds float64) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), fmt.Sprintf("bs%.0f.wav", hz))
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	audiofile.EncodeWAV(f, sine(hz, 0.3, seconds))
	return path
}

// srtpUsers are the lines and baresip's account.
func srtpUsers() map[string]string { return map[string]string{"270009": "secret-9"} }

// The porter calls baresip over TLS with SRTP required: the offer is
// RTP/SAVP, baresip answers with its key, and the porter's voice comes
// back from baresip (decrypted and encrypted again by libre, its audio
// looped through an aubridge device) at its frequency. The call set-up time is logged.
func TestSRTPCallOutboundWithBaresip(t *testing.T) {
	r := startTLSRig(t, tlsOpts{srtp: "require", users: srtpUsers()})
	b := startBaresip(t, r.pbx, nil, "aubridge,loop", "")
	eventually(t, "baresip registered", func() bool { return strings.Contains(b.out.String(), "200 OK") })
	dialOut(t, r.p, 1, "270009")
	start := time.Now()
	eventually(t, "connected to baresip", func() bool { return portState(r.p.status(), 1).State == "connected" })
	t.Logf("last digit to connected, TLS signalling and SRTP: %v", time.Since(start).Round(time.Millisecond))
	if m := portState(r.p.status(), 1).Media; m != "srtp" {
		t.Fatalf("media %q, want srtp", m)
	}
	playTone(t, r.p, 1, 697, 6)
	hearEventually(t, r.p, 1, 697, "the porter's voice echoed by baresip over SRTP both ways")
	if !strings.Contains(b.out.String(), "SRTP is Enabled") {
		t.Error("baresip did not say SRTP is on")
	}
	hangUpPort(t, r.p, 1)
}

// baresip calls the line with SRTP mandatory (its offer RTP/SAVP with
// SDES keys): the line answers SRTP (the registrar's default policy
// accepts it) and baresip's tone reaches the earpiece.
func TestSRTPCallInboundFromBaresip(t *testing.T) {
	r := startTLSRig(t, tlsOpts{users: srtpUsers()})
	startBaresip(t, r.pbx, []string{"aufile.so", "menu.so"}, "aufile,"+wavTone(t, 1004, 30), "sip:270001@"+r.pbx.Addr)
	heard := answerAndHear(t, r.p, 1, 0)
	_ = heard
	if m := portState(r.p.status(), 1).Media; m != "srtp" {
		t.Fatalf("media %q, want srtp", m)
	}
	hearEventually(t, r.p, 1, 1004, "baresip's tone over SRTP")
	hangUpPort(t, r.p, 1)
}

// A Teams SBC's SDES offer over TLS: answered RTP/SAVP with our key for a
// suite we speak under its tag; status says srtp.
func TestSDESOfferFromTeamsSBC(t *testing.T) {
	r := startTLSRig(t, tlsOpts{})
	s := startDialect(t, "srtp-sdes-teams-sbc.xml", dialectOpts{to: r.pbx.Addr, service: "270001"})
	answerAndHear(t, r.p, 1, 0)
	if m := portState(r.p.status(), 1).Media; m != "srtp" {
		t.Errorf("media %q, want srtp", m)
	}
	s.wait()
	hangUpPort(t, r.p, 1)
}

// TestSetupFigureTLSSRTP measures call set-up (last digit keyed to the
// porter connected, the far end answering at once) over UDP with RTP and
// over TLS with SRTP, five calls each, and logs the medians and their
// ratio. A generous ceiling only catches a large regression.
func TestSetupFigureTLSSRTP(t *testing.T) {
	if testing.Short() {
		t.Skip("a figure, not a check")
	}
	measure := func(r *tlsRig) []time.Duration {
		var out []time.Duration
		for range 5 {
			dialOut(t, r.p, 1, "270009")
			start := time.Now()
			eventually(t, "connected", func() bool { return portState(r.p.status(), 1).State == "connected" })
			out = append(out, time.Since(start))
			hangUpPort(t, r.p, 1)
		}
		return out
	}
	// Plain: UDP signalling, RTP media.
	plainPBX := testpeer.StartKamailio(t, testpeer.KamailioOptions{Users: map[string]string{"270001": "secret-1", "270002": "secret-2", "270009": "secret-9"}})
	plainP := dialectDaemon(t, plainPBX)
	startBaresipPlain(t, plainPBX)
	plain := measure(&tlsRig{pbx: plainPBX, p: plainP})
	secure := func() []time.Duration {
		r := startTLSRig(t, tlsOpts{srtp: "require", users: srtpUsers()})
		b := startBaresip(t, r.pbx, nil, "aubridge,loop", "")
		eventually(t, "baresip registered", func() bool { return strings.Contains(b.out.String(), "200 OK") })
		return measure(r)
	}()
	mp, ms := medianDur(plain), medianDur(secure)
	t.Logf("call set-up, last digit to connected (median of 5): UDP+RTP %v, TLS+SRTP %v, ratio %.2f (all: %v / %v)",
		mp.Round(time.Microsecond), ms.Round(time.Microsecond), float64(ms)/float64(mp), plain, secure)
	if ms > 5*time.Second {
		t.Fatalf("TLS+SRTP set-up median %v: far beyond the plain call's %v", ms, mp)
	}
}

// startBaresipPlain is baresip as 270009 with plain RTP, answering and
// looping its audio back.
func startBaresipPlain(t *testing.T, pbx *testpeer.Kamailio) {
	t.Helper()
	b := startBaresipMedia(t, pbx, nil, "aubridge,loop", "", "")
	eventually(t, "baresip registered", func() bool { return strings.Contains(b.out.String(), "200 OK") })
}
