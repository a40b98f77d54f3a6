package rtp

// SRTP (RFC 3711) with the SDES suites of RFC 4568: AES_CM_128_HMAC_SHA1_80
// and AES_CM_128_HMAC_SHA1_32, key derivation rate 0, no MKI. Written on the
// standard library's AES and HMAC-SHA1 rather than pulled in (pion/srtp
// brings pion/transport and pion/logging with it, for two suites that are
// a page of code); checked against RFC 3711 appendix B and libsrtp's
// reference packet, and against baresip (libre's SRTP) in the daemon's
// tests.

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
)

// Suite is an SDES crypto suite (RFC 4568 section 6.2).
type Suite string

// The suites critline speaks, in its order of preference.
const (
	SuiteAES128SHA80 Suite = "AES_CM_128_HMAC_SHA1_80"
	SuiteAES128SHA32 Suite = "AES_CM_128_HMAC_SHA1_32"
)

// Suites lists the supported suites, preferred first.
func Suites() []Suite { return []Suite{SuiteAES128SHA80, SuiteAES128SHA32} }

// tagLen is the suite's authentication tag length in bytes.
func (s Suite) tagLen() int {
	if s == SuiteAES128SHA32 {
		return 4
	}
	return 10
}

// Supported reports whether critline speaks the suite.
func (s Suite) Supported() bool { return s == SuiteAES128SHA80 || s == SuiteAES128SHA32 }

// Master key and salt lengths of the AES_CM_128 suites.
const (
	MasterKeyLen  = 16
	MasterSaltLen = 14
	// MasterLen is the length of the inline key of an a=crypto line: key
	// then salt.
	MasterLen = MasterKeyLen + MasterSaltLen
)

// Errors of an SRTP packet that does not pass.
var (
	ErrSRTPAuth   = errors.New("srtp: authentication failed")
	ErrSRTPReplay = errors.New("srtp: replayed or too old")
	ErrSRTPShort  = errors.New("srtp: packet too short")
)

// srtpContext is one direction of one SSRC's SRTP: session keys, rollover
// counter and (receiving) the replay window. It is not safe for
// concurrent use; the stream holds it under its send or receive lock.
type srtpContext struct {
	suite  Suite
	block  cipher.Block
	salt   [14]byte
	mac    hash.Hash
	tagLen int

	// sending: the rollover counter and the last sequence number
	roc     uint32
	lastSeq uint16
	started bool

	// receiving: s_l and the replay window over indexes (RFC 3711 3.3.2)
	ssrc    uint32
	rxInit  bool
	rxROC   uint32
	rxSL    uint16
	rxMax   uint64 // highest index authenticated
	rxMask  uint64 // bit i: index rxMax-i seen
	scratch [20]byte
	ivBuf   [16]byte
	ksBuf   [16]byte
}

// newSRTPContext derives the session keys from a master key and salt
// (MasterLen bytes: key then salt) with key derivation rate 0.
func newSRTPContext(s Suite, master []byte) (*srtpContext, error) {
	if !s.Supported() {
		return nil, fmt.Errorf("srtp: suite %q is not supported: use %s or %s", s, SuiteAES128SHA80, SuiteAES128SHA32)
	}
	if len(master) != MasterLen {
		return nil, fmt.Errorf("srtp: master key and salt are %d bytes, want %d", len(master), MasterLen)
	}
	mk, ms := master[:MasterKeyLen], master[MasterKeyLen:]
	encKey, err := deriveSessionKey(mk, ms, 0x00, 16)
	if err != nil {
		return nil, err
	}
	authKey, err := deriveSessionKey(mk, ms, 0x01, 20)
	if err != nil {
		return nil, err
	}
	salt, err := deriveSessionKey(mk, ms, 0x02, 14)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(encKey)
	if err != nil {
		return nil, fmt.Errorf("srtp: %w", err)
	}
	c := &srtpContext{suite: s, block: block, mac: hmac.New(sha1.New, authKey), tagLen: s.tagLen()}
	copy(c.salt[:], salt)
	return c, nil
}

// deriveSessionKey is RFC 3711 4.3.1 with kdr 0: AES-CM under the master
// key, IV = (label << 48 XOR master salt) << 16.
func deriveSessionKey(masterKey, masterSalt []byte, label byte, n int) ([]byte, error) {
	block, err := aes.NewCipher(masterKey)
	if err != nil {
		return nil, fmt.Errorf("srtp: master key: %w", err)
	}
	var iv [16]byte
	copy(iv[:14], masterSalt)
	iv[7] ^= label
	out := make([]byte, n)
	var ks [16]byte
	for i := 0; i*16 < n; i++ {
		binary.BigEndian.PutUint16(iv[14:], uint16(i))
		block.Encrypt(ks[:], iv[:])
		copy(out[i*16:], ks[:])
	}
	return out, nil
}

// xorKeystream applies the AES-CM keystream of the packet with this SSRC
// and index to b (RFC 3711 4.1.1).
func (c *srtpContext) xorKeystream(b []byte, ssrc uint32, index uint64) {
	iv := &c.ivBuf
	copy(iv[:14], c.salt[:])
	iv[14], iv[15] = 0, 0
	var s [4]byte
	binary.BigEndian.PutUint32(s[:], ssrc)
	for i := range 4 {
		iv[4+i] ^= s[i]
	}
	var x [6]byte
	x[0], x[1] = byte(index>>40), byte(index>>32)
	binary.BigEndian.PutUint32(x[2:], uint32(index))
	for i := range 6 {
		iv[8+i] ^= x[i]
	}
	for ctr := uint16(0); len(b) > 0; ctr++ {
		binary.BigEndian.PutUint16(iv[14:], ctr)
		c.block.Encrypt(c.ksBuf[:], iv[:])
		n := subtle.XORBytes(b, b, c.ksBuf[:])
		b = b[n:]
	}
}

// tag computes the authentication tag over the packet and the ROC.
func (c *srtpContext) tag(pkt []byte, roc uint32) []byte {
	c.mac.Reset()
	c.mac.Write(pkt)
	var r [4]byte
	binary.BigEndian.PutUint32(r[:], roc)
	c.mac.Write(r[:])
	return c.mac.Sum(c.scratch[:0])[:c.tagLen]
}

// headerLen returns the RTP header length (CSRCs and extension included).
func headerLen(pkt []byte) (int, error) {
	if len(pkt) < 12 {
		return 0, ErrSRTPShort
	}
	n := 12 + 4*int(pkt[0]&0x0f)
	if pkt[0]&0x10 != 0 {
		if len(pkt) < n+4 {
			return 0, ErrSRTPShort
		}
		n += 4 + 4*int(binary.BigEndian.Uint16(pkt[n+2:]))
	}
	if len(pkt) < n {
		return 0, ErrSRTPShort
	}
	return n, nil
}

// protect encrypts the RTP packet pkt[:n] in place and appends the tag;
// buf must have room for it. It returns the SRTP packet's length.
func (c *srtpContext) protect(buf []byte, n int) (int, error) {
	pkt := buf[:n]
	hl, err := headerLen(pkt)
	if err != nil {
		return 0, err
	}
	if len(buf) < n+c.tagLen {
		return 0, fmt.Errorf("srtp: no room for the %d-byte tag", c.tagLen)
	}
	seq := binary.BigEndian.Uint16(pkt[2:])
	ssrc := binary.BigEndian.Uint32(pkt[8:])
	if c.started && seq < c.lastSeq && c.lastSeq-seq > 0x8000 {
		c.roc++ // the sequence number wrapped
	}
	c.started, c.lastSeq = true, seq
	index := uint64(c.roc)<<16 | uint64(seq)
	c.xorKeystream(pkt[hl:], ssrc, index)
	copy(buf[n:], c.tag(pkt, c.roc))
	return n + c.tagLen, nil
}

// unprotect authenticates and decrypts an SRTP packet in place and returns
// the RTP packet (a prefix of pkt). A packet that fails authentication,
// or repeats one already taken, changes nothing.
func (c *srtpContext) unprotect(pkt []byte) ([]byte, error) {
	if len(pkt) < 12+c.tagLen {
		return nil, ErrSRTPShort
	}
	body := pkt[:len(pkt)-c.tagLen]
	hl, err := headerLen(body)
	if err != nil {
		return nil, err
	}
	seq := binary.BigEndian.Uint16(body[2:])
	ssrc := binary.BigEndian.Uint32(body[8:])
	if !c.rxInit || ssrc != c.ssrc {
		// A new source: its index starts from its first packet (RFC 3711
		// 3.3.1); it is taken only once authenticated.
		return c.unprotectFirst(pkt, body, hl, seq, ssrc)
	}
	v := c.estimateROC(seq)
	index := uint64(v)<<16 | uint64(seq)
	if c.replayed(index) {
		return nil, ErrSRTPReplay
	}
	if subtle.ConstantTimeCompare(c.tag(body, v), pkt[len(body):]) != 1 {
		return nil, ErrSRTPAuth
	}
	c.accept(v, seq, index)
	c.xorKeystream(body[hl:], ssrc, index)
	return body, nil
}

func (c *srtpContext) unprotectFirst(pkt, body []byte, hl int, seq uint16, ssrc uint32) ([]byte, error) {
	if subtle.ConstantTimeCompare(c.tag(body, 0), pkt[len(body):]) != 1 {
		return nil, ErrSRTPAuth
	}
	c.rxInit, c.ssrc, c.rxROC, c.rxSL = true, ssrc, 0, seq
	c.rxMax, c.rxMask = uint64(seq), 1
	c.xorKeystream(body[hl:], ssrc, uint64(seq))
	return body, nil
}

// estimateROC is RFC 3711 appendix A.
func (c *srtpContext) estimateROC(seq uint16) uint32 {
	roc := c.rxROC
	if c.rxSL < 0x8000 {
		if int(seq)-int(c.rxSL) > 0x8000 && roc > 0 {
			return roc - 1
		}
		return roc
	}
	if int(c.rxSL)-0x8000 > int(seq) {
		return roc + 1
	}
	return roc
}

// replayed reports an index seen before or older than the 64-packet window.
func (c *srtpContext) replayed(index uint64) bool {
	if index > c.rxMax {
		return false
	}
	d := c.rxMax - index
	return d >= 64 || c.rxMask&(1<<d) != 0
}

// accept records an authenticated packet's index (RFC 3711 3.3.1, 3.3.2).
func (c *srtpContext) accept(v uint32, seq uint16, index uint64) {
	switch {
	case v == c.rxROC+1:
		c.rxROC, c.rxSL = v, seq
	case v == c.rxROC && seq > c.rxSL:
		c.rxSL = seq
	}
	if index > c.rxMax {
		shift := index - c.rxMax
		if shift >= 64 {
			c.rxMask = 0
		} else {
			c.rxMask <<= shift
		}
		c.rxMax = index
		c.rxMask |= 1
		return
	}
	c.rxMask |= 1 << (c.rxMax - index)
}
