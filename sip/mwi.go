package sip

// Message waiting (RFC 3842): the message-summary event package. Every
// registrar may send a line unsolicited NOTIFYs (Cisco Unified CM does,
// at registration and on every change; Asterisk does for an AOR with
// mailboxes; FreeSWITCH after REGISTER); a registrar with MWISubscribe
// (Asterisk endpoint mailboxes, 3CX, FreeSWITCH) is also sent a SUBSCRIBE
// per line, refreshed before it expires and renewed when it ends. Each
// NOTIFY's summary is published as a MessageWaiting event. NOTIFYs of
// other event packages are passed to a handler registered for them
// (OnNotifyEvent) or refused with 489 Bad Event: a check-sync (Asterisk's
// "reboot the phone") does nothing here.

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// MessageWaiting is a line's message summary as a registrar sent it. It is
// published on every NOTIFY of the message-summary package.
type MessageWaiting struct {
	Port      int
	Registrar string
	// Waiting says messages wait (Messages-Waiting: yes).
	Waiting bool
	// New and Old are the voice messages (Voice-Message: new/old), -1
	// when the summary does not say.
	New, Old int
	// Account is the Message-Account URI (where the voicemail is
	// reached), "" when not given.
	Account string
	// Subscribed says it came in a subscription of ours (else it was
	// unsolicited).
	Subscribed bool
	At         time.Duration
}

func (MessageWaiting) sipEvent() {}

// Limits on message summaries.
const (
	maxSummarySize        = 4 << 10
	mwiSubscribeExpiry    = time.Hour
	mwiRetry              = 30 * time.Second
	maxNotifyEventHandler = 8
)

// Summary is a parsed simple-message-summary body (RFC 3842 5.2).
type Summary struct {
	Waiting  bool
	Account  string
	New, Old int // voice messages; -1 when absent
}

// ParseSummary reads an application/simple-message-summary body.
func ParseSummary(body []byte) (Summary, error) {
	s := Summary{New: -1, Old: -1}
	if len(body) > maxSummarySize {
		return s, fmt.Errorf("message summary of %d bytes is larger than %d", len(body), maxSummarySize)
	}
	seen := false
	for _, line := range strings.Split(string(body), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		name, val, ok := strings.Cut(line, ":")
		if !ok {
			continue // extension lines and headers of messages are free-form
		}
		val = strings.TrimSpace(val)
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "messages-waiting":
			switch strings.ToLower(val) {
			case "yes":
				s.Waiting = true
			case "no":
				s.Waiting = false
			default:
				return s, fmt.Errorf("Messages-Waiting %q is not yes or no", clipStr(val))
			}
			seen = true
		case "message-account":
			if len(val) <= maxValueLen {
				s.Account = val
			}
		case "voice-message":
			n, o, err := parseMessageCounts(val)
			if err != nil {
				return s, err
			}
			s.New, s.Old = n, o
		}
	}
	if !seen {
		return s, errors.New("message summary without Messages-Waiting")
	}
	return s, nil
}

// parseMessageCounts reads "new/old" or "new/old (urgent-new/urgent-old)".
func parseMessageCounts(v string) (int, int, error) {
	v, _, _ = strings.Cut(v, "(")
	a, b, ok := strings.Cut(strings.TrimSpace(v), "/")
	n, err1 := strconv.Atoi(strings.TrimSpace(a))
	o, err2 := strconv.Atoi(strings.TrimSpace(b))
	if !ok || err1 != nil || err2 != nil || n < 0 || o < 0 || n > 1<<20 || o > 1<<20 {
		return 0, 0, fmt.Errorf("Voice-Message %q is not new/old counts", clipStr(v))
	}
	return n, o, nil
}

func clipStr(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// NotifyHandler takes an in-dialog or unsolicited NOTIFY of another event
// package (refer, for a transfer) and answers it.
type NotifyHandler func(req *sip.Request, tx sip.ServerTransaction)

// OnNotifyEvent registers the handler of NOTIFYs whose Event package is
// event (lower case, e.g. "refer"). Call it before Start.
func (u *UA) OnNotifyEvent(event string, h NotifyHandler) {
	u.notifyMu.Lock()
	defer u.notifyMu.Unlock()
	if u.notifyHandlers == nil {
		u.notifyHandlers = map[string]NotifyHandler{}
	}
	if len(u.notifyHandlers) < maxNotifyEventHandler {
		u.notifyHandlers[strings.ToLower(event)] = h
	}
}

// eventPackage is a request's Event header's package (RFC 6665 8.2.1).
func eventPackage(req *sip.Request) string {
	vs := headerValues(req, "Event", "o")
	if len(vs) == 0 {
		return ""
	}
	pkg, _ := headerParams(vs[0])
	return strings.ToLower(pkg)
}

// onNotify takes every NOTIFY (on every path) and dispatches it by its
// Event package: refer, the progress of our transfer in a call's dialog
// (refer.go); message-summary, message waiting (onMWINotify); a package a
// handler was registered for (OnNotifyEvent); anything else gets 489.
func (u *UA) onNotify(req *sip.Request, tx sip.ServerTransaction) {
	switch pkg := eventPackage(req); pkg {
	case "refer":
		u.onReferNotify(req, tx)
	case "message-summary":
		u.onMWINotify(req, tx)
	default:
		u.notifyMu.Lock()
		h := u.notifyHandlers[pkg]
		u.notifyMu.Unlock()
		if h != nil {
			h(req, tx)
			return
		}
		res := sip.NewResponseFromRequest(req, 489, "Bad Event", nil)
		res.AppendHeader(sip.NewHeader("Allow-Events", "message-summary, refer"))
		u.m.requestsRejected.WithLabelValues("489").Inc()
		_ = tx.Respond(res)
	}
}

// onMWINotify takes a message-summary NOTIFY from a registrar.
func (u *UA) onMWINotify(req *sip.Request, tx sip.ServerTransaction) {
	l := u.lineFor(req)
	if l == nil {
		u.respond(tx, req, 404, "Not Found")
		return
	}
	r := u.registrarFor(req)
	sub := u.subscriptionFor(l, req)
	if hasTo := req.To() != nil && req.To().Params.Has("tag"); hasTo && sub == nil {
		// In a dialog we do not have: an old subscription, or a guess.
		u.respond(tx, req, 481, "Subscription Does Not Exist")
		return
	}
	state := strings.ToLower(strings.TrimSpace(strings.SplitN(firstValue(req, "Subscription-State"), ";", 2)[0]))
	if len(req.Body()) == 0 {
		// A NOTIFY with no summary: the subscription's state only.
		u.respond(tx, req, 200, "OK")
		if sub != nil && state == "terminated" {
			sub.ended(u)
		}
		return
	}
	s, err := ParseSummary(req.Body())
	if err != nil {
		u.log.Warn("message-summary NOTIFY refused", "port", l.cfg.Port, "registrar", r.cfg.Name, "err", err)
		u.respond(tx, req, 400, "Bad Request")
		return
	}
	u.respond(tx, req, 200, "OK")
	kind := "unsolicited"
	if sub != nil {
		kind = "subscribed"
		if state == "terminated" {
			sub.ended(u)
		}
	}
	u.m.mwiNotifies.WithLabelValues(r.cfg.Name, kind).Inc()
	u.log.Info("message waiting", "port", l.cfg.Port, "registrar", r.cfg.Name, "waiting", s.Waiting, "new", s.New, "old", s.Old, "via", kind)
	u.publish(MessageWaiting{Port: l.cfg.Port, Registrar: r.cfg.Name, Waiting: s.Waiting, New: s.New, Old: s.Old,
		Account: s.Account, Subscribed: sub != nil, At: u.clock.Now()})
}

func firstValue(req *sip.Request, name string) string {
	if h := req.GetHeader(name); h != nil {
		return h.Value()
	}
	return ""
}

// mwiSub is one line's subscription at one registrar.
type mwiSub struct {
	l *line
	r *registrar

	mu        sync.Mutex
	callID    string
	localTag  string
	remoteTag string // the notifier's tag, from the 2xx or the first NOTIFY
	cseq      uint32
	target    sip.Uri
	routes    []string
	active    bool
	wake      chan struct{}
}

// subscriptionFor finds the subscription a NOTIFY belongs to: our
// Call-ID and From-tag as its To-tag (RFC 6665 4.4.1); the notifier's tag
// is learnt from the first NOTIFY when it beats the 2xx.
func (u *UA) subscriptionFor(l *line, req *sip.Request) *mwiSub {
	id := req.CallID()
	if id == nil || req.To() == nil || req.From() == nil {
		return nil
	}
	toTag, _ := req.To().Params.Get("tag")
	fromTag, _ := req.From().Params.Get("tag")
	u.subsMu.Lock()
	defer u.subsMu.Unlock()
	for _, s := range u.mwiSubs {
		if s.l != l {
			continue
		}
		s.mu.Lock()
		match := s.callID == id.Value() && s.localTag == toTag && toTag != ""
		if match && s.remoteTag == "" {
			s.remoteTag = fromTag
		}
		match = match && (s.remoteTag == fromTag)
		s.mu.Unlock()
		if match {
			return s
		}
	}
	return nil
}

// ended notes a terminated subscription; its loop subscribes again.
func (s *mwiSub) ended(u *UA) {
	s.mu.Lock()
	s.active = false
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// startMWI starts a subscription loop per line at every registrar that
// takes SUBSCRIBE for message-summary.
func (u *UA) startMWI() {
	for _, r := range u.regs {
		if !r.cfg.MWISubscribe {
			continue
		}
		for _, l := range u.lines {
			s := &mwiSub{l: l, r: r, wake: make(chan struct{}, 1)}
			u.subsMu.Lock()
			u.mwiSubs = append(u.mwiSubs, s)
			u.subsMu.Unlock()
			u.wg.Add(1)
			go u.mwiLoop(s)
		}
	}
}

// mwiLoop keeps one subscription alive while the line is bound with the
// registrar: subscribe, refresh before expiry, subscribe again after a
// failure or a termination.
func (u *UA) mwiLoop(s *mwiSub) {
	defer u.wg.Done()
	var refreshAt time.Time
	for u.ctx.Err() == nil {
		s.l.mu.Lock()
		bound := s.l.bound[s.r.idx]
		s.l.mu.Unlock()
		s.mu.Lock()
		active := s.active
		s.mu.Unlock()
		wait := mwiRetry
		switch {
		case !bound:
			wait = time.Second // registered first, then subscribed
		case !active || !time.Now().Before(refreshAt):
			granted, err := u.subscribe(s, active)
			if err != nil {
				if u.ctx.Err() != nil {
					return
				}
				u.log.Warn("message-waiting subscription failed; trying again", "port", s.l.cfg.Port, "registrar", s.r.cfg.Name, "err", err, "retry", mwiRetry)
				s.mu.Lock()
				s.active = false
				s.mu.Unlock()
				break
			}
			refreshAt = time.Now().Add(max(granted/2, time.Second))
			wait = time.Until(refreshAt)
		default:
			wait = time.Until(refreshAt)
		}
		t := time.NewTimer(max(wait, 10*time.Millisecond) + rand.N(50*time.Millisecond))
		select {
		case <-u.ctx.Done():
			t.Stop()
			return
		case <-s.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// subscribe sends SUBSCRIBE (a new subscription, or a refresh in its
// dialog) and returns the expiry granted.
func (u *UA) subscribe(s *mwiSub, refresh bool) (time.Duration, error) {
	r, l := s.r, s.l
	if !u.resolve(r) {
		return 0, fmt.Errorf("registrar %s: %w: %s does not resolve", r.cfg.Name, ErrTransport, r.host)
	}
	dest, _, _ := r.destination()
	via := r.current() // the SUBSCRIBE goes over the registrar's path in use
	account := sip.Uri{Scheme: "sip", User: l.cfg.Extension, Host: r.domain}
	if mb := l.cfg.Mailbox; mb != "" {
		if strings.HasPrefix(mb, "sip:") || strings.HasPrefix(mb, "sips:") {
			_ = sip.ParseUri(mb, &account) // validated by Config
		} else {
			account.User = mb
		}
	}
	s.mu.Lock()
	if !refresh || s.callID == "" {
		s.callID = sip.GenerateTagN(24)
		s.localTag = sip.GenerateTagN(16)
		s.remoteTag = ""
		s.cseq = 0
		s.target, s.routes = account, nil
	}
	s.cseq++
	callID, localTag, remoteTag, seq, target, routes := s.callID, s.localTag, s.remoteTag, s.cseq, s.target, s.routes
	s.mu.Unlock()

	req := sip.NewRequest(sip.SUBSCRIBE, *target.Clone())
	for _, rt := range routes {
		req.AppendHeader(sip.NewHeader("Route", rt))
	}
	req.SetTransport(r.tp)
	if len(routes) == 0 {
		req.SetDestination(dest)
	}
	aor := sip.Uri{Scheme: "sip", User: l.cfg.Extension, Host: r.domain}
	from := &sip.FromHeader{Address: aor, Params: sip.NewParams()}
	from.Params.Add("tag", localTag)
	to := &sip.ToHeader{Address: account, Params: sip.NewParams()}
	if refresh && remoteTag != "" {
		to.Params.Add("tag", remoteTag)
	}
	cid := sip.CallIDHeader(callID)
	req.AppendHeader(from)
	req.AppendHeader(to)
	req.AppendHeader(&cid)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: seq, MethodName: sip.SUBSCRIBE})
	req.AppendHeader(u.contact(l, via))
	req.AppendHeader(sip.NewHeader("Event", "message-summary"))
	req.AppendHeader(sip.NewHeader("Accept", "application/simple-message-summary"))
	req.AppendHeader(sip.NewHeader("Expires", strconv.Itoa(int(mwiSubscribeExpiry/time.Second))))
	req.AppendHeader(sip.NewHeader("User-Agent", u.cfg.UserAgent))
	req.AppendHeader(sip.NewHeader("Allow", allowMethods))
	mf := sip.MaxForwardsHeader(70)
	req.AppendHeader(&mf)
	req.SetBody(nil)
	via.p.fromListener(req)

	ctx, cancel := context.WithTimeout(u.ctx, 2*u.cfg.RegisterTimeout)
	defer cancel()
	cli := via.client()
	res, err := cli.Do(ctx, req)
	if err == nil && (res.StatusCode == 401 || res.StatusCode == 407) {
		res, err = cli.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: l.cfg.AuthUser, Password: l.cfg.Password})
	}
	if cs := req.CSeq(); cs != nil {
		s.mu.Lock()
		s.cseq = max(s.cseq, cs.SeqNo)
		s.mu.Unlock()
	}
	if err != nil {
		return 0, classify(err, r)
	}
	if res.StatusCode == 481 && refresh {
		s.mu.Lock()
		s.callID = ""
		s.mu.Unlock()
		return u.subscribe(s, false) // the notifier forgot it: a new one
	}
	if !res.IsSuccess() {
		return 0, &StatusError{Code: res.StatusCode, Reason: res.Reason, Registrar: r.cfg.Name}
	}
	granted := mwiSubscribeExpiry
	if n, _, ok := deltaSeconds(res, "Expires"); ok {
		if n == 0 {
			return 0, fmt.Errorf("registrar %s: subscription refused (Expires: 0)", r.cfg.Name)
		}
		granted = time.Duration(n) * time.Second
	}
	s.mu.Lock()
	if tag := toTag(res); tag != "" && s.remoteTag == "" {
		s.remoteTag = tag
	}
	if ct := res.Contact(); ct != nil {
		s.target = ct.Address
	}
	s.routes = nil
	rr := res.GetHeaders("Record-Route")
	for i := len(rr) - 1; i >= 0; i-- {
		s.routes = append(s.routes, rr[i].Value())
	}
	s.active = true
	s.mu.Unlock()
	if !refresh {
		u.log.Info("subscribed to message waiting", "port", l.cfg.Port, "registrar", r.cfg.Name, "account", account.String(), "expires", granted)
	}
	return granted, nil
}
