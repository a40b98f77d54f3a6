//go:build linux

package modemsim

import (
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
	cmds      []string
	sms       []SMS
	redirects []Redirect
	play      []int16
	heard     []int16
	nHeard    int
	taps      []*tap
	post      []func() // run after the current command's final result
	farDigits string
	recording []int16  // what the driver sent during the last call (netforward_linux.go)
	forwarded []string // calls the network forwarded away from the modem
	data      simData  // the data side of the network (data_linux.go)
	// responders: what the far end at a number does once answered
	// (responder_linux.go); the network's, so a module reboot keeps them.
	responders map[string]responder
	echo       []int16 // what an echo responder has yet to send back
	echoDigits string  // DTMF digits an echo responder has yet to send back
	closed     bool
	stop       chan struct{}
	voiceKick  chan struct{} // wakes the resting voice clock
	wg         sync.WaitGroup
	rng        *rand.Rand
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

	registered bool // attached to the network: any call
	cell       bool // a network is in reach: emergency calls even when not registered
	rssi       int
	operator   string

	calls  []*simCall // at most two: one connected (or dialling, ringing) and one waiting or held
	ondial string
	dialD  time.Duration // extra delay before the ondial outcome

	wedged, wedgeMid bool
	slow             time.Duration
	interleave       []byte
	gapUntil         time.Time
	jitter           int

	fwd     map[int]fwd
	cw      bool                   // call waiting active in the network (AT+CCWA=x,1)
	ccwaURC bool                   // +CCWA reports on (AT+CCWA=1)
	svc     map[string]serviceRule // how the network treats each supplementary service
	prompt  bool                   // SMS text being typed
	smsTo   string
	smsText []byte

	data dataModem // the module's data session (data_linux.go)
}

type fwd struct {
	active bool
	number string
	secs   int
}

type simCall struct {
	id           int // the call id of +CLCC
	incoming     bool
	number       string
	name         string
	presentation int // CLI validity: 0 given, 1 withheld, 2 unavailable
	stat         int // +CLCC stat
	started      time.Time
	rings        int        // RINGs sent for it (an incoming call)
	resp         *responder // a dialled number's responder, once answered
	respPos      int        // samples of the responder's tone sent so far
}

// attachment is one "plugged in" period: the ptys and their goroutines.
type attachment struct {
	at, pcm *ptyPair
	atq     chan []byte
	pcmq    chan []byte
	done    chan struct{}
	watches []*closeWatch // the janitors' inotify watches
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
		atLink:     filepath.Join(o.Dir, o.Name),
		pcmLink:    filepath.Join(o.Dir, o.Name+"-pcm"),
		stop:       make(chan struct{}),
		voiceKick:  make(chan struct{}, 1),
		rng:        rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1)),
		responders: map[string]responder{},
	}
	s.st = s.defaults(modemState{registered: true, cell: true, rssi: 20, operator: "critline sim", ondial: "answer", fwd: map[int]fwd{}, svc: map[string]serviceRule{}})
	s.data = simData{delay: 200 * time.Millisecond, usbnet: 1, pid: "9011", apn: map[int]string{1: ""}}
	s.mu.Lock()
	err := s.attachLocked()
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	s.wg.Add(1)
	go s.voiceClock()
	return s, nil
}

// defaults resets what a module reboot resets, keeping the network side.
func (s *Sim) defaults(old modemState) modemState {
	return modemState{
		echo: true, echoStuck: old.echoStuck, cmgf: 0,
		registered: old.registered, cell: old.cell, rssi: old.rssi, operator: old.operator,
		ondial: old.ondial, dialD: old.dialD, slow: old.slow, jitter: old.jitter,
		fwd: old.fwd, cw: old.cw, svc: old.svc,
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
	for _, p := range []*ptyPair{a.at, a.pcm} {
		if p == nil {
			continue
		}
		w, err := p.watchCloses()
		if err != nil {
			a.close()
			return fmt.Errorf("modemsim: %w", err)
		}
		a.watches = append(a.watches, w)
		s.wg.Add(1)
		go s.janitor(a, p, w)
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
	s.kickVoiceLocked()
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
	for _, w := range a.watches {
		w.close()
	}
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
	s.st.calls = nil
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

// janitor clears the serial client's exclusive flag each time the client
// closes a port, so the driver can reopen it (TIOCEXCL outlives a close on
// a pty; a non-root reopen would get EBUSY). It waits on inotify close
// events of the pty's slave node: nothing runs while nobody opens or closes
// the port.
func (s *Sim) janitor(a *attachment, p *ptyPair, w *closeWatch) {
	defer s.wg.Done()
	buf := make([]byte, 4096)
	for w.wait(buf) {
		s.mu.Lock()
		if s.att == a {
			p.clearExclusive()
		}
		s.mu.Unlock()
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

// urcLocked sends unsolicited lines, unless the module is wedged; it
// reports whether it sent them.
func (s *Sim) urcLocked(lines ...string) bool {
	if s.st.wedged {
		return false
	}
	for _, l := range lines {
		s.sendLocked([]byte("\r\n" + l + "\r\n"))
	}
	return true
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
	s.kickVoiceLocked() // the command may have enabled voice (AT+CPCMREG=1, ATA)
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

// regLocked formats a registration answer (query) or report.
func (s *Sim) regLocked(prefix string, n int, query bool) string {
	stat := 0 // no network in reach
	switch {
	case s.st.registered:
		stat = 1
	case s.st.cell:
		stat = 3 // registration denied: limited service, emergency calls only
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

// isEmergency reports the numbers every network takes in limited service:
// 112 and 911 always (3GPP TS 22.101), 999 as a UK SIM lists it.
func isEmergency(number string) bool {
	return number == "112" || number == "911" || number == "999"
}
