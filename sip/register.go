package sip

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/google/uuid"
)

// line is one port's registration state.
type line struct {
	cfg   Line
	wake  chan struct{}   // the line's loop ([sip] register = "first")
	wakes []chan struct{} // each binding's loop ([sip] register = "all")

	mu        sync.Mutex
	active    int    // the most preferred registrar bound with, -1 for none
	bound     []bool // bound with registrar i now
	lastErr   error
	callID    []string
	cseq      []uint32
	authUntil []time.Duration // credentials refused: no retry before (the UA's clock)
	authWait  []time.Duration
	skipUntil []time.Duration // no answer / transport error: skip for a while
	boundPort []int           // Contact port of the binding (TLS: the connection's local port)
	// The binding's Contact as registered, the path it went over and that
	// path's epoch then: a binding whose Contact would now differ (the
	// registrar moved to another path, the path's address or the NAT's
	// public one changed) or whose path came back since is renewed at
	// once; the old Contact goes in the renewal with expires=0.
	boundContact []string
	boundVia     []*regPath
	boundEpoch   []int
	minExp       []time.Duration // the registrar's Min-Expires (423), 0: none seen
	calls        int
	failures     failureLog // logs a run of failures once, not every retry
}

func newLine(cfg Line, nRegs int) *line {
	l := &line{cfg: cfg, wake: make(chan struct{}, 1), active: -1, bound: make([]bool, nRegs),
		callID: make([]string, nRegs), cseq: make([]uint32, nRegs),
		authUntil: make([]time.Duration, nRegs), authWait: make([]time.Duration, nRegs),
		skipUntil: make([]time.Duration, nRegs), boundPort: make([]int, nRegs), minExp: make([]time.Duration, nRegs),
		boundContact: make([]string, nRegs), boundVia: make([]*regPath, nRegs), boundEpoch: make([]int, nRegs)}
	for i := range l.callID {
		l.callID[i] = uuid.NewString()
		l.cseq[i] = 1
		l.wakes = append(l.wakes, make(chan struct{}, 1))
	}
	return l
}

// poke wakes the line's loops after a registrar's verdict changed; a
// registrar that came up is no longer skipped.
func (l *line) poke(idx int, up bool) {
	if up {
		l.mu.Lock()
		l.skipUntil[idx] = 0
		l.mu.Unlock()
	}
	for _, ch := range []chan struct{}{l.wake, l.wakes[idx]} {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// setBoundLocked records the binding with registrar i and keeps active the
// most preferred bound registrar. It reports whether anything changed.
func (l *line) setBoundLocked(i int, on bool) bool {
	if l.bound[i] == on {
		return false
	}
	l.bound[i] = on
	l.active = -1
	for j, b := range l.bound {
		if b {
			l.active = j
			break
		}
	}
	return true
}

func (l *line) status(u *UA) LineStatus {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := LineStatus{Port: l.cfg.Port, Extension: l.cfg.Extension, Registered: l.active >= 0, Err: l.lastErr}
	if l.active >= 0 {
		s.Registrar = u.regs[l.active].cfg.Name
	}
	return s
}

// publishBinding reports the line's binding with one registrar (and the
// path it was made over).
func (u *UA) publishBinding(l *line, r *registrar, registered bool, err error) {
	u.m.lineRegistered.WithLabelValues(strconv.Itoa(l.cfg.Port), r.cfg.Name).Set(b2f(registered))
	path := ""
	l.mu.Lock()
	if via := l.boundVia[r.idx]; registered && via != nil {
		path = via.p.cfg.Name
	}
	l.mu.Unlock()
	u.publish(LineStatus{Port: l.cfg.Port, Extension: l.cfg.Extension, Registrar: r.cfg.Name, Registered: registered, Err: err, At: u.clock.Now(), Path: path})
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Bindings returns, per line, whether it is bound with each registrar (in
// ladder order).
func (u *UA) Bindings() map[int][]bool {
	out := map[int][]bool{}
	for _, l := range u.lines {
		l.mu.Lock()
		out[l.cfg.Port] = append([]bool(nil), l.bound...)
		l.mu.Unlock()
	}
	return out
}

// Lines returns every line's registration.
func (u *UA) Lines() []LineStatus {
	out := make([]LineStatus, len(u.lines))
	for i, l := range u.lines {
		out[i] = l.status(u)
	}
	return out
}

// usable reports whether the line may try registrar i now.
func (u *UA) usable(l *line, i int, now time.Duration, allowDown bool) bool {
	l.mu.Lock()
	blocked := now < l.authUntil[i] || now < l.skipUntil[i]
	l.mu.Unlock()
	if blocked {
		return false
	}
	return allowDown || !u.regs[i].isDown()
}

// pick chooses where to register: the first usable registrar that is not
// known to be down, else the first usable one at all.
func (u *UA) pick(l *line, exclude int) int {
	now := u.clock.Now()
	for _, allowDown := range []bool{false, true} {
		for i := range u.regs {
			if i != exclude && u.usable(l, i, now, allowDown) {
				return i
			}
		}
	}
	return -1
}

// better returns a registrar preferred over act that has been up for
// FailbackAfter, or -1.
func (u *UA) better(l *line, act int) int {
	now := u.clock.Now()
	for i := 0; i < act; i++ {
		if u.regs[i].upFor(now) >= u.cfg.FailbackAfter && u.usable(l, i, now, false) {
			return i
		}
	}
	return -1
}

func (l *line) contactPort(i int) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.boundPort[i]
}

func refreshIn(granted time.Duration) time.Duration {
	if granted > 120*time.Second {
		return granted - 60*time.Second
	}
	return max(granted/2, time.Second)
}

// lineLoop keeps one line registered: with the best registrar at start,
// with the next one at once when the active one fails (refresh failure or
// probes), back to a better one when it has been up for FailbackAfter and
// the line is idle. Refused credentials back off, never loop.
func (u *UA) lineLoop(l *line) {
	defer u.wg.Done()
	var refreshAt time.Duration // on the UA's clock
	retry := time.Second
	for u.ctx.Err() == nil {
		now := u.clock.Now()
		l.mu.Lock()
		act, idle := l.active, l.calls == 0
		l.mu.Unlock()
		target := -1
		switch {
		case act < 0:
			target = u.pick(l, -1)
		case u.regs[act].isDown():
			target = u.pick(l, act)
			if target < 0 {
				target = act // nowhere else to go: keep trying it
			}
		case idle && u.better(l, act) >= 0:
			target = u.better(l, act)
		case now >= refreshAt:
			target = act
		case u.regs[act].tp != "UDP" && u.connPort(u.regs[act]) != l.contactPort(act):
			target = act // the connection was re-opened: re-bind to the new one at once
		case u.bindingStale(l, act):
			target = act // another path, a new address: re-bind at once
		}
		if target >= 0 {
			r := u.regs[target]
			l.mu.Lock()
			prevVia := l.boundVia[target]
			l.mu.Unlock()
			granted, err := u.register(l, r)
			if u.ctx.Err() != nil {
				return
			}
			if err == nil {
				l.mu.Lock()
				moved := prevVia != nil && l.boundVia[target] != prevVia
				old := l.active
				if old >= 0 && old != target {
					l.setBoundLocked(old, false)
				}
				l.setBoundLocked(target, true)
				l.lastErr = nil
				l.authWait[target] = 0
				l.mu.Unlock()
				refreshAt = u.clock.Now() + refreshIn(granted)
				retry = time.Second
				l.failures.succeeded(u.log, l.cfg.Port, target, r.cfg.Name)
				if old != target {
					if old >= 0 {
						u.publishBinding(l, u.regs[old], false, nil)
						if !u.regs[old].isDown() {
							u.wg.Add(1)
							go func() { // don't leave a stale binding ringing on the old PBX
								defer u.wg.Done()
								ctx, cancel := context.WithTimeout(u.ctx, u.cfg.RegisterTimeout)
								defer cancel()
								u.doRegister(ctx, l, u.regs[old], 0)
							}()
						}
					}
					u.log.Info("line registered", "port", l.cfg.Port, "extension", l.cfg.Extension, "registrar", r.cfg.Name, "expires", granted)
					u.publishBinding(l, r, true, nil)
				} else if moved {
					u.log.Info("line registered over another path", "port", l.cfg.Port, "extension", l.cfg.Extension, "registrar", r.cfg.Name, "path", r.current().p.cfg.Name)
					u.publishBinding(l, r, true, nil)
				}
				continue
			}
			l.mu.Lock()
			u.registerFailedLocked(l, target, err)
			l.setBoundLocked(target, false)
			l.mu.Unlock()
			u.publishBinding(l, r, false, err)
			if u.pick(l, -1) >= 0 {
				continue // the next rung, at once
			}
			refreshAt = 0
		}
		// Sleep until the refresh, a verdict change, or a periodic check
		// for fail-back / retry.
		wait := retry
		l.mu.Lock()
		registered := l.active >= 0
		l.mu.Unlock()
		if registered {
			wait = refreshAt - u.clock.Now()
			if act > 0 || u.regs[max(act, 0)].tp != "UDP" {
				wait = min(wait, time.Second)
			}
		} else {
			retry = min(2*retry, 30*time.Second)
		}
		t := time.NewTimer(max(wait, 10*time.Millisecond))
		select {
		case <-u.ctx.Done():
			t.Stop()
			return
		case <-l.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// registerFailedLocked books a failed REGISTER: refused credentials back
// off (doubling up to 30 min, never a loop), anything else skips the
// registrar for a while.
func (u *UA) registerFailedLocked(l *line, i int, err error) {
	now := u.clock.Now()
	l.lastErr = err
	r := u.regs[i]
	if errors.Is(err, ErrAuth) {
		w := l.authWait[i]
		if w == 0 {
			w = u.cfg.AuthRetry
		} else {
			w = min(2*w, 30*time.Minute)
		}
		l.authWait[i] = w
		l.authUntil[i] = now + w
		u.log.Error("registrar refused the line's credentials: check the port's extension and password (not retrying in a loop)",
			"port", l.cfg.Port, "extension", l.cfg.Extension, "auth_user", l.cfg.AuthUser, "registrar", r.cfg.Name, "err", err, "next_try", w)
		return
	}
	l.skipUntil[i] = now + max(10*time.Second, u.cfg.ProbeInterval*time.Duration(u.cfg.UpAfter+1))
	l.failures.failed(u.log, l.cfg.Port, i, r.cfg.Name, err)
}

// bindLoop keeps one line bound with one registrar ([sip] register =
// "all": every line with every registrar at once, so each PBX can reach
// the line while the others live): registered at start, refreshed before
// the binding expires, re-registered as soon as the registrar answers
// again after an outage. While the registrar is known down the binding
// counts as lost (the PBX cannot reach the line through it either).
func (u *UA) bindLoop(l *line, i int) {
	defer u.wg.Done()
	r := u.regs[i]
	var refreshAt time.Duration // on the UA's clock
	retry := time.Second
	for u.ctx.Err() == nil {
		now := u.clock.Now()
		l.mu.Lock()
		bound := l.bound[i]
		l.mu.Unlock()
		try := false
		switch {
		case bound && r.isDown():
			l.mu.Lock()
			l.setBoundLocked(i, false)
			l.mu.Unlock()
			u.log.Warn("line binding lost: registrar down", "port", l.cfg.Port, "registrar", r.cfg.Name)
			u.publishBinding(l, r, false, fmt.Errorf("registrar %s: %w", r.cfg.Name, ErrTimeout))
			continue
		case !bound:
			try = u.usable(l, i, now, false)
		case now >= refreshAt:
			try = true
		case r.tp != "UDP" && u.connPort(r) != l.contactPort(i):
			try = true // the connection was re-opened: re-bind to the new one at once
		case u.bindingStale(l, i):
			try = true // another path, a new address: re-bind at once
		}
		if try {
			l.mu.Lock()
			prevVia := l.boundVia[i]
			l.mu.Unlock()
			granted, err := u.register(l, r)
			if u.ctx.Err() != nil {
				return
			}
			l.mu.Lock()
			if err == nil {
				changed := l.setBoundLocked(i, true)
				moved := prevVia != nil && l.boundVia[i] != prevVia
				l.authWait[i] = 0
				l.mu.Unlock()
				refreshAt = u.clock.Now() + refreshIn(granted)
				retry = time.Second
				l.failures.succeeded(u.log, l.cfg.Port, i, r.cfg.Name)
				switch {
				case changed:
					u.log.Info("line registered", "port", l.cfg.Port, "extension", l.cfg.Extension, "registrar", r.cfg.Name, "path", r.current().p.cfg.Name, "expires", granted)
					u.publishBinding(l, r, true, nil)
				case moved:
					u.log.Info("line registered over another path", "port", l.cfg.Port, "extension", l.cfg.Extension, "registrar", r.cfg.Name, "path", r.current().p.cfg.Name)
					u.publishBinding(l, r, true, nil)
				}
				continue
			}
			u.registerFailedLocked(l, i, err)
			l.setBoundLocked(i, false)
			l.mu.Unlock()
			u.publishBinding(l, r, false, err)
			refreshAt = 0
		}
		wait := retry
		l.mu.Lock()
		bound = l.bound[i]
		l.mu.Unlock()
		if bound {
			wait = refreshAt - u.clock.Now()
			if r.tp != "UDP" {
				wait = min(wait, time.Second)
			}
		} else {
			retry = min(2*retry, 30*time.Second)
		}
		t := time.NewTimer(max(wait, 10*time.Millisecond))
		select {
		case <-u.ctx.Done():
			t.Stop()
			return
		case <-l.wakes[i]:
		case <-t.C:
		}
		t.Stop()
	}
}

// register binds the line with r for the configured expiry, or the
// registrar's minimum when it asks for a longer one (423 Interval Too
// Brief with Min-Expires). Each REGISTER transaction (challenge included)
// gets RegisterTimeout.
func (u *UA) register(l *line, r *registrar) (time.Duration, error) {
	l.mu.Lock()
	exp := max(u.cfg.RegisterExpiry, l.minExp[r.idx])
	l.mu.Unlock()
	ctx, cancel := context.WithTimeout(u.ctx, u.cfg.RegisterTimeout)
	granted, err := u.doRegister(ctx, l, r, exp)
	cancel()
	var brief *intervalTooBrief
	if errors.As(err, &brief) && brief.min > exp {
		u.log.Warn("registrar wants a longer registration expiry than [sip] register_expiry: using its minimum",
			"registrar", r.cfg.Name, "asked", exp, "min_expires", brief.min)
		l.mu.Lock()
		l.minExp[r.idx] = brief.min
		l.mu.Unlock()
		ctx, cancel := context.WithTimeout(u.ctx, u.cfg.RegisterTimeout)
		granted, err = u.doRegister(ctx, l, r, brief.min)
		cancel()
	}
	return granted, err
}

// intervalTooBrief is a 423 answer to REGISTER.
type intervalTooBrief struct {
	registrar string
	min       time.Duration
}

func (e *intervalTooBrief) Error() string {
	return fmt.Sprintf("registrar %s: 423 Interval Too Brief (Min-Expires %s)", e.registrar, e.min)
}

// doRegister sends one REGISTER (answering a digest challenge) and returns
// the expiry the registrar granted. expires 0 unregisters.
func (u *UA) doRegister(ctx context.Context, l *line, r *registrar, expires time.Duration) (time.Duration, error) {
	if !u.resolve(r) {
		return 0, fmt.Errorf("registrar %s: %w: %s does not resolve", r.cfg.Name, ErrTransport, r.host)
	}
	via := r.current()
	if r.tp == "TLS" && u.connPort(r) == 0 {
		u.sendProbe(via) // opens the connection our Contact will name
	}
	dest, _, _ := r.destination()
	cli := via.client()
	if cli == nil {
		return 0, fmt.Errorf("registrar %s: %w: no client over path %s", r.cfg.Name, ErrTransport, via.p.cfg.Name)
	}
	via.mu.Lock()
	epoch := via.epoch
	via.mu.Unlock()
	l.mu.Lock()
	callID := l.callID[r.idx]
	l.cseq[r.idx]++
	seq := l.cseq[r.idx]
	old := l.boundContact[r.idx]
	l.mu.Unlock()

	aor := sip.Uri{Scheme: "sip", User: l.cfg.Extension, Host: r.domain}
	req := sip.NewRequest(sip.REGISTER, sip.Uri{Scheme: "sip", Host: r.domain})
	req.SetTransport(r.tp)
	req.SetDestination(dest)
	from := &sip.FromHeader{Address: aor, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(16))
	cid := sip.CallIDHeader(callID)
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: aor, Params: sip.NewParams()})
	contact := u.contact(l, via)
	if expires == 0 && old != "" {
		// Unregister what is registered, wherever we are now.
		var ou sip.Uri
		if sip.ParseUri(old, &ou) == nil {
			contact = &sip.ContactHeader{Address: ou, Params: sip.NewParams()}
		}
	}
	req.AppendHeader(contact)
	if expires > 0 && old != "" && old != contact.Address.String() {
		// The binding over the old path or address goes in the same
		// REGISTER: the registrar must not keep ringing a dead contact.
		var ou sip.Uri
		if sip.ParseUri(old, &ou) == nil {
			oc := &sip.ContactHeader{Address: ou, Params: sip.NewParams()}
			oc.Params.Add("expires", "0")
			req.AppendHeader(oc)
		}
	}
	req.AppendHeader(&cid)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: seq, MethodName: sip.REGISTER})
	req.AppendHeader(sip.NewHeader("Expires", strconv.Itoa(int(expires/time.Second))))
	req.AppendHeader(sip.NewHeader("User-Agent", u.cfg.UserAgent))

	res, err := cli.Do(ctx, req)
	if err == nil && (res.StatusCode == 401 || res.StatusCode == 407) {
		res, err = cli.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: l.cfg.AuthUser, Password: l.cfg.Password})
	}
	if cs := req.CSeq(); cs != nil {
		l.mu.Lock()
		l.cseq[r.idx] = max(l.cseq[r.idx], cs.SeqNo)
		l.mu.Unlock()
	}
	if err != nil {
		return 0, classify(err, r)
	}
	switch {
	case res.StatusCode == 423:
		if h := res.GetHeader("Min-Expires"); h != nil {
			if n, err := strconv.Atoi(strings.TrimSpace(h.Value())); err == nil && n > 0 && n <= 86400 {
				return 0, &intervalTooBrief{registrar: r.cfg.Name, min: time.Duration(n) * time.Second}
			}
		}
		return 0, &StatusError{Code: res.StatusCode, Reason: res.Reason, Registrar: r.cfg.Name}
	case res.StatusCode == 401 || res.StatusCode == 407:
		return 0, fmt.Errorf("registrar %s: %w: challenged again after answering with user %q (%d %s)", r.cfg.Name, ErrAuth, l.cfg.AuthUser, res.StatusCode, res.Reason)
	case res.StatusCode == 403:
		return 0, fmt.Errorf("registrar %s: %w (403 %s)", r.cfg.Name, ErrAuth, res.Reason)
	case res.StatusCode < 200 || res.StatusCode >= 300:
		return 0, &StatusError{Code: res.StatusCode, Reason: res.Reason, Registrar: r.cfg.Name}
	}
	if expires == 0 {
		l.mu.Lock()
		l.boundContact[r.idx], l.boundVia[r.idx] = "", nil
		l.mu.Unlock()
		return 0, nil
	}
	l.mu.Lock()
	l.boundPort[r.idx] = contact.Address.Port
	if r.tp != "UDP" {
		// The connection the binding was made over: a new one (the old
		// died, keepalive.go) means registering again at once.
		l.boundPort[r.idx] = u.connPortOver(via)
	}
	l.boundContact[r.idx], l.boundVia[r.idx], l.boundEpoch[r.idx] = contact.Address.String(), via, epoch
	l.mu.Unlock()
	u.learnPublic(via, res)
	return grantedExpiry(res, contact.Address, expires), nil
}

// bindingStale reports that line l's binding with registrar i no longer
// matches where the registrar reaches us: it is now over another path, our
// address (or the NAT's public one) on the path changed, or the path came
// back since (the NAT's mapping of the old session is gone).
func (u *UA) bindingStale(l *line, i int) bool {
	r := u.regs[i]
	via := r.current()
	l.mu.Lock()
	bound, bvia, bepoch := l.boundContact[i], l.boundVia[i], l.boundEpoch[i]
	l.mu.Unlock()
	if bound == "" {
		return false
	}
	via.mu.Lock()
	epoch := via.epoch
	via.mu.Unlock()
	if bvia != via || bepoch != epoch {
		return true
	}
	return u.contact(l, via).Address.String() != bound
}

// grantedExpiry reads our binding's expiry from a 200 to REGISTER: the
// Contact that is ours, else the first with our user.
func grantedExpiry(res *sip.Response, ours sip.Uri, asked time.Duration) time.Duration {
	exp := func(c *sip.ContactHeader) (time.Duration, bool) {
		if v, ok := c.Params.Get("expires"); ok {
			if n, err := strconv.Atoi(v); err == nil && n > 0 {
				return time.Duration(n) * time.Second, true
			}
		}
		return 0, false
	}
	var byUser time.Duration
	for _, h := range res.GetHeaders("Contact") {
		c, ok := h.(*sip.ContactHeader)
		if !ok || c.Address.User != ours.User {
			continue
		}
		d, ok := exp(c)
		if !ok {
			continue
		}
		if strings.EqualFold(c.Address.Host, ours.Host) && c.Address.Port == ours.Port {
			return d
		}
		if byUser == 0 {
			byUser = d
		}
	}
	if byUser > 0 {
		return byUser
	}
	if h := res.GetHeader("Expires"); h != nil {
		if n, err := strconv.Atoi(h.Value()); err == nil && n > 0 {
			return time.Duration(n) * time.Second
		}
	}
	return asked
}

// contact is the line's Contact towards a registrar over a path: our
// address there (the NAT's public one on a NAT path, once known). Over TLS
// it names our TLS listener when there is one (tlslisten.go; the primary
// path only), else the local end of the connection to the registrar, so
// the registrar reaches the line over that same connection.
func (u *UA) contact(l *line, via *regPath) *sip.ContactHeader {
	r := via.r
	port := via.contactPort()
	switch {
	case r.tp == "TLS" && via.p.idx == 0 && u.tlsPort() > 0:
		port = u.tlsPort() // the PBX may connect to our listener
	case r.tp == "TLS":
		if p := u.connPortOver(via); p > 0 {
			port = p
		}
	}
	uri := sip.Uri{Scheme: "sip", User: l.cfg.Extension, Host: via.advertise().String(), Port: port, UriParams: sip.NewParams()}
	if r.tp != "UDP" {
		uri.UriParams.Add("transport", lower(r.tp))
	}
	return &sip.ContactHeader{Address: uri, Params: sip.NewParams()}
}

// connPort is the local port of the live connection to r over its path
// in use, 0 for none.
func (u *UA) connPort(r *registrar) int { return u.connPortOver(r.current()) }

func (u *UA) connPortOver(via *regPath) int {
	r := via.r
	r.mu.Lock()
	dest := r.dest
	r.mu.Unlock()
	if dest == "" || via.p.ua == nil {
		return 0
	}
	c, err := via.p.ua.TransportLayer().GetConnection(lower(r.tp), dest)
	if err != nil || c == nil {
		return 0
	}
	if a, ok := c.LocalAddr().(interface{ String() string }); ok {
		if ap, err := netip.ParseAddrPort(a.String()); err == nil {
			return int(ap.Port())
		}
	}
	return 0
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 32
		}
	}
	return string(b)
}

// classify maps transaction errors to the package's error values.
func classify(err error, r *registrar) error {
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, sip.ErrTransactionTimeout):
		return fmt.Errorf("registrar %s: %w: %v", r.cfg.Name, ErrTimeout, err)
	case errors.Is(err, context.Canceled), errors.Is(err, sip.ErrTransactionCanceled):
		return fmt.Errorf("registrar %s: %w", r.cfg.Name, ErrCanceled)
	default:
		return fmt.Errorf("registrar %s: %w: %v", r.cfg.Name, ErrTransport, err)
	}
}
