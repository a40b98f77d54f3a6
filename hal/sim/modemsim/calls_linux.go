//go:build linux

package modemsim

// The simulated network's calls: up to two at once (one connected,
// dialling or ringing, and one waiting or held), as a mobile network keeps
// them for one subscriber, with the supplementary services that act on
// them: call waiting (+CCWA), call hold and explicit call transfer (+CHLD)
// and call deflection (+CTFR), 3GPP TS 27.007 7.12-7.14, TS 22.030.

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Redirect is a call the driver sent elsewhere through the network.
type Redirect struct {
	Kind string // "deflection" (AT+CTFR) or "transfer" (AT+CHLD=4)
	From string // the caller (deflection) or the held party (transfer)
	To   string // the deflected-to number, or the other party of the transfer
	At   time.Time
	// After is how long the call had been ringing (deflection) or
	// connected (transfer) when it was sent on.
	After time.Duration
	// Rings is how many RINGs the call had sent when it was deflected
	// (1: sent on in answer to the first); 0 for a transfer.
	Rings int
}

// Supplementary services the network can be told to refuse (verb
// `service`).
var serviceNames = []string{"deflection", "hold", "transfer", "waiting"}

// serviceRule is how the network (and the module) treat one service.
type serviceRule struct {
	refuse int  // +CME ERROR code the network answers; 0 = it works
	absent bool // the module has no such command
}

// cmeTexts are the verbose forms of the +CME ERROR codes the simulator
// gives (3GPP TS 27.007 9.2), for AT+CMEE=2.
var cmeTexts = map[int]string{
	0: "phone failure", 3: "operation not allowed", 4: "operation not supported", 21: "invalid index",
	30: "no network service", 31: "network timeout", 50: "incorrect parameters", 100: "unknown",
	257: "network rejected request", 258: "retry operation", 259: "invalid deflected to number",
	260: "deflected to own number", 261: "unknown subscriber", 262: "service not available",
	263: "unknown class specified", 264: "unknown network message",
}

// cmeLocked is +CME ERROR <code> in the form AT+CMEE asks for.
func (s *Sim) cmeLocked(code int) string {
	t, ok := cmeTexts[code]
	if !ok {
		t = "unknown"
	}
	return s.errLocked(code, t)
}

// refusedLocked is the answer of a network that refuses svc, "" when it
// does not.
func (s *Sim) refusedLocked(svc string) string {
	r := s.st.svc[svc]
	switch {
	case r.absent:
		return s.cmeLocked(4)
	case r.refuse != 0:
		return s.cmeLocked(r.refuse)
	}
	return ""
}

// ---- calls ----

// findLocked returns the first call in one of the +CLCC states.
func (s *Sim) findLocked(stats ...int) *simCall {
	for _, c := range s.st.calls {
		for _, st := range stats {
			if c.stat == st {
				return c
			}
		}
	}
	return nil
}

func (s *Sim) callByIDLocked(id int) *simCall {
	for _, c := range s.st.calls {
		if c.id == id {
			return c
		}
	}
	return nil
}

// addCallLocked gives c the lowest free call id and adds it.
func (s *Sim) addCallLocked(c *simCall) {
	for id := 1; ; id++ {
		if s.callByIDLocked(id) == nil {
			c.id = id
			break
		}
	}
	s.st.calls = append(s.st.calls, c)
}

func (s *Sim) presentLocked(c *simCall) bool {
	for _, x := range s.st.calls {
		if x == c {
			return true
		}
	}
	return false
}

func (s *Sim) clccLocked(c *simCall) string {
	dir := 0
	if c.incoming {
		dir = 1
	}
	num, typ := c.number, 129
	if strings.HasPrefix(num, "+") {
		typ = 145
	}
	return fmt.Sprintf(`+CLCC: %d,%d,%d,0,0,"%s",%d`, c.id, dir, c.stat, num, typ)
}

// callStatLocked moves the call to stat and reports it the variant's way.
func (s *Sim) callStatLocked(c *simCall, stat int) {
	c.stat = stat
	s.kickVoiceLocked()
	if s.st.clccURC {
		s.urcLocked(s.clccLocked(c))
	}
	if s.st.dsci {
		dir, typ := 0, 129
		if c.incoming {
			dir = 1
		}
		if strings.HasPrefix(c.number, "+") {
			typ = 145
		}
		s.urcLocked(fmt.Sprintf("^DSCI: %d,%d,%d,0,%s,%d", c.id, dir, stat, c.number, typ))
	}
	if (stat == 2 || stat == 4) && len(s.st.calls) <= 1 {
		s.recording = s.recording[:0] // a new call (dialling or ringing): a new recording
	}
	if stat == 0 && s.o.Variant == SIMCom {
		s.urcLocked("VOICE CALL: BEGIN")
	}
}

// endCallLocked ends call c: final is the result the driver sees ("" when
// the driver cleared it, "NO CARRIER" when the far end did...).
func (s *Sim) endCallLocked(c *simCall, final string) {
	if c == nil || !s.presentLocked(c) {
		return
	}
	wasActive := c.stat == 0 || c.stat == 1
	s.callStatLocked(c, 6)
	if s.o.Variant == SIMCom {
		if wasActive {
			secs := int(time.Since(c.started).Seconds())
			s.urcLocked(fmt.Sprintf("VOICE CALL: END: %06d", secs))
		} else if c.incoming && final != "" {
			s.urcLocked(fmt.Sprintf("MISSED_CALL: %s %s", time.Now().Format("03:04PM"), c.number))
		}
	}
	if final != "" && (wasActive || !c.incoming) {
		s.urcLocked(final)
	}
	kept := s.st.calls[:0]
	for _, x := range s.st.calls {
		if x != c {
			kept = append(kept, x)
		}
	}
	s.st.calls = kept
	if len(s.st.calls) == 0 {
		if s.o.Variant == SIMCom {
			s.st.pcmOn = false
		}
		return
	}
	// The call a waiting call waited behind is gone: the network now
	// offers it as an ordinary call (TS 22.083 1.2).
	if w := s.findLocked(5); w != nil && len(s.st.calls) == 1 {
		s.callStatLocked(w, 4)
		s.ringLocked(w)
	}
}

// endAllLocked ends every call (network lost, far end gone).
func (s *Sim) endAllLocked(final string) {
	for len(s.st.calls) > 0 {
		s.endCallLocked(s.st.calls[0], final)
	}
}

// afterLocked runs f after d while call c lasts.
func (s *Sim) afterLocked(c *simCall, d time.Duration, f func()) {
	time.AfterFunc(d, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.closed || !s.presentLocked(c) {
			return
		}
		f()
	})
}

func (s *Sim) dialLocked(number string) ([]string, string) {
	if s.findLocked(0, 2, 3, 4, 5) != nil || len(s.st.calls) >= 2 {
		return nil, s.cmeLocked(3) // only beside a held call
	}
	if number == "" || strings.Trim(number, "+0123456789*#") != "" {
		return nil, s.cmeLocked(50)
	}
	if !s.st.cell {
		return nil, "NO CARRIER" // no network in reach at all
	}
	if !s.st.registered && !isEmergency(number) {
		// Emergency numbers go through on any network in reach (limited service).
		return nil, s.cmeLocked(30)
	}
	c := &simCall{number: number, stat: 2, started: time.Now(), resp: s.responderForLocked(number)}
	s.addCallLocked(c)
	s.callStatLocked(c, 2)
	d := s.st.dialD
	switch s.st.ondial {
	case "reject":
		s.afterLocked(c, d+50*time.Millisecond, func() { s.endCallLocked(c, "NO CARRIER") })
	case "busy":
		// A busy subscriber is never alerted: the network gives BUSY.
		s.afterLocked(c, d+s.o.AlertAfter, func() { s.endCallLocked(c, "BUSY") })
	default:
		s.afterLocked(c, d+s.o.AlertAfter, func() {
			s.callStatLocked(c, 3)
			switch s.st.ondial {
			case "noanswer":
				s.afterLocked(c, s.o.NoAnswerAfter, func() { s.endCallLocked(c, "NO ANSWER") })
			case "answer":
				s.afterLocked(c, s.o.AnswerAfter, func() { s.farAnswerLocked(c) })
			}
		})
	}
	return nil, "OK"
}

func (s *Sim) farAnswerLocked(c *simCall) {
	if c == nil || c.incoming || c.stat == 0 || c.stat == 1 {
		return
	}
	c.started = time.Now()
	s.callStatLocked(c, 0)
}

func (s *Sim) answerLocked() ([]string, string) {
	c := s.findLocked(4)
	if c == nil {
		return nil, "NO CARRIER"
	}
	c.started = time.Now()
	c.stat = 0
	// The module says OK first, then reports the connection.
	s.post = append(s.post, func() { s.callStatLocked(c, 0) })
	return nil, "OK"
}

// ringLocked sends RING (+CLIP) now and again while c rings.
func (s *Sim) ringLocked(c *simCall) {
	if !s.presentLocked(c) || !c.incoming || c.stat != 4 {
		return
	}
	if s.urcLocked("RING") {
		c.rings++
	}
	if s.st.clip {
		num, typ := s.cliLocked(c)
		s.urcLocked(fmt.Sprintf(`+CLIP: "%s",%d,"",0,"%s",%d`, num, typ, c.name, c.presentation))
	}
	s.afterLocked(c, s.o.RingInterval, func() { s.ringLocked(c) })
}

// cliLocked is the number (empty unless presented) and its type.
func (s *Sim) cliLocked(c *simCall) (string, int) {
	num := c.number
	if c.presentation != 0 {
		num = ""
	}
	typ := 129
	if strings.HasPrefix(num, "+") {
		typ = 145
	}
	return num, typ
}

// incomingLocked offers a new inbound call: it rings, or waits behind a
// call in progress when call waiting is on; otherwise the caller gets busy
// (or the network's forward on busy). It says what happened.
func (s *Sim) incomingLocked(c *simCall) (string, error) {
	who := c.number
	if c.presentation != 0 {
		who = "a withheld caller"
	}
	switch {
	case len(s.st.calls) == 0:
		c.stat = 4
		s.addCallLocked(c)
		s.callStatLocked(c, 4)
		s.ringLocked(c)
		return "ringing from " + who, nil
	case len(s.st.calls) == 1 && s.st.cw && s.findLocked(4) == nil:
		c.stat = 5
		s.addCallLocked(c)
		if s.st.ccwaURC {
			num, typ := s.cliLocked(c)
			s.urcLocked(fmt.Sprintf(`+CCWA: "%s",%d,1,"%s",%d`, num, typ, c.name, c.presentation))
		}
		s.callStatLocked(c, 5)
		return "waiting: " + who + " (call waiting)", nil
	}
	why := "call waiting is off in the network"
	if len(s.st.calls) == 2 {
		why = "two calls already"
	} else if s.findLocked(4) != nil {
		why = "a call is already ringing"
	}
	if f, ok := s.st.fwd[1]; ok && f.active {
		return fmt.Sprintf("%s forwarded on busy by the network to %s (%s)", who, f.number, why), nil
	}
	return fmt.Sprintf("%s got busy (%s)", who, why), nil
}

// ---- supplementary services ----

// ccwaLocked is AT+CCWA=<n>[,<mode>[,<class>]] (27.007 7.12).
func (s *Sim) ccwaLocked(arg string) ([]string, string) {
	if s.st.svc["waiting"].absent {
		return nil, s.cmeLocked(4)
	}
	ps := strings.Split(arg, ",")
	n, err := strconv.Atoi(strings.TrimSpace(ps[0]))
	if err != nil || n < 0 || n > 1 {
		if strings.TrimSpace(ps[0]) != "" {
			return nil, s.cmeLocked(50)
		}
		n = b2i(s.st.ccwaURC)
	}
	s.st.ccwaURC = n == 1
	if len(ps) < 2 || strings.TrimSpace(ps[1]) == "" {
		return ok()
	}
	mode, err := strconv.Atoi(strings.TrimSpace(ps[1]))
	if err != nil || mode < 0 || mode > 2 {
		return nil, s.cmeLocked(50)
	}
	if !s.st.registered {
		return nil, s.cmeLocked(30)
	}
	switch mode {
	case 0:
		s.st.cw = false
	case 1:
		if r := s.refusedLocked("waiting"); r != "" {
			return nil, r
		}
		s.st.cw = true
	case 2:
		if s.st.cw {
			return ok("+CCWA: 1,1")
		}
		return ok("+CCWA: 0,7")
	}
	return ok()
}

// chldTestLocked is the answer to AT+CHLD=?: the operations of SIM7600
// and EC25 manuals, less what the module is told to lack.
func (s *Sim) chldTestLocked() ([]string, string) {
	if s.st.svc["hold"].absent && s.st.svc["transfer"].absent {
		return nil, s.cmeLocked(4)
	}
	ops := []string{"0", "1", "1x"}
	if !s.st.svc["hold"].absent {
		ops = append(ops, "2", "2x")
	}
	ops = append(ops, "3")
	if !s.st.svc["transfer"].absent {
		ops = append(ops, "4")
	}
	return ok("+CHLD: (" + strings.Join(ops, ",") + ")")
}

// chldLocked is AT+CHLD=<n> (27.007 7.13, TS 22.030 6.5.5.1).
func (s *Sim) chldLocked(arg string) ([]string, string) {
	arg = strings.TrimSpace(arg)
	if arg == "" || len(arg) > 2 || strings.Trim(arg, "0123456789") != "" {
		return nil, s.cmeLocked(50)
	}
	if !s.st.registered {
		return nil, s.cmeLocked(30)
	}
	active := s.findLocked(0)
	waiting := s.findLocked(5)
	held := s.findLocked(1)
	other := waiting
	if other == nil {
		other = held
	}
	op, x := arg[0], 0
	if len(arg) == 2 {
		x = int(arg[1] - '0')
	}
	switch {
	case op == '0' && x == 0:
		// Release the held call, or give the waiting one busy (UDUB).
		switch {
		case waiting != nil:
			s.endCallLocked(waiting, "")
		case held != nil:
			s.endCallLocked(held, "")
		default:
			return nil, s.cmeLocked(3)
		}
	case op == '1' && x == 0:
		// Release the active call(s), connect the other one.
		if active == nil && other == nil {
			return nil, s.cmeLocked(3)
		}
		if other != nil {
			if other == waiting && other.stat == 5 {
				other.started = time.Now()
			}
			other.stat = 0 // before the release, so a waiting call is not offered anew
		}
		if active != nil {
			s.endCallLocked(active, "")
		}
		if other != nil {
			s.callStatLocked(other, 0)
		}
	case op == '1':
		c := s.callByIDLocked(x)
		if c == nil {
			return nil, s.cmeLocked(21)
		}
		s.endCallLocked(c, "")
	case op == '2' && x == 0:
		if r := s.refusedLocked("hold"); r != "" {
			return nil, r
		}
		if active == nil && held == nil {
			return nil, s.cmeLocked(3)
		}
		if active != nil {
			s.callStatLocked(active, 1)
		}
		if other != nil {
			if other.stat == 5 {
				other.started = time.Now()
			}
			s.callStatLocked(other, 0)
		}
	case op == '2':
		if r := s.refusedLocked("hold"); r != "" {
			return nil, r
		}
		c := s.callByIDLocked(x)
		if c == nil || (c.stat != 0 && c.stat != 1) {
			return nil, s.cmeLocked(21)
		}
		for _, o := range s.st.calls {
			if o != c && o.stat == 0 {
				s.callStatLocked(o, 1)
			}
		}
		if c.stat != 0 {
			s.callStatLocked(c, 0)
		}
	case op == '3':
		return nil, s.cmeLocked(3) // no multiparty on this network
	case op == '4' && x == 0:
		if r := s.refusedLocked("transfer"); r != "" {
			return nil, r
		}
		second := s.findLocked(0, 3)
		if held == nil || second == nil {
			return nil, s.cmeLocked(3)
		}
		s.redirects = append(s.redirects, Redirect{Kind: "transfer", From: held.number, To: second.number, At: time.Now(), After: time.Since(held.started)})
		s.endCallLocked(held, "")
		s.endCallLocked(second, "")
	default:
		return nil, s.cmeLocked(50)
	}
	return ok()
}

// ctfrLocked is AT+CTFR=<number>[,<type>] (27.007 7.14): the ringing or
// waiting call goes to number.
func (s *Sim) ctfrLocked(raw string) ([]string, string) {
	ps := strings.Split(raw, ",")
	num := strings.Trim(strings.TrimSpace(ps[0]), `"`)
	if num == "" || strings.Trim(num, "+0123456789") != "" {
		return nil, s.cmeLocked(50)
	}
	if !s.st.registered {
		return nil, s.cmeLocked(30)
	}
	if r := s.refusedLocked("deflection"); r != "" {
		return nil, r
	}
	c := s.findLocked(4, 5)
	if c == nil {
		return nil, s.cmeLocked(3)
	}
	from := c.number
	if c.presentation != 0 {
		from = "withheld"
	}
	s.redirects = append(s.redirects, Redirect{Kind: "deflection", From: from, To: num, At: time.Now(), After: time.Since(c.started), Rings: c.rings})
	s.endCallLocked(c, "")
	return ok()
}

// Redirects returns the calls the driver deflected or transferred, oldest
// first.
func (s *Sim) Redirects() []Redirect {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Redirect(nil), s.redirects...)
}
