package rtp

import (
	"math"
	"net"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/critline/critline/hal"
)

// Two streams negotiate SRTP by SDES (x offers, y answers) and carry a tone
// each way and RFC 4733 events; a plain RTP packet thrown at the SRTP
// stream is dropped and counted.
func TestStreamSRTP(t *testing.T) {
	a, err := NewAllocator(netip.MustParseAddr("127.0.0.1"), 40200, 40300)
	if err != nil {
		t.Fatal(err)
	}
	x, _ := a.Open(StreamConfig{})
	y, _ := a.Open(StreamConfig{})
	t.Cleanup(func() { x.Close(); y.Close() })
	xKeys := []Crypto{{1, SuiteAES128SHA80, NewMasterKey()}, {2, SuiteAES128SHA32, NewMasterKey()}}
	lx := Local{Addr: netip.MustParseAddr("127.0.0.1"), Port: x.LocalPort(), Cryptos: xKeys}
	ly := Local{Addr: netip.MustParseAddr("127.0.0.1"), Port: y.LocalPort()}
	off, err := ParseSDP(lx.Offer())
	if err != nil {
		t.Fatal(err)
	}
	my, err := off.Negotiate(nil)
	if err != nil {
		t.Fatal(err)
	}
	my.LocalKey = NewMasterKey()
	y.SetMedia(my)
	ans, err := ParseSDP(ly.Answer(my))
	if err != nil {
		t.Fatal(err)
	}
	mx, err := ans.Negotiate(nil)
	if err != nil {
		t.Fatal(err)
	}
	mx.LocalKey = xKeys[mx.Crypto.Tag-1].Key
	x.SetMedia(mx)

	// plain RTP at the SRTP stream
	c, _ := net.Dial("udp", net.JoinHostPort("127.0.0.1", itoa(y.LocalPort())))
	c.Write(append([]byte{0x80, 8, 0, 1, 0, 0, 0, 1, 0, 0, 0, 7}, make([]byte, 160)...))
	c.Close()

	var f, g hal.Frame
	var got, back []int16
	tick := time.NewTicker(hal.FrameDuration)
	defer tick.Stop()
	for n := 0; n < 50; n++ {
		<-tick.C
		toneFrame(&f, n, 1004)
		x.WriteFrame(&f)
		toneFrame(&f, n, 697)
		y.WriteFrame(&f)
		y.ReadFrame(&g)
		got = append(got, g[:]...)
		x.ReadFrame(&g)
		back = append(back, g[:]...)
	}
	if hz := dominantHz(got[len(got)/2:]); math.Abs(hz-1004) > 15 {
		t.Errorf("y hears %.0f Hz over SRTP, x sent 1004 Hz", hz)
	}
	if hz := dominantHz(back[len(back)/2:]); math.Abs(hz-697) > 15 {
		t.Errorf("x hears %.0f Hz over SRTP, y sent 697 Hz", hz)
	}
	if err := x.SendEvent(5, 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(5 * time.Second)
	for done := false; !done; {
		select {
		case <-tick.C:
			x.WriteFrame(&f)
			y.ReadFrame(&g)
		case e := <-y.Events():
			if e.Code != 5 {
				t.Fatalf("event %d over SRTP, sent 5", e.Code)
			}
			done = true
		case <-deadline:
			t.Fatal("no event over SRTP")
		}
	}
	st := y.Stats()
	if st.SRTPFailures != 1 || st.PacketsReceived < 40 {
		t.Errorf("y: %d SRTP failures (want 1: the plain packet), %d received", st.SRTPFailures, st.PacketsReceived)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
