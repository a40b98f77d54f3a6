//go:build linux

package modemsim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Sim is a running simulated modem.
type Sim struct {
	o       Options
	log     *slog.Logger
	atLink  string
	pcmLink string

	mu        sync.Mutex
	att       *attachment // nil while vanished
	st        modemState
	callN     uint64 // call generation: timers of an ended call do nothing
	cmds      []string
	sms       []SMS
	play      []int16
	heard     []int16
	nHeard    int
	taps      []*tap
	post      []func() // run after the current command's final result
	farDigits string
	closed    bool
	stop      chan struct{}
	wg        sync.WaitGroup
	rng       *rand.Rand
}

type tap struct {
	want int
	buf  []int16
	done chan []int16
}

// modemState is what a module reboot resets.
type modemState struct {
	echo, echoStuck bool
	cmee            int
	clip            bool
	creg, cereg     int
	clccURC, dsci   bool
	dtmfURC, qind   bool
	pcmOn           bool
	cmgf            int

	registered bool
	rssi       int
	operator   string

	call   *simCall
	ondial string
	dialD  time.Duration // extra delay before the ondial outcome

	wedged, wedgeMid bool
	slow             time.Duration
	interleave       []byte
	gapUntil         time.Time
	jitter           int

	fwd     map[int]fwd
	prompt  bool // SMS text being typed
	smsTo   string
	smsText []byte
}

type fwd struct {
	active bool
	number string
	secs   int
}

type simCall struct {
	incoming     bool
	number       string
	name         string
	presentation int // CLI validity: 0 given, 1 withheld, 2 unavailable
	stat         int // +CLCC stat
	started      time.Time
}

// attachment is one "plugged in" period: the ptys and their goroutines.
type attachment struct {
	at, pcm *ptyPair
	atq     chan []byte
	pcmq    chan []byte
	done    chan struct{}
}

// New starts a simulator and publishes its ports.
func New(o Options) (*Sim, error) {
	if o.Dir == "" {
		return nil, errors.New("modemsim: Options.Dir is empty: give a directory for the port symlinks")
	}
	if o.Name == "" {
		o.Name = "modem"
	}
	if o.Variant == "" {
		o.Variant = SIMCom
	}
	if o.Variant != SIMCom && o.Variant != Quectel && o.Variant != Generic {
		return nil, fmt.Errorf("modemsim: variant %q is unknown: use simcom, quectel or generic", o.Variant)
	}
	def := func(p *time.Duration, v time.Duration) {
		if *p <= 0 {
			*p = v
		}
	}
	def(&o.RingInterval, 3*time.Second)
	def(&o.AlertAfter, 300*time.Millisecond)
	def(&o.AnswerAfter, 1500*time.Millisecond)
	def(&o.NoAnswerAfter, 8*time.Second)
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("modemsim: %w", err)
	}
	s := &Sim{
		o: o, log: o.Logger.With("modemsim", o.Name),
		atLink:  filepath.Join(o.Dir, o.Name),
		pcmLink: filepath.Join(o.Dir, o.Name+"-pcm"),
		stop:    make(chan struct{}),
		rng:     rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1)),
	}
	s.st = s.defaults(modemState{registered: true, rssi: 20, operator: "critline sim", ondial: "answer", fwd: map[int]fwd{}})
	s.mu.Lock()
	err := s.attachLocked()
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	s.wg.Add(2)
	go s.voiceClock()
	go s.janitor()
	return s, nil
}

// defaults resets what a module reboot resets, keeping the network side.
func (s *Sim) defaults(old modemState) modemState {
	return modemState{
		echo: true, echoStuck: old.echoStuck, cmgf: 0,
		registered: old.registered, rssi: old.rssi, operator: old.operator,
		ondial: old.ondial, dialD: old.dialD, slow: old.slow, jitter: old.jitter,
		fwd: old.fwd,
	}
}

// ATPath is the stable path of the AT port (a symlink to the current pty).
func (s *Sim) ATPath() string { return s.atLink }

// PCMPath is the stable path of the voice port, "" without one.
func (s *Sim) PCMPath() string {
	if s.o.NoPCM {
		return ""
	}
	return s.pcmLink
}

// TTYs returns the current /dev/pts paths (empty while vanished).
func (s *Sim) TTYs() (at, pcm string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.att == nil {
		return "", ""
	}
	at = s.att.at.tty
	if s.att.pcm != nil {
		pcm = s.att.pcm.tty
	}
	return at, pcm
}

// Close vanishes the modem for good and removes the symlinks.
func (s *Sim) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.detachLocked()
	close(s.stop)
	for _, t := range s.taps {
		close(t.done)
	}
	s.taps = nil
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

func (s *Sim) attachLocked() error {
	a := &attachment{atq: make(chan []byte, 256), pcmq: make(chan []byte, 64), done: make(chan struct{})}
	var err error
	if a.at, err = openPty(); err != nil {
		return fmt.Errorf("modemsim: %w", err)
	}
	if !s.o.NoPCM {
		if a.pcm, err = openPty(); err != nil {
			a.at.close()
			return fmt.Errorf("modemsim: %w", err)
		}
	}
	if err := publish(s.atLink, a.at.tty); err != nil {
		a.close()
		return fmt.Errorf("modemsim: %w", err)
	}
	if a.pcm != nil {
		if err := publish(s.pcmLink, a.pcm.tty); err != nil {
			a.close()
			return fmt.Errorf("modemsim: %w", err)
		}
	}
	s.att = a
	s.wg.Add(2)
	go s.writer(a, a.at, a.atq)
	go s.atReader(a)
	if a.pcm != nil {
		s.wg.Add(2)
		go s.writer(a, a.pcm, a.pcmq)
		go s.pcmReader(a)
	}
	return nil
}

func (a *attachment) close() {
	a.at.close()
	if a.pcm != nil {
		a.pcm.close()
	}
}

// detachLocked is the USB unplug: ports closed, symlinks gone, call lost.
func (s *Sim) detachLocked() {
	if s.att == nil {
		return
	}
	close(s.att.done)
	s.att.close()
	s.att = nil
	os.Remove(s.atLink)
	os.Remove(s.pcmLink)
	s.st.call = nil
	s.callN++
}

func (s *Sim) writer(a *attachment, p *ptyPair, q chan []byte) {
	defer s.wg.Done()
	for {
		select {
		case b := <-q:
			_ = p.master.SetWriteDeadline(time.Now().Add(500 * time.Millisecond))
			if _, err := p.master.Write(b); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
				return
			}
		case <-a.done:
			return
		}
	}
}

// janitor clears the serial client's exclusive flag now and then, so the
// driver can reopen the port after closing it (TIOCEXCL outlives a close on
// a pty).
func (s *Sim) janitor() {
	defer s.wg.Done()
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			s.mu.Lock()
			if s.att != nil {
				s.att.at.clearExclusive()
				if s.att.pcm != nil {
					s.att.pcm.clearExclusive()
				}
			}
			s.mu.Unlock()
		case <-s.stop:
			return
		}
	}
}

// sendLocked queues raw bytes on the AT port; a full queue (nobody
// reading for a long time) drops them, as a real module's buffer would.
func (s *Sim) sendLocked(b []byte) {
	if s.att == nil {
		return
	}
	select {
	case s.att.atq <- b:
	default:
	}
}

// urcLocked sends unsolicited lines, unless the module is wedged.
func (s *Sim) urcLocked(lines ...string) {
	if s.st.wedged {
		return
	}
	for _, l := range lines {
		s.sendLocked([]byte("\r\n" + l + "\r\n"))
	}
}

// ---- the AT port ----

func (s *Sim) atReader(a *attachment) {
	defer s.wg.Done()
	buf := make([]byte, 512)
	var line []byte
	for {
		n, err := a.at.master.Read(buf)
		for _, c := range buf[:n] {
			s.mu.Lock()
			prompt := s.st.prompt && s.att == a
			s.mu.Unlock()
			if prompt {
				s.promptByte(a, c)
				continue
			}
			switch c {
			case '\r', '\n':
				if len(line) > 0 {
					s.command(a, string(line))
					line = line[:0]
				}
			case 0x1b:
				line = line[:0]
			default:
				if len(line) < 1024 {
					line = append(line, c)
				}
			}
		}
		if err != nil {
			return
		}
	}
}

// promptByte takes one byte of SMS text.
func (s *Sim) promptByte(a *attachment, c byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.att != a || s.st.wedged {
		return
	}
	switch c {
	case 0x1a:
		s.st.prompt = false
		s.sms = append(s.sms, SMS{To: s.st.smsTo, Text: string(s.st.smsText), At: time.Now()})
		s.sendLocked([]byte(fmt.Sprintf("\r\n+CMGS: %d\r\n\r\nOK\r\n", len(s.sms)%256)))
	case 0x1b:
		s.st.prompt = false
		s.sendLocked([]byte("\r\nOK\r\n"))
	default:
		if len(s.st.smsText) < 1024 {
			s.st.smsText = append(s.st.smsText, c)
		}
		if s.st.echo {
			s.sendLocked([]byte{c})
		}
	}
}

// command runs one command line and writes its answer.
func (s *Sim) command(a *attachment, line string) {
	s.mu.Lock()
	if s.att != a {
		s.mu.Unlock()
		return
	}
	s.cmds = append(s.cmds, line)
	if len(s.cmds) > 512 {
		s.cmds = s.cmds[len(s.cmds)-256:]
	}
	if s.st.wedged {
		s.mu.Unlock()
		return
	}
	if s.st.echo {
		s.sendLocked([]byte(line + "\r"))
	}
	s.post = nil
	info, final := s.execLocked(line)
	slow := s.st.slow
	s.mu.Unlock()
	if slow > 0 {
		select {
		case <-time.After(slow):
		case <-a.done:
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.att != a || s.st.wedged {
		return
	}
	for i, l := range info {
		s.sendLocked([]byte("\r\n" + l + "\r\n"))
		if i == 0 && s.st.interleave != nil {
			s.sendLocked(s.st.interleave)
			s.st.interleave = nil
		}
	}
	if s.st.interleave != nil {
		s.sendLocked(s.st.interleave)
		s.st.interleave = nil
	}
	if s.st.wedgeMid {
		s.st.wedgeMid, s.st.wedged = false, true
		return
	}
	switch final {
	case "":
	case ">":
		s.sendLocked([]byte("\r\n> "))
	default:
		s.sendLocked([]byte("\r\n" + final + "\r\n"))
	}
	post := s.post
	s.post = nil
	for _, f := range post {
		f()
	}
}

func (s *Sim) errLocked(code int, text string) string {
	switch s.st.cmee {
	case 1:
		return fmt.Sprintf("+CME ERROR: %d", code)
	case 2:
		return "+CME ERROR: " + text
	}
	return "ERROR"
}

// execLocked interprets one command line: information lines and the final
// result ("" for none now, ">" for the SMS prompt).
func (s *Sim) execLocked(line string) (info []string, final string) {
	up := strings.ToUpper(line)
	if !strings.HasPrefix(up, "AT") {
		return nil, "ERROR"
	}
	cmd, raw := up[2:], line[2:]
	ok := func(lines ...string) ([]string, string) { return lines, "OK" }
	set := func(arg string, lo, hi int, p *int) ([]string, string) {
		n, err := strconv.Atoi(arg)
		if err != nil || n < lo || n > hi {
			return nil, s.errLocked(50, "incorrect parameters")
		}
		*p = n
		return ok()
	}
	b2i := func(b bool) int {
		if b {
			return 1
		}
		return 0
	}
	var tmp int
	setBool := func(arg string, p *bool) ([]string, string) {
		i, f := set(arg, 0, 1, &tmp)
		if f == "OK" {
			*p = tmp == 1
		}
		return i, f
	}
	name, arg, _ := strings.Cut(cmd, "=")
	switch {
	case cmd == "":
		return ok()
	case cmd == "E0" || cmd == "E1" || cmd == "E":
		if !s.st.echoStuck {
			s.st.echo = cmd == "E1"
		}
		return ok()
	case cmd == "V1" || cmd == "V" || cmd == "Q0":
		return ok()
	case cmd == "Z" || cmd == "&F":
		s.st = s.defaults(s.st)
		return ok()
	case cmd == "I":
		return ok("Manufacturer: SIMCOM INCORPORATED", "Model: SIMCOM_SIM7600E-H (critline simulator, "+string(s.o.Variant)+")", "Revision: LE20B04SIM7600M22", "IMEI: 861234050000001")
	case cmd == "+CGMI":
		return ok("SIMCOM INCORPORATED")
	case cmd == "+CGMM":
		return ok("SIMCOM_SIM7600E-H")
	case cmd == "+CGMR":
		return ok("+CGMR: LE20B04SIM7600M22")
	case cmd == "+CGSN":
		return ok("861234050000001")
	case cmd == "+CIMI":
		return ok("234150000000001")
	case cmd == "+CPIN?":
		return ok("+CPIN: READY")
	case cmd == "+CFUN?":
		return ok("+CFUN: 1")
	case name == "+CMEE":
		return set(arg, 0, 2, &s.st.cmee)
	case name == "+CLIP" && arg != "":
		return setBool(arg, &s.st.clip)
	case cmd == "+CLIP?":
		return ok(fmt.Sprintf("+CLIP: %d,1", b2i(s.st.clip)))
	case name == "+CREG" && arg != "" && arg != "?":
		return set(arg, 0, 2, &s.st.creg)
	case cmd == "+CREG?":
		return ok(s.regLocked("+CREG", s.st.creg, true))
	case name == "+CEREG" && arg != "":
		return set(arg, 0, 2, &s.st.cereg)
	case cmd == "+CEREG?":
		return ok(s.regLocked("+CEREG", s.st.cereg, true))
	case strings.HasPrefix(cmd, "+COPS=") || cmd == "+CSCS" || strings.HasPrefix(cmd, "+CSCS="):
		return ok()
	case cmd == "+COPS?":
		if !s.st.registered {
			return ok("+COPS: 0")
		}
		return ok(fmt.Sprintf(`+COPS: 0,0,"%s",7`, s.st.operator))
	case cmd == "+CSQ":
		return ok(fmt.Sprintf("+CSQ: %d,99", s.st.rssi))
	case name == "+CMGF":
		return set(arg, 0, 1, &s.st.cmgf)
	case name == "+CLCC" && arg != "" && s.o.Variant != Generic:
		return setBool(arg, &s.st.clccURC)
	case cmd == "+CLCC":
		if c := s.st.call; c != nil {
			return ok(s.clccLocked(c))
		}
		return ok()
	case name == "^DSCI" && s.o.Variant == Quectel:
		return setBool(arg, &s.st.dsci)
	case name == "+DDET" && s.o.Variant == SIMCom:
		return setBool(strings.SplitN(arg, ",", 2)[0], &s.st.dtmfURC)
	case name == "+QTONEDET" && s.o.Variant == Quectel:
		return setBool(arg, &s.st.dtmfURC)
	case name == "+QINDCFG" && s.o.Variant == Quectel:
		if strings.HasPrefix(arg, `"CSQ",`) {
			s.st.qind = strings.HasSuffix(arg, "1")
		}
		return ok()
	case name == "+CPCMREG" && s.o.Variant == SIMCom:
		if arg == "1" && s.st.call == nil {
			return nil, s.errLocked(3, "operation not allowed")
		}
		return setBool(arg, &s.st.pcmOn)
	case name == "+CPCMFRM" && s.o.Variant == SIMCom:
		if arg != "0" {
			return nil, s.errLocked(4, "operation not supported") // the simulator carries 8 kHz only
		}
		return ok()
	case name == "+QPCMV" && s.o.Variant == Quectel:
		return setBool(strings.SplitN(arg, ",", 2)[0], &s.st.pcmOn)
	case strings.HasPrefix(cmd, "D") && strings.HasSuffix(cmd, ";"):
		return s.dialLocked(raw[1 : len(raw)-1])
	case cmd == "A":
		return s.answerLocked()
	case cmd == "+CHUP" || cmd == "H" || cmd == "H0":
		if s.st.call != nil {
			s.endCallLocked("")
		}
		return ok()
	case name == "+VTS":
		d := strings.Trim(arg, `"`)
		if s.st.call == nil || s.st.call.stat != 0 {
			return nil, s.errLocked(3, "operation not allowed")
		}
		if d == "" || strings.Trim(d, "0123456789*#ABCD") != "" {
			return nil, s.errLocked(50, "incorrect parameters")
		}
		s.farDigits += d
		return ok()
	case name == "+CCFC":
		return s.ccfcLocked(raw[len("+CCFC="):])
	case name == "+CMGS":
		if !s.st.registered {
			return nil, "+CMS ERROR: 331"
		}
		s.st.prompt, s.st.smsTo, s.st.smsText = true, strings.Trim(raw[len("+CMGS="):], `"`), nil
		return nil, ">"
	}
	return nil, s.errLocked(4, "operation not supported")
}

// regLocked formats a registration answer (query) or report.
func (s *Sim) regLocked(prefix string, n int, query bool) string {
	stat := 0
	if s.st.registered {
		stat = 1
	}
	loc := ""
	if n == 2 && stat == 1 {
		loc = `,"1A2B","01C3D4E5"`
		if prefix == "+CEREG" {
			loc += ",7"
		}
	}
	if query {
		return fmt.Sprintf("%s: %d,%d%s", prefix, n, stat, loc)
	}
	return fmt.Sprintf("%s: %d%s", prefix, stat, loc)
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
	return fmt.Sprintf(`+CLCC: 1,%d,%d,0,0,"%s",%d`, dir, c.stat, num, typ)
}

// callStatLocked moves the call to stat and reports it the variant's way.
func (s *Sim) callStatLocked(c *simCall, stat int) {
	c.stat = stat
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
		s.urcLocked(fmt.Sprintf("^DSCI: 1,%d,%d,0,%s,%d", dir, stat, c.number, typ))
	}
	if stat == 0 && s.o.Variant == SIMCom {
		s.urcLocked("VOICE CALL: BEGIN")
	}
}

// endCallLocked ends the call: final is the result the driver sees ("" when
// the driver hung up, "NO CARRIER" when the far end did...).
func (s *Sim) endCallLocked(final string) {
	c := s.st.call
	if c == nil {
		return
	}
	wasActive := c.stat == 0
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
	s.st.call = nil
	if s.o.Variant == SIMCom {
		s.st.pcmOn = false
	}
	s.callN++
}

// afterLocked runs f after d if the call generation is unchanged.
func (s *Sim) afterLocked(d time.Duration, f func()) {
	n := s.callN
	time.AfterFunc(d, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.closed || s.callN != n || s.st.call == nil {
			return
		}
		f()
	})
}

func (s *Sim) dialLocked(number string) ([]string, string) {
	if s.st.call != nil {
		return nil, s.errLocked(3, "operation not allowed")
	}
	if number == "" || strings.Trim(number, "+0123456789*#") != "" {
		return nil, s.errLocked(50, "incorrect parameters")
	}
	if !s.st.registered && number != "112" && number != "999" && number != "911" {
		// Emergency numbers go through on any network in reach (limited service).
		return nil, s.errLocked(30, "no network service")
	}
	c := &simCall{number: number, stat: 2, started: time.Now()}
	s.st.call = c
	s.callStatLocked(c, 2)
	d := s.st.dialD
	switch s.st.ondial {
	case "reject":
		s.afterLocked(d+50*time.Millisecond, func() { s.endCallLocked("NO CARRIER") })
	default:
		s.afterLocked(d+s.o.AlertAfter, func() {
			s.callStatLocked(c, 3)
			switch s.st.ondial {
			case "busy":
				s.afterLocked(s.o.AlertAfter, func() { s.endCallLocked("BUSY") })
			case "noanswer":
				s.afterLocked(s.o.NoAnswerAfter, func() { s.endCallLocked("NO ANSWER") })
			case "answer":
				s.afterLocked(s.o.AnswerAfter, func() { s.farAnswerLocked() })
			}
		})
	}
	return nil, "OK"
}

func (s *Sim) farAnswerLocked() {
	c := s.st.call
	if c == nil || c.incoming || c.stat == 0 {
		return
	}
	c.started = time.Now()
	s.callStatLocked(c, 0)
}

func (s *Sim) answerLocked() ([]string, string) {
	c := s.st.call
	if c == nil || !c.incoming || c.stat != 4 {
		return nil, "NO CARRIER"
	}
	c.started = time.Now()
	c.stat = 0
	// The module says OK first, then reports the connection.
	s.post = append(s.post, func() { s.callStatLocked(c, 0) })
	return nil, "OK"
}

// ringLocked sends RING (+CLIP) now and again until the call changes.
func (s *Sim) ringLocked() {
	c := s.st.call
	if c == nil || !c.incoming || c.stat != 4 {
		return
	}
	s.urcLocked("RING")
	if s.st.clip {
		num := c.number
		if c.presentation != 0 {
			num = ""
		}
		typ := 129
		if strings.HasPrefix(num, "+") {
			typ = 145
		}
		s.urcLocked(fmt.Sprintf(`+CLIP: "%s",%d,"",0,"%s",%d`, num, typ, c.name, c.presentation))
	}
	s.afterLocked(s.o.RingInterval, s.ringLocked)
}

func (s *Sim) ccfcLocked(args string) ([]string, string) {
	ps := strings.Split(args, ",")
	bad := func() ([]string, string) { return nil, s.errLocked(50, "incorrect parameters") }
	if len(ps) < 2 {
		return bad()
	}
	reason, err1 := strconv.Atoi(ps[0])
	mode, err2 := strconv.Atoi(ps[1])
	if err1 != nil || err2 != nil || reason < 0 || reason > 5 || mode < 0 || mode > 4 {
		return bad()
	}
	if !s.st.registered {
		return nil, s.errLocked(30, "no network service")
	}
	reasons := []int{reason}
	switch reason {
	case 4:
		reasons = []int{0, 1, 2, 3}
	case 5:
		reasons = []int{1, 2, 3}
	}
	switch mode {
	case 2:
		if reason > 3 {
			return bad()
		}
		f := s.st.fwd[reason]
		if !f.active {
			return []string{"+CCFC: 0,1"}, "OK"
		}
		typ := 129
		if strings.HasPrefix(f.number, "+") {
			typ = 145
		}
		l := fmt.Sprintf(`+CCFC: 1,1,"%s",%d`, f.number, typ)
		if reason == 2 && f.secs > 0 {
			l += fmt.Sprintf(",,,%d", f.secs)
		}
		return []string{l}, "OK"
	case 3:
		if len(ps) < 3 {
			return bad()
		}
		num := strings.Trim(ps[2], `"`)
		if num == "" || strings.Trim(num, "+0123456789") != "" {
			return bad()
		}
		secs := 0
		if len(ps) >= 8 {
			secs, _ = strconv.Atoi(ps[7])
		}
		for _, r := range reasons {
			s.st.fwd[r] = fwd{active: true, number: num, secs: secs}
		}
	case 0, 1:
		for _, r := range reasons {
			f := s.st.fwd[r]
			if mode == 1 && f.number == "" {
				return nil, s.errLocked(3, "operation not allowed")
			}
			f.active = mode == 1
			s.st.fwd[r] = f
		}
	case 4:
		for _, r := range reasons {
			delete(s.st.fwd, r)
		}
	}
	return nil, "OK"
}

// ---- voice ----

// voiceClock sends the far end's audio, 20 ms at a time, during a call
// with voice enabled (AT+CPCMREG=1 / AT+QPCMV=1; always for generic).
func (s *Sim) voiceClock() {
	defer s.wg.Done()
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	var pending []byte
	for {
		select {
		case <-t.C:
		case <-s.stop:
			return
		}
		s.mu.Lock()
		c := s.st.call
		on := c != nil && c.stat == 0 && s.att != nil && s.att.pcm != nil &&
			(s.st.pcmOn || s.o.Variant == Generic)
		if !on {
			pending = pending[:0]
			s.mu.Unlock()
			continue
		}
		if time.Now().Before(s.st.gapUntil) {
			s.mu.Unlock() // a gap: time passes, nothing is sent or lost
			continue
		}
		frame := make([]byte, 320)
		n := min(160, len(s.play))
		for i := range n {
			frame[2*i] = byte(s.play[i])
			frame[2*i+1] = byte(uint16(s.play[i]) >> 8)
		}
		s.play = s.play[n:]
		pending = append(pending, frame...)
		if len(pending) >= 320*max(1, s.st.jitter) {
			select {
			case s.att.pcmq <- pending:
			default:
			}
			pending = nil
		}
		s.mu.Unlock()
	}
}

func (s *Sim) pcmReader(a *attachment) {
	defer s.wg.Done()
	buf := make([]byte, 1024)
	var odd []byte
	for {
		n, err := a.pcm.master.Read(buf)
		if n > 0 {
			b := append(odd, buf[:n]...)
			samples := make([]int16, len(b)/2)
			for i := range samples {
				samples[i] = int16(uint16(b[2*i]) | uint16(b[2*i+1])<<8)
			}
			odd = append([]byte(nil), b[len(samples)*2:]...)
			s.mu.Lock()
			s.nHeard += len(samples)
			s.heard = append(s.heard, samples...)
			if len(s.heard) > 8000*60 {
				s.heard = append([]int16(nil), s.heard[len(s.heard)-8000*30:]...)
			}
			for i := 0; i < len(s.taps); {
				tp := s.taps[i]
				tp.buf = append(tp.buf, samples...)
				if len(tp.buf) >= tp.want {
					tp.done <- tp.buf[:tp.want]
					s.taps = append(s.taps[:i], s.taps[i+1:]...)
					continue
				}
				i++
			}
			s.mu.Unlock()
		}
		if err != nil {
			return
		}
	}
}

// Play queues audio (8 kHz mono samples) for the far end to send.
func (s *Sim) Play(samples []int16) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.play = append(s.play, samples...)
}

// Listen returns the next n samples the driver sends to the far end.
func (s *Sim) Listen(ctx context.Context, n int) ([]int16, error) {
	t := &tap{want: n, done: make(chan []int16, 1)}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, errors.New("modemsim: closed")
	}
	s.taps = append(s.taps, t)
	s.mu.Unlock()
	select {
	case b, ok := <-t.done:
		if !ok {
			return nil, errors.New("modemsim: closed")
		}
		return b, nil
	case <-ctx.Done():
		s.mu.Lock()
		for i, x := range s.taps {
			if x == t {
				s.taps = append(s.taps[:i], s.taps[i+1:]...)
				break
			}
		}
		s.mu.Unlock()
		return nil, ctx.Err()
	}
}

// Heard returns the last (up to 30-60 s of) audio the driver sent and the
// total number of samples received since start.
func (s *Sim) Heard() (recent []int16, total int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int16(nil), s.heard...), s.nHeard
}

// Commands returns the command lines received, oldest first (the last few
// hundred).
func (s *Sim) Commands() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.cmds...)
}

// Messages returns the SMS the driver sent.
func (s *Sim) Messages() []SMS {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]SMS(nil), s.sms...)
}

// FarDigits returns the DTMF digits the driver sent with AT+VTS and
// forgets them.
func (s *Sim) FarDigits() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.farDigits
	s.farDigits = ""
	return d
}

func (s *Sim) garbageLocked(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		c := byte(s.rng.IntN(256))
		if c == '\r' || c == '\n' {
			c = '#'
		}
		b[i] = c
	}
	return b
}
