package sip

// Requests critline sends inside a call's dialog (RFC 3261 12.2.1): PRACK,
// UPDATE, re-INVITE, BYE and any later one. They are built from the
// dialog's own state with the call's own CSeq counter. sipgo's dialog
// sessions are used for the INVITE transaction, the ACK of its 2xx and the
// first 2xx's retransmissions only: their CSeq counter knows nothing of
// the other requests (a PRACK would make the ACK carry the PRACK's number),
// so every other in-dialog request goes through newInDialog and
// doInDialog. Anything else that sends in a dialog (hold, transfer) must
// use them too, or CSeqs collide.

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// dialogState is what it takes to send a request in a call's dialog.
// Guarded by Call.mu.
type dialogState struct {
	ok        bool
	local     sip.Uri // our URI (From of our requests), without tag
	remote    sip.Uri // the peer's URI (To of our requests), without tag
	target    sip.Uri // the peer's Contact: the Request-URI
	routes    []string
	cseq      uint32 // the last CSeq number we used
	transport string
	remoteTag string // the peer's tag (an early dialog's, before the 2xx)
}

// setDialogUAS sets the dialog of an inbound call from its INVITE (we are
// the UAS): the route set is the INVITE's Record-Route in order.
func (c *Call) setDialogUAS(req *sip.Request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	d := &c.dlg
	d.ok = true
	d.local, d.remote = req.To().Address, req.From().Address
	d.target = req.Recipient // overwritten by the Contact below
	if ct := req.Contact(); ct != nil {
		d.target = ct.Address
	}
	d.routes = nil
	for _, h := range req.GetHeaders("Record-Route") {
		d.routes = append(d.routes, h.Value())
	}
	d.cseq = 1 + rand.Uint32N(1<<20) // our own numbering starts anywhere
	d.transport = req.Transport()
	d.remoteTag, _ = req.From().Params.Get("tag")
}

// setDialogUAC sets (or updates, for an early dialog that is confirmed
// by the 2xx) the dialog of an outbound call from a response with a
// To-tag: the route set is its Record-Route reversed.
func (c *Call) setDialogUAC(inv *sip.Request, res *sip.Response) {
	c.mu.Lock()
	defer c.mu.Unlock()
	d := &c.dlg
	d.ok = true
	d.local, d.remote = inv.From().Address, res.To().Address
	d.target = inv.Recipient
	if ct := res.Contact(); ct != nil {
		d.target = ct.Address
	}
	d.routes = nil
	rr := res.GetHeaders("Record-Route")
	for i := len(rr) - 1; i >= 0; i-- {
		d.routes = append(d.routes, rr[i].Value())
	}
	if s := inv.CSeq().SeqNo; s > d.cseq {
		d.cseq = s // the INVITE's own number (a challenge may have raised it)
	}
	d.transport = inv.Transport()
	d.remoteTag = toTag(res)
}

// refreshTarget takes a new remote target from a target refresh request
// (re-INVITE, UPDATE) of the peer.
func (c *Call) refreshTarget(req *sip.Request) {
	ct := req.Contact()
	if ct == nil {
		return
	}
	c.mu.Lock()
	if c.dlg.ok {
		c.dlg.target = ct.Address
	}
	c.mu.Unlock()
}

// errNoDialog: the call has no dialog yet (nothing answered or ringing).
var errNoDialog = errors.New("sip: the call has no dialog yet")

// newInDialog builds a request of method m in the call's dialog with the
// next CSeq.
func (u *UA) newInDialog(c *Call, m sip.RequestMethod) (*sip.Request, error) {
	c.mu.Lock()
	d := c.dlg
	if !d.ok {
		c.mu.Unlock()
		return nil, errNoDialog
	}
	if m != sip.ACK && m != sip.CANCEL {
		c.dlg.cseq++
		d.cseq = c.dlg.cseq
	}
	local, remote := c.localTag, d.remoteTag
	c.mu.Unlock()
	req := sip.NewRequest(m, *d.target.Clone())
	for _, rt := range d.routes {
		req.AppendHeader(sip.NewHeader("Route", rt))
	}
	from := &sip.FromHeader{Address: *d.local.Clone(), Params: sip.NewParams()}
	from.Params.Add("tag", local)
	to := &sip.ToHeader{Address: *d.remote.Clone(), Params: sip.NewParams()}
	to.Params.Add("tag", remote)
	cid := sip.CallIDHeader(c.CallID)
	req.AppendHeader(from)
	req.AppendHeader(to)
	req.AppendHeader(&cid)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: d.cseq, MethodName: m})
	mf := sip.MaxForwardsHeader(70)
	req.AppendHeader(&mf)
	req.AppendHeader(u.contact(c.l, c.path()))
	req.AppendHeader(sip.NewHeader("User-Agent", u.cfg.UserAgent))
	req.SetBody(nil)
	if d.transport != "" {
		req.SetTransport(d.transport)
	}
	if len(d.routes) == 0 {
		// No proxy in the path: the PBX itself is the target. Send it
		// where the registrar is when the target names no port of its own.
		if dest, _, ok := c.r.destination(); ok && d.target.Port == 0 {
			req.SetDestination(dest)
		}
	}
	c.fromListener(req)
	return req, nil
}

// doInDialog sends an in-dialog request and waits for its final response,
// answering one digest challenge with the line's credentials. ACK is not
// for here (it has no response).
func (u *UA) doInDialog(ctx context.Context, c *Call, req *sip.Request) (*sip.Response, error) {
	res, err := u.inDialogOnce(ctx, c, req)
	if err != nil || (res.StatusCode != 401 && res.StatusCode != 407) {
		return res, err
	}
	// A PBX may challenge in-dialog requests too (Asterisk does for
	// re-INVITE when configured to). Same request, next CSeq, new branch.
	c.mu.Lock()
	c.dlg.cseq++
	seq := c.dlg.cseq
	c.mu.Unlock()
	req.CSeq().SeqNo = seq - 1 // DoDigestAuth adds one, removes the Via and sends it again
	return c.client().DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: c.l.cfg.AuthUser, Password: c.l.cfg.Password})
}

func (u *UA) inDialogOnce(ctx context.Context, c *Call, req *sip.Request) (*sip.Response, error) {
	tx, err := c.client().TransactionRequest(ctx, req, sipgo.ClientRequestAddVia)
	if err != nil {
		return nil, fmt.Errorf("registrar %s: %w: %s: %v", c.r.cfg.Name, ErrTransport, req.Method, err)
	}
	defer tx.Terminate()
	for {
		select {
		case res := <-tx.Responses():
			if res.IsProvisional() {
				continue
			}
			return res, nil
		case <-tx.Done():
			if err := tx.Err(); err != nil {
				return nil, classify(err, c.r)
			}
			return nil, fmt.Errorf("registrar %s: %w: %s got no response", c.r.cfg.Name, ErrTimeout, req.Method)
		case <-ctx.Done():
			return nil, classify(ctx.Err(), c.r)
		}
	}
}

// byeInDialog ends an answered call's dialog with our own BYE.
func (u *UA) byeInDialog(ctx context.Context, c *Call, reason string) error {
	bye, err := u.newInDialog(c, sip.BYE)
	if err != nil {
		return err
	}
	if reason != "" {
		bye.AppendHeader(sip.NewHeader("Reason", reason))
	}
	res, err := u.doInDialog(ctx, c, bye)
	if err != nil {
		return err
	}
	if !res.IsSuccess() && res.StatusCode != 481 {
		return &StatusError{Code: res.StatusCode, Reason: res.Reason, Registrar: c.r.cfg.Name}
	}
	return nil
}
