package rtp

import (
	"math"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/critline/critline/hal"
	"github.com/critline/critline/internal/testenv"
	"github.com/pion/rtp"
)

// Tone returns frame n of a sine at hz.
func toneFrame(f *hal.Frame, n int, hz float64) {
	for i := range f {
		t := float64(n*hal.FrameSamples+i) / hal.SampleRate
		f[i] = int16(8000 * math.Sin(2*math.Pi*hz*t))
	}
}

// goertzel returns the relative power at hz in samples.
func goertzel(samples []int16, hz float64) float64 {
	k := 2 * math.Cos(2*math.Pi*hz/hal.SampleRate)
	var s1, s2 float64
	for _, x := range samples {
		s0 := float64(x) + k*s1 - s2
		s2, s1 = s1, s0
	}
	return (s1*s1 + s2*s2 - k*s1*s2) / float64(len(samples)*len(samples))
}

// dominantHz estimates a clean tone's frequency from its zero crossings
// (interpolated), and returns 0 unless the tone carries most of the energy.
func dominantHz(samples []int16) float64 {
	first, last, n := -1.0, -1.0, 0
	for i := 1; i < len(samples); i++ {
		a, b := float64(samples[i-1]), float64(samples[i])
		if a < 0 && b >= 0 {
			x := float64(i-1) + a/(a-b)
			if first < 0 {
				first = x
			} else {
				n++
			}
			last = x
		}
	}
	if n < 2 {
		return 0
	}
	hz := float64(n) * hal.SampleRate / (last - first)
	var e float64
	for _, x := range samples {
		e += float64(x) * float64(x)
	}
	e /= float64(len(samples))
	if goertzel(samples, hz)*2 < e*0.7 { // a sine: Goertzel power A²/4, mean square A²/2
		return 0
	}
	return hz
}

func pair(t *testing.T) (*Allocator, *Stream, *Stream) {
	t.Helper()
	a, err := NewAllocator(netip.MustParseAddr("127.0.0.1"), 40000, 40100)
	if err != nil {
		t.Fatal(err)
	}
	x, err := a.Open(StreamConfig{})
	if err != nil {
		t.Fatal(err)
	}
	y, err := a.Open(StreamConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { x.Close(); y.Close() })
	lx := Local{Addr: netip.MustParseAddr("127.0.0.1"), Port: x.LocalPort()}
	ly := Local{Addr: netip.MustParseAddr("127.0.0.1"), Port: y.LocalPort()}
	// x offers, y answers.
	off, _ := ParseSDP(lx.Offer())
	my, err := off.Negotiate(nil)
	if err != nil {
		t.Fatal(err)
	}
	y.SetMedia(my)
	ans, _ := ParseSDP(ly.Answer(my))
	mx, err := ans.Negotiate(nil)
	if err != nil {
		t.Fatal(err)
	}
	x.SetMedia(mx)
	return a, x, y
}

func TestStreamToneAndEvents(t *testing.T) {
	a, x, y := pair(t)
	if a.InUse() != 2 {
		t.Fatalf("%d ports in use", a.InUse())
	}
	var f, g hal.Frame
	var got []int16
	// 1 s of 1004 Hz from x to y, y plays 697 Hz back; each side pumps in
	// one loop like a port does, at real pace so packets really travel.
	tick := time.NewTicker(hal.FrameDuration)
	defer tick.Stop()
	var back []int16
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
		t.Errorf("y hears %.0f Hz, x sent 1004 Hz", hz)
	}
	if hz := dominantHz(back[len(back)/2:]); math.Abs(hz-697) > 15 {
		t.Errorf("x hears %.0f Hz, y sent 697 Hz", hz)
	}
	// Digits and a flash from x reach y as events.
	for _, c := range []uint8{1, 2, EventHash, EventFlash} {
		if err := x.SendEvent(c, 100*time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
	var evs []uint8
	deadline := time.After(5 * time.Second)
	for len(evs) < 4 {
		select {
		case <-tick.C:
			x.WriteFrame(&f)
			y.WriteFrame(&f)
			y.ReadFrame(&g)
		case e := <-y.Events():
			evs = append(evs, e.Code)
		case <-deadline:
			t.Fatalf("events received %v, want [1 2 11 16]", evs)
		}
	}
	for i := 0; i < 20; i++ { // let the last event's end packets go out
		<-tick.C
		x.WriteFrame(&f)
	}
	if evs[0] != 1 || evs[1] != 2 || evs[2] != EventHash || evs[3] != EventFlash {
		t.Errorf("events %v, want [1 2 11 16]", evs)
	}
	st := y.Stats()
	t.Logf("y stats: %+v", st)
	if st.PacketsLost != 0 || st.EventsReceived != 4 || x.Stats().EventsSent != 4 {
		t.Errorf("stats: lost %d events %d sent %d", st.PacketsLost, st.EventsReceived, x.Stats().EventsSent)
	}
}

func TestStreamDropsUntrusted(t *testing.T) {
	_, x, _ := pair(t)
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP("127.0.0.2")})
	if err != nil {
		testenv.Missing(t, "no 127.0.0.2 on the loopback interface: "+err.Error())
	}
	defer c.Close()
	p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 8, SSRC: 9}, Payload: make([]byte, 160)}
	b, _ := p.Marshal()
	for range 5 {
		c.WriteToUDP(b, &net.UDPAddr{IP: net.ParseIP("127.0.0.1"), Port: x.LocalPort()})
	}
	for i := 0; i < 100 && x.Stats().Untrusted < 5; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if st := x.Stats(); st.Untrusted != 5 || st.PacketsReceived != 0 {
		t.Errorf("untrusted %d received %d", st.Untrusted, st.PacketsReceived)
	}
}

func TestStreamCloseUnblocksAndFreesPort(t *testing.T) {
	a, x, y := pair(t)
	var f hal.Frame
	x.ReadFrame(&f) // the free one
	done := make(chan error)
	go func() { done <- x.ReadFrame(&f) }()
	x.Close()
	if err := <-done; err != hal.ErrClosed {
		t.Errorf("ReadFrame after Close: %v", err)
	}
	y.Close()
	if a.InUse() != 0 {
		t.Errorf("%d ports still in use", a.InUse())
	}
}

func FuzzStreamHandle(f *testing.F) {
	p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 8, SSRC: 9, Padding: true}, Payload: make([]byte, 160), PaddingSize: 4}
	b, _ := p.Marshal()
	f.Add(b)
	f.Add([]byte{0x80, 101, 0, 1, 0, 0, 0, 1, 0, 0, 0, 9, 1, 0x80, 0, 160})
	f.Add([]byte{0x9f, 8, 0, 1, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		s := newStream(nil, 0, StreamConfig{})
		s.SetMedia(Media{Remote: netip.MustParseAddrPort("127.0.0.1:4000"), Law: ALaw, PT: 8, Events: true, EventPT: 101})
		var h rtp.Header
		s.handle(&h, b, netip.MustParseAddrPort("127.0.0.1:4000"), 0)
		var fr hal.Frame
		s.jb.Pull(&fr)
		_ = s.Stats()
	})
}

// BenchmarkStreamPacket is one packet each way through the steady-state
// paths: receive (parse, trust check, jitter buffer), pull, encode, send.
func BenchmarkStreamPacket(b *testing.B) {
	a, _ := NewAllocator(netip.MustParseAddr("127.0.0.1"), 41000, 41100)
	s, err := a.Open(StreamConfig{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	sink, _ := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP("127.0.0.1")})
	defer sink.Close()
	go func() {
		buf := make([]byte, 1500)
		for {
			if _, err := sink.Read(buf); err != nil {
				return
			}
		}
	}()
	peer := sink.LocalAddr().(*net.UDPAddr).AddrPort()
	s.SetMedia(Media{Remote: peer, Law: ALaw, PT: 8, Events: true, EventPT: 101})
	p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 8, SSRC: 9}, Payload: make([]byte, 160)}
	pkt, _ := p.Marshal()
	var h rtp.Header
	var f hal.Frame
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		pkt[2], pkt[3] = byte(i>>8), byte(i)
		ts := uint32(i * 160)
		pkt[4], pkt[5], pkt[6], pkt[7] = byte(ts>>24), byte(ts>>16), byte(ts>>8), byte(ts)
		s.handle(&h, pkt, peer, time.Duration(i)*hal.FrameDuration)
		s.ReadFrame(&f)
		s.WriteFrame(&f)
	}
}
