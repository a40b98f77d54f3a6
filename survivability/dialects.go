package survivability

// What the PBX dialects bring to a port: the caller's identity on the
// handset (with the profile's reasons for absence), how a forwarded call
// came, message waiting (dial tone and lamp, the voicemail access code),
// and redirects of our calls followed through the toll-fraud guard.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/critline/critline/control"
	"github.com/critline/critline/fxs"
	"github.com/critline/critline/fxs/dsp"
	"github.com/critline/critline/fxs/profile"
	"github.com/critline/critline/sip"
	"github.com/prometheus/client_golang/prometheus"
)

// maxRedirects bounds the redirects one call follows.
const maxRedirects = 3

// portDialect is a port's identity and message-waiting state; guarded by
// Appliance.mu.
type portDialect struct {
	caller     string // the current inbound call's number, or "withheld" / "unavailable"
	callerName string
	origCalled string // the number first dialled, for a call forwarded to the line
	secure     bool   // the current SIP call's media is SRTP
	inSIP      bool   // the port is in a SIP call (media known)

	mwi        bool
	newMsgs    int
	oldMsgs    int
	account    string // Message-Account URI from the PBX
	accountReg string // the registrar that gave it
}

// dialectMetrics are the appliance's series for message waiting and
// redirects.
type dialectMetrics struct {
	messageWaiting *prometheus.GaugeVec
	redirects      *prometheus.CounterVec
}

func (a *Appliance) initDialects(reg prometheus.Registerer) error {
	a.dm.messageWaiting = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "critline_message_waiting", Help: "1 while the port's voicemail has messages waiting (the PBX's message-summary).",
	}, []string{"port"})
	a.dm.redirects = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "critline_sip_redirects_total",
		Help: "3xx redirects of outbound calls, by what became of them: followed, or refused (no target the toll-fraud guard allows, too many hops, a loop).",
	}, []string{"registrar", "result"})
	for _, c := range []prometheus.Collector{a.dm.messageWaiting, a.dm.redirects} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	for _, id := range a.order {
		a.dm.messageWaiting.WithLabelValues(portLabel(id)).Set(0)
	}
	for _, r := range a.o.Registrars {
		a.dm.redirects.WithLabelValues(r.Name, "followed")
		a.dm.redirects.WithLabelValues(r.Name, "refused")
	}
	return nil
}

// callerID turns the PBX's identity of the caller into what the handset
// shows: the number and name, or the profile's reasons for absence
// (withheld: the caller asked for privacy; unavailable: not known).
func (a *Appliance) callerID(id sip.Identity) dsp.CallerID {
	withheld, unavailable := dsp.Private, dsp.Unavailable
	if w := a.o.Profile.CallerID.Withheld; len(w) == 1 {
		withheld = dsp.Absence(w[0])
	}
	if u := a.o.Profile.CallerID.Unavailable; len(u) == 1 {
		unavailable = dsp.Absence(u[0])
	}
	cid := dsp.CallerID{Time: time.Now()}
	switch {
	case id.Number != "":
		cid.Number = id.Number
	case id.NumberWithheld:
		cid.NumberAbsence = withheld
	default:
		cid.NumberAbsence = unavailable
	}
	switch {
	case id.Name != "":
		cid.Name = id.Name
	case id.NameWithheld || id.NumberWithheld:
		cid.NameAbsence = withheld
	}
	return cid
}

// noteCaller records an inbound call's caller and diversion for status.
func (a *Appliance) noteCaller(portID int, ic *sip.IncomingCall) {
	a.mu.Lock()
	defer a.mu.Unlock()
	p := a.ports[portID]
	if p == nil {
		return
	}
	d := &p.dialect
	switch {
	case ic.Caller.Number != "":
		d.caller = ic.Caller.Number
	case ic.Caller.NumberWithheld:
		d.caller = "withheld"
	default:
		d.caller = "unavailable"
	}
	d.callerName = ic.Caller.Name
	d.origCalled = ""
	if ic.Forwarded {
		d.origCalled = ic.Diverted.OriginalCalled
		a.log.Info("inbound call forwarded to the line", "port", portID, "originally_called", d.origCalled, "reason", ic.Diverted.Reason, "from", ic.Diverted.Source)
	}
}

// noteMedia records whether a SIP call's media is encrypted.
func (a *Appliance) noteMedia(portID int, call *sip.Call) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if p := a.ports[portID]; p != nil {
		p.dialect.inSIP, p.dialect.secure = true, call.Secure()
	}
}

// clearCall forgets the last call's identity (the port went idle).
func (a *Appliance) clearCall(p *port) {
	a.mu.Lock()
	defer a.mu.Unlock()
	p.dialect.caller, p.dialect.callerName, p.dialect.origCalled = "", "", ""
	p.dialect.inSIP, p.dialect.secure = false, false
}

// messageWaiting takes a line's message summary: the port's dial tone and
// lamp follow it.
func (a *Appliance) messageWaiting(e sip.MessageWaiting) {
	p := a.ports[e.Port]
	if p == nil {
		return
	}
	waiting := e.Waiting
	count := max(e.New, 0)
	a.mu.Lock()
	d := &p.dialect
	changed := d.mwi != waiting || d.newMsgs != e.New
	d.mwi, d.newMsgs, d.oldMsgs = waiting, e.New, e.Old
	if e.Account != "" {
		d.account, d.accountReg = e.Account, e.Registrar
	}
	a.mu.Unlock()
	a.dm.messageWaiting.WithLabelValues(portLabel(e.Port)).Set(b2f(waiting))
	p.fx.SetMessageWaiting(waiting, count)
	if changed {
		a.log.Info("message waiting", "port", e.Port, "waiting", waiting, "new", e.New, "old", e.Old, "registrar", e.Registrar)
	}
}

// dialectStatusLocked fills a port's status with its caller, forwarding
// origin, media and message waiting. Called with a.mu held.
func (a *Appliance) dialectStatusLocked(p *port, cp *control.Port) {
	d := p.dialect
	cp.Caller, cp.CallerName, cp.OriginallyCalled = d.caller, d.callerName, d.origCalled
	if d.inSIP {
		cp.Media = "rtp"
		if d.secure {
			cp.Media = "srtp"
		}
	}
	cp.MessageWaiting = d.mwi
	if d.mwi && (d.newMsgs >= 0 || d.oldMsgs >= 0) {
		cp.Messages = fmt.Sprintf("%d new, %d old", max(d.newMsgs, 0), max(d.oldMsgs, 0))
	}
}

// isVoicemail reports whether number is the port's voicemail access code.
func (a *Appliance) isVoicemail(portID int, number string) bool {
	p := a.ports[portID]
	return p != nil && p.opt.Voicemail != "" && number == p.opt.Voicemail
}

// voicemailTarget is where the porter's voicemail call goes: the
// Message-Account the PBX gave with its message summary (RFC 3842), else
// the access code as dialled; only registrars are tried (a trunk's
// voicemail is the mobile network's, not the PBX's). A Message-Account
// naming another number must pass the toll-fraud guard: over UDP a forged
// NOTIFY could otherwise turn the voicemail key into a premium-rate call.
func (a *Appliance) voicemailTarget(portID int, number string) string {
	a.mu.Lock()
	var acct, reg string
	if p := a.ports[portID]; p != nil {
		acct, reg = p.dialect.account, p.dialect.accountReg
	}
	a.mu.Unlock()
	if !strings.HasPrefix(acct, "sip:") && !strings.HasPrefix(acct, "sips:") {
		return number
	}
	n := sip.TargetNumber(acct)
	if n == "" || n == number || a.guard == nil {
		return acct
	}
	if d, err := a.guard.CheckNumber(reg, n); err != nil || !d.Allowed {
		a.log.Warn("voicemail account refused by the toll-fraud guard; dialling the access code instead", "port", portID, "account", acct, "reason", d.Reason, "err", err)
		return number
	}
	return acct
}

// voicemailRungs keeps the registrar rungs of a ladder.
func voicemailRungs(rs []rung) []rung {
	var out []rung
	for _, r := range rs {
		if r.kind() == RungRegistrar {
			out = append(out, r)
		}
	}
	return out
}

// errRedirectRefused: a redirect none of whose targets may be followed.
var errRedirectRefused = errors.New("redirect not followed")

// redirector follows one call's 3xx redirects (300, 301, 302: RFC 3261
// 8.1.3.4; 305 and 380 are not followed): at most maxRedirects hops,
// never to a target already tried, every target screened by the
// toll-fraud guard as if the call left by a route named after the
// registrar. The porter hears ringback throughout.
type redirector struct {
	r      *sipRung
	port   int
	number string
	tried  map[string]bool
	hops   int
}

func newRedirector(r *sipRung, portID int, number string) *redirector {
	return &redirector{r: r, port: portID, number: number, tried: map[string]bool{number: true}}
}

// next picks the target to follow for a failed attempt's error: ok false
// when err is not a redirect; a redirect that cannot be followed gives an
// error wrapping errRedirectRefused and the 3xx.
func (rd *redirector) next(err error) (target string, ok bool, rerr error) {
	a := rd.r.a
	var se *sip.StatusError
	if !errors.As(err, &se) || se.Code < 300 || se.Code > 302 {
		return "", false, nil
	}
	if rd.hops >= maxRedirects {
		a.redirectCounted(rd.r.registrar, "refused")
		a.log.Warn("redirect not followed: too many hops", "port", rd.port, "number", rd.number, "registrar", rd.r.registrar, "hops", rd.hops)
		return "", true, fmt.Errorf("%w: more than %d redirects: %w", errRedirectRefused, maxRedirects, err)
	}
	why := "no target"
	for _, t := range se.Targets {
		n := sip.TargetNumber(t)
		if n == "" {
			why = "a target that is not a telephone number"
			continue
		}
		if rd.tried[n] { // by number: sip:N@pbx, tel:N and N are one target
			why = "a loop"
			continue
		}
		if !a.isEmergency(n) && a.guard != nil {
			d, gerr := a.guard.Check(rd.r.registrar, n)
			if gerr != nil || !d.Allowed {
				why = fmt.Sprintf("%s barred by the toll-fraud guard (%s)", n, d.Reason)
				a.log.Warn("redirect target refused by the toll-fraud guard", "port", rd.port, "number", rd.number, "target", t, "reason", d.Reason, "err", gerr)
				continue
			}
		}
		rd.tried[n] = true
		rd.hops++
		a.redirectCounted(rd.r.registrar, "followed")
		a.log.Info("call redirected; following", "port", rd.port, "number", rd.number, "to", t, "registrar", rd.r.registrar, "code", se.Code)
		return t, true, nil
	}
	a.redirectCounted(rd.r.registrar, "refused")
	return "", true, fmt.Errorf("%w: %d %s with %s: %w", errRedirectRefused, se.Code, se.Reason, why, err)
}

// dial places the call, following redirects that come before it rings.
func (rd *redirector) dial(ctx context.Context, target string, at *attempt) (*sip.Call, error) {
	for {
		call, err := rd.r.a.sip.Dial(ctx, rd.port, target, sip.DialOptions{Registrar: rd.r.registrar})
		if err == nil {
			return call, nil
		}
		next, redirected, rerr := rd.next(err)
		switch {
		case !redirected:
			return nil, err
		case rerr != nil:
			return nil, rerr
		}
		at.update(fxs.CallUpdate{State: fxs.CallAlerting, Detail: "redirected to " + next})
		target = next
	}
}

// redirectCounted counts a redirect's outcome.
func (a *Appliance) redirectCounted(registrar, result string) {
	if a.dm.redirects != nil {
		a.dm.redirects.WithLabelValues(registrar, result).Inc()
	}
}

// withVoicemail is the port's dial plan with its voicemail access code in
// front, so dialling the code completes the number at once.
func withVoicemail(po PortOptions, prof *profile.Profile) string {
	plan := po.DialPlan
	if strings.TrimSpace(plan) == "" {
		plan = prof.Dialling.Plan
	}
	if po.Voicemail == "" {
		return plan
	}
	return po.Voicemail + "|" + plan
}
