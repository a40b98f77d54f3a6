//go:build spandsp

package referee

/*
#cgo pkg-config: spandsp
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <inttypes.h>
#include <spandsp.h>

typedef struct {
	uint8_t buf[4096];
	int used;
	int lens[64];
	int n;
} fxs_sink_t;

static void fxs_sink_put(void *user_data, const uint8_t *msg, int len) {
	fxs_sink_t *s = (fxs_sink_t *) user_data;
	if (len < 0 || s->n >= 64 || s->used + len > (int) sizeof(s->buf))
		return;
	memcpy(s->buf + s->used, msg, len);
	s->used += len;
	s->lens[s->n++] = len;
}

static adsi_rx_state_t *fxs_new_adsi_rx(int standard, fxs_sink_t *sink) {
	return adsi_rx_init(NULL, standard, fxs_sink_put, sink);
}
*/
import "C"

import "unsafe"

// ADSI standards.
const (
	CLASS = C.ADSI_STANDARD_CLASS // Bellcore, Bell 202
	CLIP  = C.ADSI_STANDARD_CLIP  // ETSI / BT, V.23
)

// CallerIDMessages runs spandsp's adsi_rx for standard over audio and
// returns every message it delivered (type, length, parameters, checksum).
func CallerIDMessages(standard int, audio []int16) [][]byte {
	sink := (*C.fxs_sink_t)(C.calloc(1, C.size_t(unsafe.Sizeof(C.fxs_sink_t{}))))
	defer C.free(unsafe.Pointer(sink))
	s := C.fxs_new_adsi_rx(C.int(standard), sink)
	defer C.adsi_rx_free(s)
	buf := (*C.int16_t)(C.malloc(C.size_t(160 * 2)))
	defer C.free(unsafe.Pointer(buf))
	tmp := unsafe.Slice((*int16)(unsafe.Pointer(buf)), 160)
	for len(audio) > 0 {
		n := copy(tmp, audio)
		audio = audio[n:]
		C.adsi_rx(s, buf, C.int(n))
	}
	var out [][]byte
	off := 0
	for i := 0; i < int(sink.n); i++ {
		l := int(sink.lens[i])
		out = append(out, C.GoBytes(unsafe.Pointer(&sink.buf[off]), C.int(l)))
		off += l
	}
	return out
}

// DTMF renders digits with spandsp's dtmf_tx at levelDBm0 per tone and
// the given timing.
func DTMF(digits string, levelDBm0, onMS, offMS int) []int16 {
	s := C.dtmf_tx_init(nil)
	defer C.dtmf_tx_free(s)
	C.dtmf_tx_set_level(s, C.int(levelDBm0), 0)
	C.dtmf_tx_set_timing(s, C.int(onMS), C.int(offMS))
	cs := C.CString(digits)
	defer C.free(unsafe.Pointer(cs))
	C.dtmf_tx_put(s, cs, C.int(len(digits)))
	buf := (*C.int16_t)(C.malloc(C.size_t(160 * 2)))
	defer C.free(unsafe.Pointer(buf))
	tmp := unsafe.Slice((*int16)(unsafe.Pointer(buf)), 160)
	var out []int16
	for {
		n := int(C.dtmf_tx(s, buf, 160))
		if n <= 0 {
			break
		}
		out = append(out, tmp[:n]...)
	}
	return out
}
