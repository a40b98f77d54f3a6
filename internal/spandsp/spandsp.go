//go:build spandsp

package spandsp

/*
#cgo pkg-config: spandsp
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <inttypes.h>
#include <spandsp.h>

// A place for adsi_rx to put what it receives, so no Go callback is needed.
typedef struct {
	uint8_t buf[4096];
	int used;
	int lens[64];
	int n;
} msg_sink_t;

static void sink_put(void *user_data, const uint8_t *msg, int len) {
	msg_sink_t *s = (msg_sink_t *) user_data;
	if (len < 0 || s->n >= 64 || s->used + len > (int) sizeof(s->buf))
		return;
	memcpy(s->buf + s->used, msg, len);
	s->used += len;
	s->lens[s->n++] = len;
}

static adsi_rx_state_t *new_adsi_rx(int standard, msg_sink_t *sink) {
	return adsi_rx_init(NULL, standard, sink_put, sink);
}
*/
import "C"

import (
	"errors"
	"unsafe"
)

// ADSI standards (adsi.h).
const (
	StandardCLASS = C.ADSI_STANDARD_CLASS // Bellcore, Bell 202
	StandardCLIP  = C.ADSI_STANDARD_CLIP  // ETSI / BT, V.23
)

// DTMFRx is spandsp's DTMF receiver.
type DTMFRx struct {
	s   *C.dtmf_rx_state_t
	buf [128]C.char
}

// NewDTMFRx returns a receiver with spandsp's defaults (no dial-tone
// filter, twist 8 dB normal / 4 dB reverse, -42 dBm0 threshold).
func NewDTMFRx() *DTMFRx {
	return &DTMFRx{s: C.dtmf_rx_init(nil, nil, nil)}
}

// Process feeds samples.
func (r *DTMFRx) Process(samples []int16) {
	if len(samples) == 0 {
		return
	}
	C.dtmf_rx(r.s, (*C.int16_t)(unsafe.Pointer(&samples[0])), C.int(len(samples)))
}

// Digits returns (and removes) the digits received so far.
func (r *DTMFRx) Digits() string {
	n := C.dtmf_rx_get(r.s, &r.buf[0], C.int(len(r.buf)-1))
	return C.GoStringN(&r.buf[0], C.int(n))
}

// Close frees the receiver.
func (r *DTMFRx) Close() {
	if r.s != nil {
		C.dtmf_rx_free(r.s)
		r.s = nil
	}
}

// DTMFTx renders digits with spandsp's dtmf_tx: levelDBm0 per tone (the
// low group; twistDB higher for the high group), onMS/offMS timing.
func DTMFTx(digits string, levelDBm0, twistDB, onMS, offMS int) []int16 {
	s := C.dtmf_tx_init(nil)
	defer C.dtmf_tx_free(s)
	C.dtmf_tx_set_level(s, C.int(levelDBm0), C.int(twistDB))
	C.dtmf_tx_set_timing(s, C.int(onMS), C.int(offMS))
	cs := C.CString(digits)
	defer C.free(unsafe.Pointer(cs))
	C.dtmf_tx_put(s, cs, C.int(len(digits)))
	var out []int16
	buf := make([]int16, 160)
	for {
		n := int(C.dtmf_tx(s, (*C.int16_t)(unsafe.Pointer(&buf[0])), C.int(len(buf))))
		if n <= 0 {
			break
		}
		out = append(out, buf[:n]...)
	}
	return out
}

// ADSIRx is spandsp's ADSI (caller ID) receiver.
type ADSIRx struct {
	s    *C.adsi_rx_state_t
	sink *C.msg_sink_t
}

// NewADSIRx returns a receiver for standard.
func NewADSIRx(standard int) *ADSIRx {
	sink := (*C.msg_sink_t)(C.calloc(1, C.size_t(unsafe.Sizeof(C.msg_sink_t{}))))
	return &ADSIRx{s: C.new_adsi_rx(C.int(standard), sink), sink: sink}
}

// Process feeds samples.
func (r *ADSIRx) Process(samples []int16) {
	for len(samples) > 0 {
		n := min(len(samples), 160)
		C.adsi_rx(r.s, (*C.int16_t)(unsafe.Pointer(&samples[0])), C.int(n))
		samples = samples[n:]
	}
}

// Messages returns the messages received so far, as adsi_rx delivered
// them (for CLIP and CLASS: type, length, parameters and checksum).
func (r *ADSIRx) Messages() [][]byte {
	var out [][]byte
	off := 0
	for i := 0; i < int(r.sink.n); i++ {
		l := int(r.sink.lens[i])
		out = append(out, C.GoBytes(unsafe.Pointer(&r.sink.buf[off]), C.int(l)))
		off += l
	}
	return out
}

// Close frees the receiver.
func (r *ADSIRx) Close() {
	if r.s != nil {
		C.adsi_rx_free(r.s)
		C.free(unsafe.Pointer(r.sink))
		r.s, r.sink = nil, nil
	}
}

// ADSITxOptions shapes adsi_tx's output; negative values keep spandsp's
// defaults.
type ADSITxOptions struct {
	Alert                                       bool
	PreambleBits, MarkBits, PostambleBits, Stop int
}

// ADSITx renders msg (a complete message: type, length, parameters,
// checksum) with spandsp's adsi_tx for standard. adsi_tx_put_message wants
// the message without its checksum (it rewrites the length byte and appends
// its own checksum), so the last byte is dropped on the way in.
func ADSITx(standard int, msg []byte, o ADSITxOptions) ([]int16, error) {
	if len(msg) < 3 {
		return nil, errors.New("spandsp: message too short")
	}
	msg = msg[:len(msg)-1]
	s := C.adsi_tx_init(nil, C.int(standard))
	if s == nil {
		return nil, errors.New("spandsp: adsi_tx_init failed")
	}
	defer C.adsi_tx_free(s)
	C.adsi_tx_set_preamble(s, C.int(o.PreambleBits), C.int(o.MarkBits), C.int(o.PostambleBits), C.int(o.Stop))
	if o.Alert {
		C.adsi_tx_send_alert_tone(s)
	}
	cm := C.CBytes(msg)
	defer C.free(cm)
	if n := C.adsi_tx_put_message(s, (*C.uint8_t)(cm), C.int(len(msg))); int(n) != len(msg) {
		return nil, errors.New("spandsp: adsi_tx_put_message refused the message")
	}
	var out []int16
	buf := make([]int16, 160)
	idle := 0
	for idle < 5 {
		n := int(C.adsi_tx(s, (*C.int16_t)(unsafe.Pointer(&buf[0])), C.int(len(buf))))
		if n <= 0 {
			break
		}
		out = append(out, buf[:n]...)
		// adsi_tx keeps producing silence when done; stop after a little.
		silent := true
		for _, v := range buf[:n] {
			if v != 0 {
				silent = false
				break
			}
		}
		if silent && len(out) > 8000 {
			idle++
		}
	}
	return out, nil
}
