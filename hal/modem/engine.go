package modem

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/critline/critline/hal"
)

// Errors of the AT engine.
var (
	// ErrTimeout: the modem gave no final result within the command's timeout.
	ErrTimeout = errors.New("modem did not answer in time")
	// ErrPortClosed: the port was closed or the device went away.
	ErrPortClosed = errors.New("modem port closed")
)

// ATError is a command that the modem refused: ERROR, +CME ERROR, +CMS
// ERROR, or a call result (BUSY, NO ANSWER, NO CARRIER, NO DIALTONE), which
// unwraps to the matching hal error.
type ATError struct {
	Cmd   string // the command sent
	Final string // the final result line as received
	Code  int    // +CME/+CMS ERROR code; -1 when the modem gave text only, 0 otherwise
	Text  string // the error's meaning, when known
}

func (e *ATError) Error() string {
	s := fmt.Sprintf("modem: %s: %s", e.Cmd, e.Final)
	if e.Text != "" && !strings.Contains(e.Final, e.Text) {
		s += " (" + e.Text + ")"
	}
	return s
}

// Unwrap maps call results to the hal errors the router understands.
func (e *ATError) Unwrap() error { return callFinalErr(e.Final) }

func callFinalErr(final string) error {
	switch final {
	case "BUSY":
		return hal.ErrBusy
	case "NO ANSWER":
		return hal.ErrNoAnswer
	case "NO CARRIER":
		return hal.ErrNoCarrier
	case "NO DIALTONE", "NO DIAL TONE":
		return hal.ErrNoDialtone
	}
	return nil
}

// Response is a command's answer: its information lines and final result.
type Response struct {
	Lines []string
	Final string
}

// Line returns the first information line starting with prefix.
func (r Response) Line(prefix string) (string, bool) {
	for _, l := range r.Lines {
		if strings.HasPrefix(l, prefix) {
			return l, true
		}
	}
	return "", false
}

// request is one command in flight.
type request struct {
	cmd      string
	call     bool     // call results (BUSY, NO CARRIER...) are this command's final result
	prefixes []string // information lines that belong to this command
	data     string   // sent after the "> " prompt, then Ctrl-Z (SMS)
	lines    []string
	done     chan Response
}

func (r *request) owns(line string) bool {
	for _, p := range r.prefixes {
		if strings.HasPrefix(line, p) {
			return true
		}
	}
	return false
}

// port is what the engine needs of a serial port.
type port interface {
	io.ReadWriteCloser
}

// engine talks AT over one port: a reader goroutine splits lines and routes
// each to the command in flight or to onURC; a writer goroutine owns
// writes; exec lets one command at a time be in flight.
type engine struct {
	p     port
	log   *slog.Logger
	m     *metrics
	onURC func(line string) // called on the reader goroutine; must not block
	// onTimeout, if set, is told of every command that got no answer.
	onTimeout func()

	sem  chan struct{}
	wq   chan []byte
	dead chan struct{}

	deadOnce sync.Once
	deadErr  error
	readDone chan struct{}

	mu         sync.Mutex
	cur        *request
	needResync bool
	lastRx     atomic.Int64 // unix nanos of the last byte read
}

func newEngine(p port, log *slog.Logger, m *metrics, onURC func(string)) *engine {
	e := &engine{
		p: p, log: log, m: m, onURC: onURC,
		sem:      make(chan struct{}, 1),
		wq:       make(chan []byte, 16),
		dead:     make(chan struct{}),
		readDone: make(chan struct{}),
	}
	go e.reader()
	go e.writer()
	return e
}

// Dead is closed when the port failed or was closed; Err says why.
func (e *engine) Dead() <-chan struct{} { return e.dead }

// Err is the reason the engine died.
func (e *engine) Err() error {
	select {
	case <-e.dead:
		return e.deadErr
	default:
		return nil
	}
}

func (e *engine) die(err error) {
	e.deadOnce.Do(func() {
		e.deadErr = err
		close(e.dead)
	})
}

// Close closes the port and waits for the reader to stop.
func (e *engine) Close() error {
	e.die(fmt.Errorf("%w: closed by the driver", ErrPortClosed))
	err := e.p.Close()
	<-e.readDone
	return err
}

func (e *engine) reader() {
	defer close(e.readDone)
	buf := make([]byte, 1024)
	var lr lineReader
	for {
		n, err := e.p.Read(buf)
		if n > 0 {
			e.lastRx.Store(time.Now().UnixNano())
			lr.Feed(buf[:n], e.line)
		}
		if err != nil {
			e.die(fmt.Errorf("%w: read: %v", ErrPortClosed, err))
			return
		}
		// n == 0 with no error is a read timeout: keep reading.
	}
}

func (e *engine) writer() {
	for {
		select {
		case b := <-e.wq:
			if _, err := e.p.Write(b); err != nil {
				e.die(fmt.Errorf("%w: write: %v", ErrPortClosed, err))
				return
			}
		case <-e.dead:
			return
		}
	}
}

func isFinal(s string) bool {
	return s == "OK" || s == "ERROR" || strings.HasPrefix(s, "+CME ERROR:") || strings.HasPrefix(s, "+CMS ERROR:")
}

func isCallFinal(s string) bool {
	return callFinalErr(s) != nil
}

// urcPrefixes start unsolicited reports.
var urcPrefixes = []string{
	"+CLIP:", "+CRING:", "+CLCC:", "+CREG:", "+CEREG:", "+CGREG:", "+CSQ:", "+RXDTMF:", "+DTMF:",
	"+QTONEDET:", "+QIND:", "^DSCI:", "VOICE CALL:", "MISSED_CALL:", "+CMTI:", "+CUSD:", "+CPIN:",
	"+CCWA:", "+QNETDEVSTATUS:",
}

// urcWords are whole-line unsolicited reports.
var urcWords = []string{"RING", "RDY", "SMS DONE", "PB DONE", "CALL READY", "SMS READY", "NORMAL POWER DOWN"}

func isURC(s string) bool {
	for _, w := range urcWords {
		if s == w {
			return true
		}
	}
	for _, p := range urcPrefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// isEcho reports a command line echoed back by a modem with echo on.
func isEcho(s string) bool {
	return len(s) >= 2 && (s[0] == 'A' || s[0] == 'a') && (s[1] == 'T' || s[1] == 't')
}

// line routes one line from the modem.
func (e *engine) line(s string) {
	e.mu.Lock()
	r := e.cur
	switch {
	case isEcho(s):
		e.mu.Unlock()
	case isFinal(s) || (isCallFinal(s) && r != nil && r.call):
		if r == nil {
			e.needResync = true
			e.mu.Unlock()
			e.stray(s)
			return
		}
		e.cur = nil
		e.mu.Unlock()
		r.done <- Response{Lines: r.lines, Final: s}
	case s == ">":
		if r != nil && r.data != "" {
			data := r.data
			r.data = ""
			e.mu.Unlock()
			select {
			case e.wq <- []byte(data + "\x1a"):
			default:
				e.log.Warn("modem: write queue full; SMS text not sent")
			}
			return
		}
		e.mu.Unlock()
		e.stray(s)
	case r != nil && r.owns(s):
		r.lines = append(r.lines, s)
		e.mu.Unlock()
	case isURC(s) || isCallFinal(s):
		e.mu.Unlock()
		e.onURC(s)
	case r != nil:
		r.lines = append(r.lines, s)
		e.mu.Unlock()
	default:
		e.mu.Unlock()
		e.stray(s)
	}
}

func (e *engine) stray(s string) {
	if e.m != nil {
		e.m.stray.Inc()
	}
	e.log.Debug("modem: stray line", "line", s)
}

// exec runs one command and waits for its final result, at most timeout.
func (e *engine) exec(ctx context.Context, r *request, timeout time.Duration) (Response, error) {
	select {
	case e.sem <- struct{}{}:
	case <-ctx.Done():
		return Response{}, fmt.Errorf("modem: %s: %w", r.cmd, ctx.Err())
	case <-e.dead:
		return Response{}, fmt.Errorf("modem: %s: %w", r.cmd, e.deadErr)
	}
	defer func() { <-e.sem }()

	e.mu.Lock()
	resync := e.needResync
	e.needResync = false
	e.mu.Unlock()
	if resync {
		if err := e.resync(ctx, timeout); err != nil {
			return Response{}, fmt.Errorf("modem: %s: not sent, the modem is out of step: %w", r.cmd, err)
		}
	}
	return e.roundTrip(ctx, r, timeout)
}

// resync waits for the line to go quiet (a late answer to a timed-out
// command), then checks that a bare AT gets OK, so the next command's
// answer cannot be a previous command's.
func (e *engine) resync(ctx context.Context, timeout time.Duration) error {
	const quiet = 100 * time.Millisecond
	deadline := time.Now().Add(timeout)
	for {
		since := time.Since(time.Unix(0, e.lastRx.Load()))
		if since >= quiet || time.Now().After(deadline) {
			break
		}
		select {
		case <-time.After(quiet - since):
		case <-ctx.Done():
			return ctx.Err()
		case <-e.dead:
			return e.deadErr
		}
	}
	_, err := e.roundTrip(ctx, &request{cmd: "AT"}, timeout)
	if err != nil {
		e.mu.Lock()
		e.needResync = true
		e.mu.Unlock()
	}
	return err
}

// autoPrefix is the information-line prefix of an extended command:
// "AT+CSQ" -> "+CSQ:", "AT^DSCI=1" -> "^DSCI:".
func autoPrefix(cmd string) []string {
	if len(cmd) < 4 || (cmd[2] != '+' && cmd[2] != '^') {
		return nil
	}
	name := cmd[2:]
	if i := strings.IndexAny(name, "=?"); i >= 0 {
		name = name[:i]
	}
	return []string{strings.ToUpper(name) + ":"}
}

func (e *engine) roundTrip(ctx context.Context, r *request, timeout time.Duration) (Response, error) {
	if r.prefixes == nil {
		r.prefixes = autoPrefix(r.cmd)
	}
	r.done = make(chan Response, 1)
	r.lines = nil
	e.mu.Lock()
	e.cur = r
	e.mu.Unlock()
	start := time.Now()
	timer := time.NewTimer(timeout)
	defer timer.Stop()

	abandon := func(err error) (Response, error) {
		e.mu.Lock()
		if e.cur == r {
			e.cur = nil
		}
		e.needResync = true
		e.mu.Unlock()
		if errors.Is(err, ErrTimeout) {
			if e.m != nil {
				e.m.atTimeout.Inc()
			}
			if e.onTimeout != nil {
				e.onTimeout()
			}
		}
		return Response{}, fmt.Errorf("modem: %s: %w", r.cmd, err)
	}

	select {
	case e.wq <- []byte(r.cmd + "\r"):
	case <-timer.C:
		return abandon(fmt.Errorf("%w (%v): the port does not take data", ErrTimeout, timeout))
	case <-ctx.Done():
		return abandon(ctx.Err())
	case <-e.dead:
		return abandon(e.deadErr)
	}
	select {
	case resp := <-r.done:
		if e.m != nil {
			e.m.atSeconds.Observe(time.Since(start).Seconds())
		}
		if resp.Final == "OK" {
			if e.m != nil {
				e.m.atOK.Inc()
			}
			return resp, nil
		}
		if e.m != nil {
			e.m.atError.Inc()
		}
		ae := &ATError{Cmd: r.cmd, Final: resp.Final}
		if strings.HasPrefix(resp.Final, "+CM") {
			ae.Code, ae.Text, _ = parseCMEError(resp.Final)
		}
		return resp, ae
	case <-timer.C:
		return abandon(fmt.Errorf("%w (%v)", ErrTimeout, timeout))
	case <-ctx.Done():
		return abandon(ctx.Err())
	case <-e.dead:
		return abandon(e.deadErr)
	}
}
