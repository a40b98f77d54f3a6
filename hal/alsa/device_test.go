package alsa

import (
	"strings"
	"testing"
)

func TestParseDevice(t *testing.T) {
	for _, c := range []struct {
		in   string
		want deviceName
		err  string
	}{
		{in: "hw:1,0", want: deviceName{card: "1"}},
		{in: "hw:1", want: deviceName{card: "1"}},
		{in: "plughw:2,3", want: deviceName{card: "2", device: 3}},
		{in: "hw:Loopback,1", want: deviceName{card: "Loopback", device: 1}},
		{in: "hw:CARD=Loopback,DEV=1", want: deviceName{card: "Loopback", device: 1}},
		{in: "hw:1,0,0", want: deviceName{card: "1"}},
		{in: "/dev/snd/pcmC1D2p", want: deviceName{card: "1", device: 2, path: "/dev/snd/pcmC1D2"}},
		{in: "/dev/snd/pcmC0D0", want: deviceName{card: "0", path: "/dev/snd/pcmC0D0"}},
		{in: "", err: "empty device name"},
		{in: "default", err: "only hw:CARD,DEV"},
		{in: "hw:1,99", err: "not 0-31"},
		{in: "hw:1,0,2", err: "subdevice is not supported"},
		{in: "hw:,0", err: "bad card"},
		{in: "hw:1,0,0,0", err: "too many fields"},
		{in: "hw:FOO=1", err: "unknown field"},
		{in: "/dev/snd/controlC0", err: "not a PCM device node"},
	} {
		got, err := parseDevice(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: err %v, want %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%q: got %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
}

func FuzzParseDevice(f *testing.F) {
	for _, s := range []string{"hw:1,0", "hw:CARD=Loopback,DEV=1", "/dev/snd/pcmC1D2p", "plughw:0", "hw:1,0,0", "", "hw:,"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := parseDevice(s)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "alsa: ") {
				t.Fatalf("error without context: %v", err)
			}
			return
		}
		if d.card == "" || d.device < 0 || d.device > 31 {
			t.Fatalf("accepted %q as %+v", s, d)
		}
	})
}
