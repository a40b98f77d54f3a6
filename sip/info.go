package sip

// A hook flash passed to the PBX, for PBXs that provide the flash-hook
// services themselves: as RFC 4733 event 16 in the media (the default), or
// in a SIP INFO (RFC 2976) the way analogue adapters send it:
// application/hook-flash "signal=hf" (Cisco SPA and Linksys ATAs, their
// Hook_Flash_MIME_Type), or application/dtmf-relay "Signal=!" (what
// Asterisk's res_pjsip_dtmf_info turns into a flash).

import (
	"context"
	"fmt"
	"time"

	"github.com/emiago/sipgo/sip"
)

// How a line passes a hook flash to the PBX (Line.Flash).
const (
	FlashRFC4733   = "rfc4733"    // RFC 4733 telephone-event 16 in the RTP stream
	FlashInfo      = "sip-info"   // INFO, Content-Type application/hook-flash, "signal=hf"
	FlashDTMFRelay = "dtmf-relay" // INFO, Content-Type application/dtmf-relay, "Signal=!"
)

// infoTimeout bounds an INFO carrying a flash.
const infoTimeout = 8 * time.Second

// flashInfo sends the flash in an INFO, in the background: the port never
// waits for the PBX. A 481 or 408 ends the call.
func (c *Call) flashInfo(method string) error {
	if c.State() != StateAnswered {
		return ErrNotAnswered
	}
	ctype, body := "application/hook-flash", "signal=hf\r\n"
	if method == FlashDTMFRelay {
		ctype = "application/dtmf-relay"
		body = fmt.Sprintf("Signal=!\r\nDuration=%d\r\n", FlashDuration.Milliseconds())
	}
	u := c.u
	u.background(func(ctx context.Context) {
		if c.awaitAck(ctx) != nil { // not ahead of the 2xx the PBX relays
			return
		}
		ctx, cancel := context.WithTimeout(ctx, infoTimeout)
		defer cancel()
		c.svc.reqMu.Lock()
		defer c.svc.reqMu.Unlock()
		req, err := u.dialogRequest(c, sip.INFO)
		if err != nil {
			u.log.Warn("hook flash INFO not sent", "port", c.l.cfg.Port, "call", c.CallID, "err", err)
			return
		}
		req.AppendHeader(sip.NewHeader("Content-Type", ctype))
		req.SetBody([]byte(body))
		res, err := c.inDialogDo(ctx, req)
		switch {
		case err != nil:
			u.log.Warn("hook flash INFO got no answer", "port", c.l.cfg.Port, "call", c.CallID, "err", err)
		case !res.IsSuccess():
			err := c.inDialogFailure(res, "INFO")
			u.log.Warn("hook flash INFO refused by the PBX: set the port's flash to another method", "port", c.l.cfg.Port, "call", c.CallID, "err", err)
		default:
			u.log.Info("hook flash passed to the PBX", "port", c.l.cfg.Port, "call", c.CallID, "method", method)
		}
	})
	return nil
}
