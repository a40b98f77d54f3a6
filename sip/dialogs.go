package sip

// The calls in progress on stable storage: a daemon killed in a call
// (SIGKILL, a crash, a power cut with the PBX on another supply) would
// otherwise leave the far end connected to nobody until it gave up by
// itself. The next run reads what the previous one left and ends each of
// those dialogs with BYE.

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"slices"
	"strconv"
	"sync"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// DialogStore keeps the dialogs of the calls in progress across restarts.
// Load fills v from the last Save (an error wrapping fs.ErrNotExist when
// nothing was saved); Save replaces it durably. A
// survivability/store.File fits.
type DialogStore interface {
	Load(v any) error
	Save(v any) error
}

// dialogRecord is what it takes to send a BYE in a dialog.
type dialogRecord struct {
	Port      int      `json:"port"`
	Registrar string   `json:"registrar"`
	CallID    string   `json:"call_id"`
	LocalURI  string   `json:"local_uri"`
	LocalTag  string   `json:"local_tag"`
	RemoteURI string   `json:"remote_uri"`
	RemoteTag string   `json:"remote_tag"`
	Target    string   `json:"target"` // the peer's Contact
	Routes    []string `json:"routes,omitempty"`
	CSeq      uint32   `json:"cseq"` // the last CSeq we used in the dialog
	Transport string   `json:"transport"`
	Path      string   `json:"path,omitempty"` // the network path it was carried over
}

// savedDialogs is the store's payload.
type savedDialogs struct {
	Dialogs []dialogRecord `json:"dialogs"`
}

// dialogBook holds the live dialogs and writes them, coalescing changes,
// on its own goroutine: calls never wait for the disk.
type dialogBook struct {
	store DialogStore
	log   *slog.Logger
	mu    sync.Mutex
	live  map[string]dialogRecord
	dirty chan struct{}
	stop  chan struct{}
	done  chan struct{}
}

func (b *dialogBook) start(store DialogStore, u *UA) {
	b.store, b.log = store, u.log
	b.live = map[string]dialogRecord{}
	b.dirty = make(chan struct{}, 1)
	b.stop = make(chan struct{})
	b.done = make(chan struct{})
	go func() {
		defer close(b.done)
		for {
			select {
			case <-b.dirty:
				b.save()
			case <-b.stop:
				b.save()
				return
			}
		}
	}()
}

func (b *dialogBook) save() {
	b.mu.Lock()
	recs := make([]dialogRecord, 0, len(b.live))
	for _, r := range b.live {
		recs = append(recs, r)
	}
	b.mu.Unlock()
	slices.SortFunc(recs, func(a, c dialogRecord) int { return a.Port - c.Port })
	if err := b.store.Save(savedDialogs{Dialogs: recs}); err != nil {
		b.log.Warn("calls in progress not saved: a crash now would leave their far ends connected", "err", err)
	}
}

func (b *dialogBook) set(id string, r *dialogRecord) {
	if b.store == nil {
		return
	}
	b.mu.Lock()
	_, had := b.live[id]
	if r != nil {
		b.live[id] = *r
	} else {
		delete(b.live, id)
	}
	b.mu.Unlock()
	if r == nil && !had {
		return
	}
	select {
	case b.dirty <- struct{}{}:
	default:
	}
}

func (b *dialogBook) close() {
	if b.store == nil {
		return
	}
	close(b.stop)
	<-b.done
}

// keepDialog records an answered call's dialog.
func (u *UA) keepDialog(c *Call) {
	if u.cfg.Dialogs == nil {
		return
	}
	r := dialogRecord{Port: c.l.cfg.Port, Registrar: c.r.cfg.Name, CallID: c.CallID, LocalTag: c.localTag, RemoteTag: c.remoteTag, Path: c.Path()}
	switch {
	case c.srv != nil:
		inv := c.srv.InviteRequest
		r.LocalURI, r.RemoteURI = inv.To().Address.String(), inv.From().Address.String()
		if ct := inv.Contact(); ct != nil {
			r.Target = ct.Address.String()
		}
		for _, h := range inv.GetHeaders("Record-Route") {
			r.Routes = append(r.Routes, h.Value())
		}
		r.CSeq = inv.CSeq().SeqNo
		r.Transport = inv.Transport()
	case c.cli != nil && c.cli.InviteResponse != nil:
		inv, res := c.cli.InviteRequest, c.cli.InviteResponse
		r.LocalURI, r.RemoteURI = inv.From().Address.String(), res.To().Address.String()
		r.Target = inv.Recipient.String()
		if ct := res.Contact(); ct != nil {
			r.Target = ct.Address.String()
		}
		rr := res.GetHeaders("Record-Route")
		for i := len(rr) - 1; i >= 0; i-- {
			r.Routes = append(r.Routes, rr[i].Value())
		}
		r.CSeq = inv.CSeq().SeqNo
		r.Transport = inv.Transport()
	default:
		return
	}
	u.dlg.set(dialogKey(c), &r)
}

// forgetDialog drops an ended call's dialog.
func (u *UA) forgetDialog(c *Call) { u.dlg.set(dialogKey(c), nil) }

// dialogKey names a dialog in the book: its Call-ID and our tag (a call
// between two of our own lines through a proxying PBX has two dialogs with
// one Call-ID).
func dialogKey(c *Call) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.CallID + ";" + c.localTag
}

// endLeftovers reads the dialogs the previous run left up, starts the
// book for this run and ends each leftover with BYE in the background.
func (u *UA) endLeftovers() {
	if u.cfg.Dialogs == nil {
		return
	}
	var prev savedDialogs
	err := u.cfg.Dialogs.Load(&prev)
	u.dlg.start(u.cfg.Dialogs, u)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return
	case err != nil:
		u.log.Warn("calls left up by the previous run cannot be read; their far ends are not told", "err", err)
		return
	}
	if len(prev.Dialogs) == 0 {
		return
	}
	select { // this run starts with none: save that
	case u.dlg.dirty <- struct{}{}:
	default:
	}
	for _, d := range prev.Dialogs {
		u.log.Warn("ending a call the previous run left up (the daemon stopped in a call)", "port", d.Port, "registrar", d.Registrar, "call", d.CallID)
		u.background(func(ctx context.Context) {
			if err := u.byeLeftover(ctx, d); err != nil {
				u.log.Warn("call left up by the previous run not ended", "port", d.Port, "call", d.CallID, "err", err)
				return
			}
			u.m.leftoversEnded.Inc()
		})
	}
}

// byeLeftover sends a BYE in a saved dialog and waits for its answer.
func (u *UA) byeLeftover(ctx context.Context, d dialogRecord) error {
	var r *registrar
	for _, x := range u.regs {
		if x.cfg.Name == d.Registrar {
			r = x
		}
	}
	if r == nil {
		return fmt.Errorf("registrar %q is no longer configured", d.Registrar)
	}
	via := r.current()
	if p := u.pathNamed(d.Path); p != nil && r.pathFor(p) != nil {
		via = r.pathFor(p)
	}
	cli := via.client()
	if cli == nil {
		return fmt.Errorf("registrar %q has no client over path %s", d.Registrar, via.p.cfg.Name)
	}
	var target, local, remote sip.Uri
	if err := sip.ParseUri(d.Target, &target); err != nil {
		return fmt.Errorf("saved target %q: %w", d.Target, err)
	}
	if err := sip.ParseUri(d.LocalURI, &local); err != nil {
		return fmt.Errorf("saved local URI %q: %w", d.LocalURI, err)
	}
	if err := sip.ParseUri(d.RemoteURI, &remote); err != nil {
		return fmt.Errorf("saved remote URI %q: %w", d.RemoteURI, err)
	}
	bye := sip.NewRequest(sip.BYE, target)
	for _, rt := range d.Routes {
		bye.AppendHeader(sip.NewHeader("Route", rt))
	}
	from := &sip.FromHeader{Address: local, Params: sip.NewParams()}
	from.Params.Add("tag", d.LocalTag)
	to := &sip.ToHeader{Address: remote, Params: sip.NewParams()}
	to.Params.Add("tag", d.RemoteTag)
	cid := sip.CallIDHeader(d.CallID)
	bye.AppendHeader(from)
	bye.AppendHeader(to)
	bye.AppendHeader(&cid)
	// Any number above those used so far: the previous run may have sent a
	// few in-dialog requests we did not record.
	bye.AppendHeader(&sip.CSeqHeader{SeqNo: d.CSeq + 100, MethodName: sip.BYE})
	mf := sip.MaxForwardsHeader(70)
	bye.AppendHeader(&mf)
	bye.AppendHeader(sip.NewHeader("Reason", `SIP;cause=200;text="critline restarted"`))
	bye.SetBody(nil)
	if d.Transport != "" {
		bye.SetTransport(d.Transport)
	}
	if len(d.Routes) == 0 {
		if dest, _, ok := r.destination(); ok && target.Port == 0 {
			bye.SetDestination(dest)
		}
	}
	via.p.fromListener(bye)
	tx, err := cli.TransactionRequest(ctx, bye, sipgo.ClientRequestAddVia)
	if err != nil {
		return err
	}
	defer tx.Terminate()
	for {
		select {
		case res := <-tx.Responses():
			if res.IsProvisional() {
				continue
			}
			if !res.IsSuccess() && res.StatusCode != 481 {
				return fmt.Errorf("BYE answered %s", strconv.Itoa(res.StatusCode)+" "+res.Reason)
			}
			return nil // 481: the far end had already ended it
		case <-tx.Done():
			return fmt.Errorf("no answer to BYE: %w", tx.Err())
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
