//go:build linux

package modemsim

// The module's data connection, as the driver dials it: SIMCom's
// AT$QCRMCALL (a synchronous call: "$QCRMCALL: 1,V4" then OK, or NO
// CARRIER), Quectel's AT+QNETDEVCTL (OK at once, the session comes up a
// moment later and is reported by +QNETDEVSTATUS when asked to) and 27.007
// AT+CGACT, with the context (AT+CGDCONT) and the network-device mode each
// module reports (AT+QCFG="usbnet", AT+CUSBPIDSWITCH?). The network side
// is steered by the `data` verb: drop the session, refuse new ones, slow
// them down. The simulator does not move packets: the tests give the board
// a real interface for the session (see internal/testpeer).

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// simData is the data side of the network and the module's settings that
// outlive a reboot.
type simData struct {
	refuse    bool          // the network refuses new sessions
	downUntil time.Time     // after a drop: sessions refused until then
	delay     time.Duration // how long a session takes to come up
	usbnet    int           // Quectel usbnet: 0 rmnet, 1 ECM, 2 MBIM, 3 RNDIS
	pid       string        // SIMCom USB product id: 9001 rmnet, 9011 RNDIS, 9018 ECM
	apn       map[int]string
	sessions  int // sessions set up
	drops     int // sessions the network ended
}

// dataModem is the module's side of the session (a reboot ends it).
type dataModem struct {
	up      bool
	cid     int
	op      int  // Quectel: the last QNETDEVCTL operation
	urc     bool // Quectel: +QNETDEVSTATUS reports on
	pending bool // a Quectel connect is under way
}

var usbnetNames = map[int]string{0: "rmnet", 1: "ecm", 2: "mbim", 3: "rndis"}

// dataRefusalLocked says why a new session would be refused now, "" when
// it would not be.
func (s *Sim) dataRefusalLocked() string {
	switch {
	case !s.st.registered:
		return "not registered"
	case s.data.refuse:
		return "the network refuses data"
	case time.Now().Before(s.data.downUntil):
		return "the network is re-establishing the session"
	}
	return ""
}

// dataUpLocked brings the session up.
func (s *Sim) dataUpLocked(cid int) {
	s.st.data.up, s.st.data.cid, s.st.data.pending = true, cid, false
	s.data.sessions++
	if s.st.data.urc {
		s.urcLocked("+QNETDEVSTATUS: 1")
	}
}

// dataDownLocked ends the session (the network ended it, or the module).
func (s *Sim) dataDownLocked(report bool) {
	was := s.st.data.up
	s.st.data.up, s.st.data.pending = false, false
	if was && report && s.st.data.urc {
		s.urcLocked("+QNETDEVSTATUS: 0")
	}
}

func parseCid(arg string) (int, bool) {
	n, err := strconv.Atoi(strings.TrimSpace(arg))
	return n, err == nil && n >= 1 && n <= 24
}

// qcrmcallSetH: AT$QCRMCALL=<action>,<instance>[,<IP type>,<act>,<cid>].
func qcrmcallSetH(s *Sim, c atCmd) ([]string, string) {
	f := strings.Split(c.arg, ",")
	if len(f) < 2 {
		return nil, s.errLocked(50, "incorrect parameters")
	}
	cid := 1
	if len(f) >= 5 {
		var ok bool
		if cid, ok = parseCid(f[4]); !ok {
			return nil, s.errLocked(50, "incorrect parameters")
		}
	}
	switch strings.TrimSpace(f[0]) {
	case "0":
		if !s.st.data.up {
			return nil, s.errLocked(3, "operation not allowed")
		}
		s.dataDownLocked(false)
		return ok()
	case "1":
		if s.st.data.up {
			return ok("$QCRMCALL: 1,V4")
		}
		if why := s.dataRefusalLocked(); why != "" {
			s.log.Info("data call refused", "why", why)
			return nil, "NO CARRIER"
		}
		s.dataUpLocked(cid)
		return ok("$QCRMCALL: 1,V4")
	}
	return nil, s.errLocked(50, "incorrect parameters")
}

func qcrmcallReadH(s *Sim, _ atCmd) ([]string, string) {
	if s.st.data.up {
		return ok("$QCRMCALL: 1,V4")
	}
	return ok()
}

// qnetdevctlSetH: AT+QNETDEVCTL=<op>,<cid>[,<urc_en>]; op 0 disconnect,
// 1 connect once, 3 connect and keep connecting (saved).
func qnetdevctlSetH(s *Sim, c atCmd) ([]string, string) {
	f := strings.Split(c.arg, ",")
	if len(f) < 2 || len(f) > 3 {
		return nil, s.errLocked(50, "incorrect parameters")
	}
	op, err := strconv.Atoi(strings.TrimSpace(f[0]))
	cid, okc := parseCid(f[1])
	if err != nil || !okc || (op != 0 && op != 1 && op != 3) {
		return nil, s.errLocked(50, "incorrect parameters")
	}
	urc := false
	if len(f) == 3 {
		u, err := strconv.Atoi(strings.TrimSpace(f[2]))
		if err != nil || u < 0 || u > 1 {
			return nil, s.errLocked(50, "incorrect parameters")
		}
		urc = u == 1
	}
	s.st.data.op, s.st.data.urc, s.st.data.cid = op, urc, cid
	if op == 0 {
		s.dataDownLocked(true)
		return ok()
	}
	if s.st.data.up || s.st.data.pending {
		return ok()
	}
	s.st.data.pending = true
	time.AfterFunc(s.data.delay, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.closed || !s.st.data.pending {
			return
		}
		if why := s.dataRefusalLocked(); why != "" {
			s.st.data.pending = false
			s.log.Info("data call refused", "why", why)
			return
		}
		s.dataUpLocked(cid)
	})
	return ok()
}

func qnetdevctlReadH(s *Sim, _ atCmd) ([]string, string) {
	cid := max(s.st.data.cid, 1)
	return ok(fmt.Sprintf("+QNETDEVCTL: %d,%d,%d,%d", s.st.data.op, cid, b2i(s.st.data.urc), b2i(s.st.data.up)))
}

// cgactSetH: AT+CGACT=<state>,<cid>.
func cgactSetH(s *Sim, c atCmd) ([]string, string) {
	f := strings.Split(c.arg, ",")
	if len(f) != 2 {
		return nil, s.errLocked(50, "incorrect parameters")
	}
	cid, okc := parseCid(f[1])
	if !okc {
		return nil, s.errLocked(50, "incorrect parameters")
	}
	switch strings.TrimSpace(f[0]) {
	case "0":
		s.dataDownLocked(false)
		return ok()
	case "1":
		if s.st.data.up {
			return ok()
		}
		if why := s.dataRefusalLocked(); why != "" {
			s.log.Info("data call refused", "why", why)
			return nil, s.cmeLocked(30) // no network service
		}
		s.dataUpLocked(cid)
		return ok()
	}
	return nil, s.errLocked(50, "incorrect parameters")
}

func cgactReadH(s *Sim, _ atCmd) ([]string, string) {
	cid := max(s.st.data.cid, 1)
	return ok(fmt.Sprintf("+CGACT: %d,%d", cid, b2i(s.st.data.up)))
}

// cgdcontSetH: AT+CGDCONT=<cid>,"IP","<apn>".
func cgdcontSetH(s *Sim, c atCmd) ([]string, string) {
	f := strings.SplitN(c.raw, ",", 3)
	cid, okc := parseCid(f[0])
	if !okc {
		return nil, s.errLocked(50, "incorrect parameters")
	}
	if len(f) < 2 {
		delete(s.data.apn, cid)
		return ok()
	}
	if t := strings.ToUpper(strings.Trim(strings.TrimSpace(f[1]), `"`)); t != "IP" && t != "IPV6" && t != "IPV4V6" {
		return nil, s.errLocked(50, "incorrect parameters")
	}
	apn := ""
	if len(f) == 3 {
		apn = strings.Trim(strings.TrimSpace(f[2]), `"`)
	}
	s.data.apn[cid] = apn
	return ok()
}

func cgdcontReadH(s *Sim, _ atCmd) ([]string, string) {
	var lines []string
	for cid := 1; cid <= 24; cid++ {
		if apn, ok := s.data.apn[cid]; ok {
			lines = append(lines, fmt.Sprintf(`+CGDCONT: %d,"IP","%s","0.0.0.0",0,0`, cid, apn))
		}
	}
	return ok(lines...)
}

// qcfgSetH: AT+QCFG="usbnet"[,<n>] (other settings: not simulated).
func qcfgSetH(s *Sim, c atCmd) ([]string, string) {
	f := strings.Split(c.arg, ",")
	if strings.Trim(f[0], `"`) != "USBNET" {
		return nil, s.errLocked(4, "operation not supported")
	}
	if len(f) == 1 {
		return ok(fmt.Sprintf(`+QCFG: "usbnet",%d`, s.data.usbnet))
	}
	n, err := strconv.Atoi(f[1])
	if err != nil || n < 0 || n > 3 {
		return nil, s.errLocked(50, "incorrect parameters")
	}
	s.data.usbnet = n // takes effect at the next reboot, as on the module
	return ok()
}

func cusbpidswitchReadH(s *Sim, _ atCmd) ([]string, string) {
	return ok("+CUSBPIDSWITCH: " + s.data.pid)
}

func cusbpidswitchSetH(s *Sim, c atCmd) ([]string, string) {
	f := strings.Split(c.arg, ",")
	switch f[0] {
	case "9001", "9011", "9018":
		s.data.pid = f[0]
		return ok()
	}
	return nil, s.errLocked(50, "incorrect parameters")
}

// cData is the `data` verb: the network side of the data connection.
func (s *Sim) cData(args []string) (string, error) {
	if err := nargs(args, 0, 2); err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	verb := "status"
	if len(args) > 0 {
		verb = strings.ToLower(args[0])
	}
	switch verb {
	case "status":
		st := "down"
		switch {
		case s.st.data.up:
			st = fmt.Sprintf("up (context %d)", s.st.data.cid)
		case s.st.data.pending:
			st = "connecting"
		}
		mode := usbnetNames[s.data.usbnet]
		if s.o.Variant == SIMCom {
			mode = map[string]string{"9001": "rmnet", "9011": "rndis", "9018": "ecm"}[s.data.pid]
		}
		refuse := ""
		switch why := s.dataRefusalLocked(); {
		case why != "":
			refuse = "; new sessions refused: " + why
		}
		return fmt.Sprintf("data %s; %d sessions, %d dropped by the network; usb mode %s%s", st, s.data.sessions, s.data.drops, mode, refuse), nil
	case "drop":
		d := time.Duration(0)
		if len(args) == 2 {
			var err error
			if d, err = time.ParseDuration(args[1]); err != nil || d < 0 {
				return "", fmt.Errorf("%q is not a duration", args[1])
			}
		}
		was := s.st.data.up
		s.dataDownLocked(true)
		s.data.downUntil = time.Now().Add(d)
		if was {
			s.data.drops++
		}
		return fmt.Sprintf("data session ended by the network; new sessions refused for %s", d), nil
	case "refuse":
		s.data.refuse = true
		s.dataDownLocked(true)
		return "the network refuses data sessions", nil
	case "allow":
		s.data.refuse, s.data.downUntil = false, time.Time{}
		return "the network accepts data sessions", nil
	case "delay":
		if len(args) != 2 {
			return "", fmt.Errorf("delay needs a duration")
		}
		d, err := time.ParseDuration(args[1])
		if err != nil || d < 0 {
			return "", fmt.Errorf("%q is not a duration", args[1])
		}
		s.data.delay = d
		return fmt.Sprintf("data sessions take %s to come up", d), nil
	case "usbnet":
		if len(args) != 2 {
			return "", fmt.Errorf("usbnet needs a mode")
		}
		for n, name := range usbnetNames {
			if name == strings.ToLower(args[1]) {
				s.data.usbnet = n
				s.data.pid = map[string]string{"rmnet": "9001", "rndis": "9011", "ecm": "9018", "mbim": "9001"}[name]
				return "usb network mode " + name, nil
			}
		}
		return "", fmt.Errorf("%q: use ecm, rndis, rmnet or mbim", args[1])
	}
	return "", fmt.Errorf("%q: use status, drop [DURATION], refuse, allow, delay DURATION or usbnet MODE", verb)
}
