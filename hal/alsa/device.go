package alsa

import (
	"fmt"
	"strconv"
	"strings"
)

// deviceName is a parsed ALSA PCM name.
type deviceName struct {
	card   string // a number, or a card id such as "Loopback"
	device int
	path   string // set when the name was a /dev/snd path (without p/c)
}

// parseDevice reads "hw:1,0", "hw:Loopback,0", "hw:CARD=Loopback,DEV=1",
// "plughw:1" (plug: alsa-lib's conversion is not available, the name is taken
// as hw) or a path "/dev/snd/pcmC1D0" (with or without the p/c suffix).
func parseDevice(s string) (deviceName, error) {
	if s == "" {
		return deviceName{}, fmt.Errorf("alsa: empty device name: use hw:CARD,DEV (e.g. hw:1,0) or /dev/snd/pcmC1D0")
	}
	if strings.HasPrefix(s, "/") {
		p := strings.TrimRight(s, "pc")
		base := p[strings.LastIndexByte(p, '/')+1:]
		var card, dev int
		if n, err := fmt.Sscanf(base, "pcmC%dD%d", &card, &dev); err != nil || n != 2 || fmt.Sprintf("pcmC%dD%d", card, dev) != base {
			return deviceName{}, fmt.Errorf("alsa: device path %q is not a PCM device node (/dev/snd/pcmC<card>D<device>)", s)
		}
		return deviceName{card: strconv.Itoa(card), device: dev, path: p}, nil
	}
	rest, ok := strings.CutPrefix(s, "hw:")
	if !ok {
		rest, ok = strings.CutPrefix(s, "plughw:")
	}
	if !ok {
		return deviceName{}, fmt.Errorf("alsa: device %q: only hw:CARD,DEV, plughw:CARD,DEV and /dev/snd/pcmC*D* names are supported (no alsa-lib plugins)", s)
	}
	parts := strings.Split(rest, ",")
	if len(parts) > 3 {
		return deviceName{}, fmt.Errorf("alsa: device %q: too many fields; use hw:CARD,DEV", s)
	}
	d := deviceName{}
	for i, f := range parts {
		key, val, named := strings.Cut(f, "=")
		if !named {
			val = f
			key = []string{"CARD", "DEV", "SUBDEV"}[i]
		}
		switch strings.ToUpper(key) {
		case "CARD":
			if val == "" || strings.ContainsAny(val, "/ \t\n\x00") {
				return deviceName{}, fmt.Errorf("alsa: device %q: bad card %q", s, val)
			}
			d.card = val
		case "DEV":
			n, err := strconv.Atoi(val)
			if err != nil || n < 0 || n > 31 {
				return deviceName{}, fmt.Errorf("alsa: device %q: device number %q is not 0-31", s, val)
			}
			d.device = n
		case "SUBDEV":
			if val != "0" && val != "-1" {
				return deviceName{}, fmt.Errorf("alsa: device %q: choosing a subdevice is not supported; the kernel gives the first free one", s)
			}
		default:
			return deviceName{}, fmt.Errorf("alsa: device %q: unknown field %q (use CARD, DEV)", s, key)
		}
	}
	if d.card == "" {
		return deviceName{}, fmt.Errorf("alsa: device %q names no card", s)
	}
	return d, nil
}
