package modem

import (
	"fmt"
	"strconv"
	"strings"
)

// The answers of the data-connection commands. Each parser takes one
// information line (or the lines of one answer) and refuses what it does
// not understand with an error naming the line.

// parseQNETDEVCTL reads Quectel's AT+QNETDEVCTL? answer
// "+QNETDEVCTL: <op>,<cid>,<urc_en>,<state>" (EC2x/EG2x "Standard"
// firmware: op 0 disconnect, 1 connect, 3 connect automatically; state 1
// connected, 0 not) and reports whether context cid is connected.
func parseQNETDEVCTL(l string, cid int) (connected bool, err error) {
	f, err := fields(l, "+QNETDEVCTL:")
	if err != nil {
		return false, err
	}
	if len(f) < 4 {
		return false, fmt.Errorf("modem: %q: want +QNETDEVCTL: op,cid,urc,state", l)
	}
	n := make([]int, 4)
	for i := range n {
		if n[i], err = strconv.Atoi(f[i]); err != nil || n[i] < 0 || n[i] > 255 {
			return false, fmt.Errorf("modem: %q: field %d is not a number", l, i+1)
		}
	}
	if n[3] > 1 {
		return false, fmt.Errorf("modem: %q: state %d is neither 0 nor 1", l, n[3])
	}
	return n[1] == cid && n[3] == 1 && n[0] != 0, nil
}

// parseQNETDEVSTATUS reads Quectel's unsolicited "+QNETDEVSTATUS: <n>"
// (1: the network device's data call is up, 0: down). Firmwares that
// report more fields (the context's address) give the state in the first;
// the driver asks AT+QNETDEVCTL? either way, so an unclear report is only
// a reason to ask.
func parseQNETDEVSTATUS(l string) (up bool, err error) {
	f, err := fields(l, "+QNETDEVSTATUS:")
	if err != nil {
		return false, err
	}
	if len(f) == 0 {
		return false, fmt.Errorf("modem: %q: no state", l)
	}
	switch f[0] {
	case "0":
		return false, nil
	case "1":
		return true, nil
	}
	return false, fmt.Errorf("modem: %q: state %q is neither 0 nor 1", l, f[0])
}

// parseQCRMCALL reads SIMCom's AT$QCRMCALL? answer: one line
// "$QCRMCALL: <state>,<V4|V6>" per connected IP family, none when no data
// call is up. It reports whether an IPv4 call is up.
func parseQCRMCALL(lines []string) (connected bool, err error) {
	for _, l := range lines {
		if !strings.HasPrefix(l, "$QCRMCALL:") {
			continue
		}
		f, err := fields(l, "$QCRMCALL:")
		if err != nil {
			return false, err
		}
		if len(f) < 2 {
			return false, fmt.Errorf("modem: %q: want $QCRMCALL: state,V4|V6", l)
		}
		st, err := strconv.Atoi(f[0])
		if err != nil || st < 0 || st > 1 {
			return false, fmt.Errorf("modem: %q: state %q is neither 0 nor 1", l, f[0])
		}
		switch strings.ToUpper(f[1]) {
		case "V4":
			if st == 1 {
				connected = true
			}
		case "V6":
		default:
			return false, fmt.Errorf("modem: %q: IP family %q is neither V4 nor V6", l, f[1])
		}
	}
	return connected, nil
}

// parseCGACT reads 27.007's AT+CGACT? answer, one "+CGACT: <cid>,<state>"
// line per context, and reports whether context cid is active.
func parseCGACT(lines []string, cid int) (active bool, err error) {
	for _, l := range lines {
		if !strings.HasPrefix(l, "+CGACT:") {
			continue
		}
		f, err := fields(l, "+CGACT:")
		if err != nil {
			return false, err
		}
		if len(f) < 2 {
			return false, fmt.Errorf("modem: %q: want +CGACT: cid,state", l)
		}
		c, err1 := strconv.Atoi(f[0])
		st, err2 := strconv.Atoi(f[1])
		if err1 != nil || err2 != nil || st < 0 || st > 1 {
			return false, fmt.Errorf("modem: %q: want two numbers, the state 0 or 1", l)
		}
		if c == cid && st == 1 {
			active = true
		}
	}
	return active, nil
}

// parseUSBNet reads the module's network-device mode: Quectel's
// `+QCFG: "usbnet",<n>` (0 rmnet/QMI, 1 ECM, 2 MBIM, 3 RNDIS) or SIMCom's
// "+CUSBPIDSWITCH: <pid>" (9001 rmnet/QMI, 9011 RNDIS, 9018 ECM). An
// unknown value reads "" (not an error: a newer firmware may have more).
func parseUSBNet(l string) (mode string, err error) {
	switch {
	case strings.HasPrefix(l, "+QCFG:"):
		f, err := fields(l, "+QCFG:")
		if err != nil {
			return "", err
		}
		if len(f) < 2 || !strings.EqualFold(f[0], "usbnet") {
			return "", fmt.Errorf("modem: %q: not the usbnet setting", l)
		}
		return map[string]string{"0": "rmnet", "1": "ecm", "2": "mbim", "3": "rndis"}[f[1]], nil
	case strings.HasPrefix(l, "+CUSBPIDSWITCH:"):
		f, err := fields(l, "+CUSBPIDSWITCH:")
		if err != nil {
			return "", err
		}
		if len(f) < 1 {
			return "", fmt.Errorf("modem: %q: no USB product id", l)
		}
		return map[string]string{"9001": "rmnet", "9011": "rndis", "9018": "ecm"}[f[0]], nil
	}
	return "", fmt.Errorf("modem: %q is not a USB network mode report", l)
}

// fields splits the comma-separated values after prefix, unquoting each.
func fields(l, prefix string) ([]string, error) {
	rest, ok := strings.CutPrefix(l, prefix)
	if !ok {
		return nil, fmt.Errorf("modem: %q does not start with %s", l, prefix)
	}
	rest = strings.TrimSpace(rest)
	if rest == "" {
		return nil, nil
	}
	f := strings.Split(rest, ",")
	for i := range f {
		f[i] = strings.Trim(strings.TrimSpace(f[i]), `"`)
	}
	return f, nil
}
