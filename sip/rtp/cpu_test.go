package rtp

import (
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/critline/critline/hal"
)

// TestMediaCPUFigure prints the CPU one call's media costs at real pace:
// N streams each pumped like a port (one frame out, one frame in per 20 ms)
// against an echoing far end in the same process, so the figure is an
// upper bound (it includes the echo's receive and send). Opt-in:
//
//	CRITLINE_FIGURES=1 go test -run TestMediaCPUFigure -v ./sip/rtp
func TestMediaCPUFigure(t *testing.T) {
	if os.Getenv("CRITLINE_FIGURES") == "" {
		t.Skip("set CRITLINE_FIGURES=1 to measure CPU per call")
	}
	const calls = 20
	const dur = 5 * time.Second
	a, err := NewAllocator(netip.MustParseAddr("127.0.0.1"), 42000, 42200)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var streams []*Stream
	for i := 0; i < calls; i++ {
		s, err := a.Open(StreamConfig{})
		if err != nil {
			t.Fatal(err)
		}
		streams = append(streams, s)
		e, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP("127.0.0.1")})
		if err != nil {
			t.Fatal(err)
		}
		defer e.Close()
		s.SetMedia(Media{Remote: e.LocalAddr().(*net.UDPAddr).AddrPort(), Law: ALaw, PT: PTPCMA, Events: true, EventPT: 101})
		dst := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(s.LocalPort()))
		wg.Add(2)
		go func() { // far end: echo
			defer wg.Done()
			buf := make([]byte, 1500)
			for {
				n, _, err := e.ReadFromUDPAddrPort(buf)
				if err != nil {
					return
				}
				e.WriteToUDPAddrPort(buf[:n], dst)
			}
		}()
		go func() { // the port's pump
			defer wg.Done()
			var f, g hal.Frame
			for j := range f {
				f[j] = int16(j * 100)
			}
			tick := time.NewTicker(hal.FrameDuration)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				s.WriteFrame(&f)
				s.ReadFrame(&g)
			}
		}()
	}
	time.Sleep(500 * time.Millisecond) // warm up
	var ru0, ru1 syscall.Rusage
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	var sent0, recv0 uint64
	for _, s := range streams {
		st := s.Stats()
		sent0 += st.PacketsSent
		recv0 += st.PacketsReceived
	}
	time.Sleep(dur)
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	runtime.ReadMemStats(&m1)
	var sent, recv uint64
	for _, s := range streams {
		st := s.Stats()
		sent += st.PacketsSent
		recv += st.PacketsReceived
	}
	sent, recv = sent-sent0, recv-recv0
	close(stop)
	for _, s := range streams {
		s.Close()
	}
	cpu := time.Duration(syscall.TimevalToNsec(ru1.Utime) - syscall.TimevalToNsec(ru0.Utime) + syscall.TimevalToNsec(ru1.Stime) - syscall.TimevalToNsec(ru0.Stime))
	perCall := float64(cpu) / float64(dur) / calls * 100
	allocs := float64(m1.Mallocs-m0.Mallocs) / float64(sent+recv)
	t.Logf("FIGURE media CPU: %d calls for %v: %d packets sent, %d received; %.2f%% of one core per call (echo peer included); %.3f heap allocations per packet (whole process, tickers and echo included)",
		calls, dur, sent, recv, perCall, allocs)
}
