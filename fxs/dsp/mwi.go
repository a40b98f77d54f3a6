package dsp

// Visual message waiting indication (VMWI): the on-hook data message that
// sets or clears a telephone's message lamp or display.
//
// MDMF (ETSI EN 300 659-3 and Bellcore): message type 0x82 with the
// visual indicator parameter 0x0B (0xFF sets, 0x00 clears) and, where the
// network says it, the number of messages (0x13) and the date and time;
// Bellcore SDMF: message type 0x06 with three bytes 0x42 (set) or 0x6F
// (clear). Type and parameter codes as spandsp's adsi.h names them
// (CLIP_MDMF_MSG_WAITING, CLIP_VISUAL_INDICATOR, CLIP_NUM_MSG,
// CLASS_SDMF_MSG_WAITING); the layouts as Asterisk's vmwi_generate
// (main/callerid.c) sends them.

import (
	"errors"
	"fmt"
	"time"
)

// Message waiting message and parameter types.
const (
	MsgMessageWaiting     = 0x82 // MDMF message waiting (ETSI, Bellcore)
	MsgSDMFMessageWaiting = 0x06 // Bellcore SDMF message waiting

	ParamVisualIndicator = 0x0B
	ParamMessageCount    = 0x13
)

// SDMF message waiting bytes.
const (
	sdmfMWIOn  = 0x42
	sdmfMWIOff = 0x6F
)

// MessageWaiting is what a visual message waiting message says.
type MessageWaiting struct {
	// Active sets the lamp (messages wait); false clears it.
	Active bool
	// Messages is the number of messages waiting, sent when 1-255 (MDMF
	// only); 0 sends none.
	Messages int
	// Time, when set, is sent as MMDDHHMM (MDMF only).
	Time time.Time
}

// MDMF builds the complete message type 0x82, checksum included.
func (m MessageWaiting) MDMF() ([]byte, error) {
	if m.Messages < 0 || m.Messages > 255 {
		return nil, fmt.Errorf("message waiting: %d messages does not fit the one-byte count (0-255)", m.Messages)
	}
	b := make([]byte, 2, 2+10+3+3+1)
	b[0] = MsgMessageWaiting
	if !m.Time.IsZero() {
		b = append(b, ParamDateTime, 8)
		b = appendDateTime(b, m.Time)
	}
	vi := byte(0x00)
	if m.Active {
		vi = 0xFF
	}
	b = append(b, ParamVisualIndicator, 1, vi)
	if m.Active && m.Messages > 0 {
		b = append(b, ParamMessageCount, 1, byte(m.Messages))
	}
	return finish(b), nil
}

// SDMF builds the Bellcore single data message type 0x06.
func (m MessageWaiting) SDMF() ([]byte, error) {
	v := byte(sdmfMWIOff)
	if m.Active {
		v = sdmfMWIOn
	}
	return finish([]byte{MsgSDMFMessageWaiting, 0, v, v, v}), nil
}

// ParseMessageWaiting decodes a complete MDMF 0x82 or SDMF 0x06 message,
// checksum included. Unknown MDMF parameters are skipped.
func ParseMessageWaiting(msg []byte) (MessageWaiting, error) {
	var m MessageWaiting
	if len(msg) < 3 {
		return m, fmt.Errorf("message waiting: message of %d bytes is too short (type, length and checksum are 3)", len(msg))
	}
	if n := int(msg[1]); n+3 != len(msg) {
		return m, fmt.Errorf("message waiting: length byte says %d bytes of parameters but %d are there", n, len(msg)-3)
	}
	var sum byte
	for _, b := range msg {
		sum += b
	}
	if sum != 0 {
		return m, fmt.Errorf("message waiting: checksum %#02x does not match: corrupted", msg[len(msg)-1])
	}
	body := msg[2 : len(msg)-1]
	switch msg[0] {
	case MsgSDMFMessageWaiting:
		if len(body) != 3 || body[0] != body[1] || body[1] != body[2] || (body[0] != sdmfMWIOn && body[0] != sdmfMWIOff) {
			return m, fmt.Errorf("message waiting: SDMF body %x is not three 0x42 (on) or three 0x6F (off)", body)
		}
		m.Active = body[0] == sdmfMWIOn
		return m, nil
	case MsgMessageWaiting:
	default:
		return m, fmt.Errorf("message waiting: message type %#02x is not 0x82 (MDMF) or 0x06 (SDMF)", msg[0])
	}
	seen := false
	for len(body) > 0 {
		if len(body) < 2 {
			return MessageWaiting{}, fmt.Errorf("message waiting: parameter %#02x has no length byte", body[0])
		}
		typ, n := body[0], int(body[1])
		if n > len(body)-2 {
			return MessageWaiting{}, fmt.Errorf("message waiting: parameter %#02x says %d bytes but only %d remain", typ, n, len(body)-2)
		}
		v := body[2 : 2+n]
		body = body[2+n:]
		switch typ {
		case ParamVisualIndicator:
			if n != 1 || (v[0] != 0xFF && v[0] != 0x00) {
				return MessageWaiting{}, fmt.Errorf("message waiting: visual indicator %x is not 0xFF (on) or 0x00 (off)", v)
			}
			m.Active, seen = v[0] == 0xFF, true
		case ParamMessageCount:
			if n != 1 {
				return MessageWaiting{}, errors.New("message waiting: the message count is not one byte")
			}
			m.Messages = int(v[0])
		case ParamDateTime:
			t, err := parseDateTime(v)
			if err != nil {
				return MessageWaiting{}, err
			}
			m.Time = t
		}
	}
	if !seen {
		return MessageWaiting{}, errors.New("message waiting: no visual indicator parameter (0x0B)")
	}
	return m, nil
}
