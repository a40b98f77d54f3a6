package sip

// Call transfer by REFER (RFC 3515): the transferor (this line) asks the
// transferee (the peer of a call) to call the transfer target, blind (a
// number) or attended (RFC 5589 7: the target's dialog with us, named by
// Replaces, RFC 3891), and learns the outcome from the NOTIFYs of the
// REFER's implicit subscription (message/sipfrag, RFC 3420).

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
)

// ErrTransferFailed: the transferee refused the REFER, or reported that its
// call to the target failed.
var ErrTransferFailed = errors.New("sip: transfer failed")

// ReferTarget is where a transfer sends the peer: a number (blind) or our
// answered call with the target (attended).
type ReferTarget struct {
	// Number is a number in the registrar's domain, or a sip: URI (blind
	// transfer).
	Number string
	// Replaces is our answered call with the target: the transferee calls
	// the target with Replaces naming that dialog, which the target then
	// ends with us (attended transfer).
	Replaces *Call
}

// notice is one NOTIFY of a transfer: the sipfrag's status and whether the
// subscription ended.
type notice struct {
	status     int
	reason     string
	terminated bool
}

// Refer asks the peer of c to call the target and waits until the peer
// reports the outcome: nil once its call to the target is answered (a 2xx
// sipfrag); an error wrapping ErrTransferFailed when the REFER is refused or
// the call fails; ctx's end otherwise. Every wait is bounded by ctx. The
// call stays up either way: the caller ends it (RFC 5589: the transferor
// sends BYE once the transfer succeeded).
func (c *Call) Refer(ctx context.Context, to ReferTarget) error {
	if c.State() != StateAnswered {
		return ErrNotAnswered
	}
	referTo, err := c.referTo(to)
	if err != nil {
		return err
	}
	u := c.u
	c.svc.reqMu.Lock()
	notes := make(chan notice, 8)
	c.svc.mu.Lock()
	c.svc.notify = notes
	c.svc.mu.Unlock()
	defer func() {
		c.svc.mu.Lock()
		if c.svc.notify == notes {
			c.svc.notify = nil
		}
		c.svc.mu.Unlock()
	}()
	req, err := u.dialogRequest(c, sip.REFER)
	if err != nil {
		c.svc.reqMu.Unlock()
		return fmt.Errorf("%w: REFER: %w", ErrTransferFailed, err)
	}
	req.AppendHeader(sip.NewHeader("Refer-To", referTo))
	req.AppendHeader(sip.NewHeader("Referred-By", "<"+c.localURI()+">"))
	req.AppendHeader(sip.NewHeader("Allow", allowMethods))
	req.AppendHeader(sip.NewHeader("Supported", supportedOptions))
	req.SetBody(nil)
	u.log.Info("transfer: REFER", "port", c.l.cfg.Port, "call", c.CallID, "refer_to", referTo)
	res, err := c.inDialogDo(ctx, req)
	c.svc.reqMu.Unlock()
	if err != nil {
		return fmt.Errorf("%w: REFER: %w", ErrTransferFailed, err)
	}
	if !res.IsSuccess() {
		return fmt.Errorf("%w: REFER: %w", ErrTransferFailed, c.inDialogFailure(res, "REFER"))
	}
	for {
		select {
		case n := <-notes:
			switch {
			case n.status >= 200 && n.status < 300:
				u.log.Info("transfer: the transferee reached the target", "port", c.l.cfg.Port, "call", c.CallID, "sipfrag", n.status)
				return nil
			case n.status >= 300:
				return fmt.Errorf("%w: the transferee's call to the target: %d %s", ErrTransferFailed, n.status, n.reason)
			case n.terminated:
				return fmt.Errorf("%w: the transferee ended the subscription without a final status", ErrTransferFailed)
			}
		case <-ctx.Done():
			return fmt.Errorf("%w: no final NOTIFY: %w", ErrTransferFailed, ctx.Err())
		case <-c.done:
			// The transferee hung up on us: with a transfer under way that
			// is how many UAs say it succeeded without a final NOTIFY.
			return fmt.Errorf("%w: the transferee ended the call before reporting the outcome", ErrTransferFailed)
		}
	}
}

// referTo builds the Refer-To value.
func (c *Call) referTo(to ReferTarget) (string, error) {
	if to.Replaces == nil {
		uri, err := targetURI(to.Number, c.r.domain)
		if err != nil {
			return "", err
		}
		return "<" + uri.String() + ">", nil
	}
	t := to.Replaces
	if t.State() != StateAnswered {
		return "", fmt.Errorf("sip: attended transfer: the target's call is not answered: %w", ErrNotAnswered)
	}
	t.mu.Lock()
	local, remote := t.localTag, t.remoteTag
	t.mu.Unlock()
	// RFC 3891 3: at the target, to-tag is its own tag (our remote tag)
	// and from-tag ours.
	replaces := t.CallID + ";to-tag=" + remote + ";from-tag=" + local
	return "<" + t.remoteURI() + "?Replaces=" + escapeHeaderValue(replaces) + ">", nil
}

// remoteURI is the peer's URI in the dialog (To of our INVITE, From of
// theirs), without parameters.
func (c *Call) remoteURI() string {
	var u sip.Uri
	switch {
	case c.cli != nil:
		u = *c.cli.InviteRequest.To().Address.Clone()
	case c.srv != nil:
		u = *c.srv.InviteRequest.From().Address.Clone()
	}
	u.UriParams, u.Headers = nil, nil
	return u.String()
}

// localURI is our URI in the dialog.
func (c *Call) localURI() string {
	return (&sip.Uri{Scheme: "sip", User: c.l.cfg.Extension, Host: c.r.domain}).String()
}

// escapeHeaderValue escapes a URI header value (RFC 3261 25.1 hvalue):
// unreserved characters and a few marks stay, the rest is %XX.
func escapeHeaderValue(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case 'a' <= ch && ch <= 'z', 'A' <= ch && ch <= 'Z', '0' <= ch && ch <= '9',
			strings.IndexByte("-_.!~*'()[]/:+$", ch) >= 0:
			b.WriteByte(ch)
		default:
			fmt.Fprintf(&b, "%%%02X", ch)
		}
	}
	return b.String()
}

// onReferNotify takes a NOTIFY of Event refer in a call's dialog: the
// progress of our REFER (mwi.go's onNotify dispatches by Event).
func (u *UA) onReferNotify(req *sip.Request, tx sip.ServerTransaction) {
	c := u.lookupCall(req)
	if c == nil {
		u.respond(tx, req, 481, "Subscription Does Not Exist")
		return
	}
	n, err := parseSipfrag(req.Body())
	if err != nil {
		u.log.Info("NOTIFY of a transfer with a bad sipfrag", "call", c.CallID, "err", err)
		u.respond(tx, req, 400, "Bad Request")
		return
	}
	if ss := req.GetHeader("Subscription-State"); ss != nil && strings.HasPrefix(strings.ToLower(strings.TrimSpace(ss.Value())), "terminated") {
		n.terminated = true
	}
	u.respond(tx, req, 200, "OK")
	c.svc.mu.Lock()
	ch := c.svc.notify
	c.svc.mu.Unlock()
	if ch == nil {
		return // a NOTIFY after the transfer was settled
	}
	select {
	case ch <- n:
	case <-time.After(time.Second):
	}
}

// parseSipfrag reads the status line of a message/sipfrag body ("SIP/2.0
// 180 Ringing").
func parseSipfrag(body []byte) (notice, error) {
	line, _, _ := strings.Cut(string(body), "\n")
	line = strings.TrimSpace(line)
	if len(line) > 200 {
		return notice{}, errors.New("status line longer than 200 characters")
	}
	f := strings.SplitN(line, " ", 3)
	if len(f) < 2 || !strings.HasPrefix(f[0], "SIP/") {
		return notice{}, fmt.Errorf("%q is not a SIP status line", line)
	}
	code, err := strconv.Atoi(f[1])
	if err != nil || code < 100 || code > 699 {
		return notice{}, fmt.Errorf("%q has no status code 100-699", line)
	}
	n := notice{status: code}
	if len(f) == 3 {
		n.reason = f[2]
	}
	return n, nil
}
