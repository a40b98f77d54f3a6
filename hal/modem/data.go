package modem

// The module's data connection: the second IP path of the board. The
// module is left in a network-device mode (ECM, RNDIS or rmnet/QMI: the
// kernel sees a plain network interface, configured by systemd-networkd)
// and the trunk starts the data call by AT commands on the port it already
// owns, so no second program ever opens the voice AT port. The session is
// queried at every liveness probe (and at once on the module's report of a
// change), and dialled again with a backoff when lost. A connect attempt
// waits while a call exists: the port is shared with voice, and a dial
// must never queue behind a data call being set up.

import (
	"errors"
	"fmt"
	"time"

	"github.com/critline/critline/hal"
)

// Data bearers ([[trunk]] data_bearer).
const (
	// BearerAT: the trunk dials the data call with the variant's command
	// (Quectel AT+QNETDEVCTL, SIMCom AT$QCRMCALL, else AT+CGACT).
	BearerAT = "at"
	// BearerExternal: something else (ModemManager, the module's own
	// auto-connect) brings it up; the trunk only reports it.
	BearerExternal = "external"
)

var _ hal.DataBearer = (*Trunk)(nil)

// dataDialect is how a variant starts, stops and reads its data call.
type dataDialect struct {
	query     string // read the session's state
	prefix    string // its information lines
	connected func(lines []string, cid int) (bool, error)
	connect   string // fmt with the context id
	usbQuery  string // the module's network-device mode; "" none
	usbPrefix string
	callFinal bool // the connect command may end with NO CARRIER (a failed data call)
}

func dataDialectFor(v Variant) dataDialect {
	switch v {
	case Quectel:
		return dataDialect{
			query: "AT+QNETDEVCTL?", prefix: "+QNETDEVCTL:",
			connected: func(lines []string, cid int) (bool, error) {
				for _, l := range lines {
					if ok, err := parseQNETDEVCTL(l, cid); err != nil || ok {
						return ok, err
					}
				}
				return false, nil
			},
			connect:  "AT+QNETDEVCTL=1,%d,1",
			usbQuery: `AT+QCFG="usbnet"`, usbPrefix: "+QCFG:",
		}
	case SIMCom:
		return dataDialect{
			query: "AT$QCRMCALL?", prefix: "$QCRMCALL:",
			connected: func(lines []string, _ int) (bool, error) { return parseQCRMCALL(lines) },
			connect:   "AT$QCRMCALL=1,%d",
			usbQuery:  "AT+CUSBPIDSWITCH?", usbPrefix: "+CUSBPIDSWITCH:",
			callFinal: true,
		}
	}
	return dataDialect{
		query: "AT+CGACT?", prefix: "+CGACT:",
		connected: parseCGACT,
		connect:   "AT+CGACT=1,%d",
		callFinal: true,
	}
}

// dataState is the trunk's data connection (t.mu guards it).
type dataState struct {
	st      hal.DataStatus
	out     chan hal.DataStatus
	next    time.Time // no connect attempt before
	backoff time.Duration
	usbRead bool // the network-device mode was asked this session
	closed  bool // out is closed (Close)
}

func (t *Trunk) dataWanted() bool { return t.cfg.DataBearer == BearerAT }

// initData sets the data connection's first state; called by Open.
func (t *Trunk) initData() {
	t.data.out = make(chan hal.DataStatus, 1)
	t.data.st = hal.DataStatus{State: hal.DataDown, Interface: t.cfg.DataInterface, Bearer: t.cfg.DataBearer,
		Detail: "modem not up yet", Since: time.Now()}
	if t.cfg.DataBearer == BearerExternal {
		t.data.st.State, t.data.st.Detail = hal.DataExternal, "brought up outside critline (ModemManager or the module's auto-connect)"
	}
	t.m.dataUp.Set(0)
}

// DataStatus returns the data connection's state.
func (t *Trunk) DataStatus() hal.DataStatus {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.data.st
}

// DataEvents delivers the data connection's changes (see hal.DataBearer).
func (t *Trunk) DataEvents() <-chan hal.DataStatus { return t.data.out }

// setDataLocked records a new state and reports it.
func (t *Trunk) setDataLocked(state hal.DataState, detail string) {
	d := &t.data.st
	if d.State == state && d.Detail == detail {
		return
	}
	if d.State != state {
		d.Since = time.Now()
		if state == hal.DataUp {
			d.Connects++
		}
		t.log.Info("modem: data connection", "state", state, "was", d.State, "detail", detail, "interface", d.Interface)
	}
	d.State, d.Detail = state, detail
	t.m.dataUp.Set(b2f(state == hal.DataUp))
	if t.data.closed {
		return
	}
	select { // the newest wins
	case <-t.data.out:
	default:
	}
	select {
	case t.data.out <- *d:
	default:
	}
}

// dataLost marks the connection down while the modem is away.
func (t *Trunk) dataLostLocked(why string) {
	if !t.dataWanted() {
		return
	}
	t.data.usbRead = false
	t.setDataLocked(hal.DataDown, why)
}

// kickData asks for a data check at once (a report of a change).
func (t *Trunk) kickData() {
	if !t.dataWanted() {
		return
	}
	select {
	case t.dataKick <- struct{}{}:
	default:
	}
}

// checkData reads the data session and dials it when it is down and may
// be dialled. It runs on the supervisor goroutine.
func (t *Trunk) checkData(eng *engine) {
	if !t.dataWanted() {
		return
	}
	d := dataDialectFor(t.cfg.Variant)
	to := t.cfg.CommandTimeout
	t.mu.Lock()
	usbRead := t.data.usbRead
	t.mu.Unlock()
	if !usbRead && d.usbQuery != "" {
		mode := ""
		if resp, err := eng.exec(t.ctx, &request{cmd: d.usbQuery, prefixes: []string{d.usbPrefix}}, to); err == nil {
			if l, ok := resp.Line(d.usbPrefix); ok {
				if m, err := parseUSBNet(l); err == nil {
					mode = m
				} else {
					t.log.Warn("modem: bad network-device mode report", "err", err)
				}
			}
		}
		t.mu.Lock()
		t.data.usbRead, t.data.st.USBMode = true, mode
		t.mu.Unlock()
		if mode == "rmnet" {
			t.log.Warn("modem: the module is in rmnet/QMI mode: the data interface needs a QMI client or ModemManager (data_bearer = \"external\"); ECM or RNDIS lets critline dial it (see docs/data-path.md)")
		}
	}
	up, err := t.queryData(eng, d)
	if err != nil {
		var ae *ATError
		if errors.As(err, &ae) {
			t.mu.Lock()
			t.setDataLocked(hal.DataDown, "the module refuses "+d.query+": "+ae.Final+" (check variant and the module's network-device mode)")
			t.mu.Unlock()
		}
		return // a timeout: the liveness probe deals with it
	}
	now := time.Now()
	t.mu.Lock()
	if up {
		t.data.backoff = 0
		t.setDataLocked(hal.DataUp, "data call up")
		t.mu.Unlock()
		return
	}
	switch t.data.st.State {
	case hal.DataUp:
		t.setDataLocked(hal.DataDown, "data session lost")
	case hal.DataConnecting:
		if now.Before(t.data.next) {
			t.mu.Unlock()
			return // still being set up
		}
		t.setDataLocked(hal.DataDown, "data call not up after connecting")
	}
	wait := now.Before(t.data.next) || t.callsLocked() > 0
	t.mu.Unlock()
	if wait {
		return
	}
	t.connectData(eng, d)
}

func (t *Trunk) queryData(eng *engine, d dataDialect) (bool, error) {
	resp, err := eng.exec(t.ctx, &request{cmd: d.query, prefixes: []string{d.prefix}}, t.cfg.CommandTimeout)
	if err != nil {
		return false, err
	}
	up, err := d.connected(resp.Lines, t.cfg.DataCID)
	if err != nil {
		t.log.Warn("modem: bad data connection report", "err", err)
		return false, nil
	}
	return up, nil
}

// connectData dials the data call: the context's APN first when one is
// configured, then the variant's connect command.
func (t *Trunk) connectData(eng *engine, d dataDialect) {
	to := t.cfg.DataTimeout
	fail := func(detail string) {
		t.m.dataConnects.WithLabelValues("failed").Inc()
		t.mu.Lock()
		t.data.backoff = min(max(2*t.data.backoff, t.cfg.DataRetryMin), t.cfg.DataRetryMax)
		t.data.next = time.Now().Add(t.data.backoff)
		t.setDataLocked(hal.DataDown, fmt.Sprintf("%s; retrying in %s", detail, t.data.backoff))
		t.mu.Unlock()
	}
	if t.cfg.APN != "" {
		cmd := fmt.Sprintf(`AT+CGDCONT=%d,"IP","%s"`, t.cfg.DataCID, t.cfg.APN)
		if _, err := eng.exec(t.ctx, &request{cmd: cmd}, t.cfg.CommandTimeout); err != nil {
			fail("setting the APN: " + err.Error())
			return
		}
	}
	cmd := fmt.Sprintf(d.connect, t.cfg.DataCID)
	_, err := eng.exec(t.ctx, &request{cmd: cmd, call: d.callFinal, prefixes: []string{d.prefix}}, to)
	if err != nil {
		fail("connecting: " + err.Error())
		return
	}
	t.m.dataConnects.WithLabelValues("ok").Inc()
	up, err := t.queryData(eng, d)
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case err == nil && up:
		t.data.backoff = 0
		t.setDataLocked(hal.DataUp, "data call up")
	default: // an asynchronous connect: the module reports when it is up
		t.data.next = time.Now().Add(to)
		t.setDataLocked(hal.DataConnecting, "connect accepted: "+cmd)
	}
}
