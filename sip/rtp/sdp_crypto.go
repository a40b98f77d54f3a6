package rtp

// SDES (RFC 4568): the a=crypto attribute that carries an SRTP master key
// in the SDP of RTP/SAVP streams. Each side's line gives the key it sends
// with; the answer picks one of the offer's lines by its tag and suite.

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
)

// Crypto is one usable a=crypto line.
type Crypto struct {
	Tag   int
	Suite Suite
	Key   []byte // master key then master salt, MasterLen bytes
}

// String formats the attribute value: "1 AES_CM_128_HMAC_SHA1_80 inline:...".
func (c Crypto) String() string {
	return fmt.Sprintf("%d %s inline:%s", c.Tag, c.Suite, base64.StdEncoding.EncodeToString(c.Key))
}

// NewMasterKey returns a fresh random master key and salt.
func NewMasterKey() []byte {
	k := make([]byte, MasterLen)
	if _, err := rand.Read(k); err != nil {
		panic("rtp: no randomness for an SRTP key: " + err.Error()) // crypto/rand never fails on Linux
	}
	return k
}

// parseCrypto reads an a=crypto value. ok is false (and err nil) for a
// well-formed line critline cannot use: another suite, an MKI, several
// keys, or session parameters that change the protection.
func parseCrypto(val string) (c Crypto, ok bool, err error) {
	f := strings.Fields(val)
	if len(f) < 3 {
		return c, false, fmt.Errorf("crypto %q: want \"tag suite inline:key\"", clipS(val))
	}
	tag, err := strconv.Atoi(f[0])
	if err != nil || tag < 0 || tag > 999999999 {
		return c, false, fmt.Errorf("crypto tag %q is not a number of 1-9 digits", clipS(f[0]))
	}
	c.Tag, c.Suite = tag, Suite(f[1])
	if !c.Suite.Supported() {
		return c, false, nil
	}
	if strings.Contains(f[2], ";") {
		return c, false, nil // several master keys: critline uses one
	}
	kp, ok := strings.CutPrefix(f[2], "inline:")
	if !ok {
		return c, false, fmt.Errorf("crypto key %q does not start with \"inline:\"", clipS(f[2]))
	}
	parts := strings.Split(kp, "|")
	if len(parts) > 3 {
		return c, false, fmt.Errorf("crypto key %q has too many |-separated parts", clipS(kp))
	}
	for _, p := range parts[1:] {
		if strings.Contains(p, ":") {
			return c, false, nil // an MKI: not supported
		}
	}
	key, err := base64.StdEncoding.DecodeString(parts[0])
	if err != nil {
		key, err = base64.RawStdEncoding.DecodeString(parts[0])
	}
	if err != nil || len(key) != MasterLen {
		return c, false, fmt.Errorf("crypto key is not %d bytes of base64", MasterLen)
	}
	for _, sp := range f[3:] {
		switch {
		case sp == "UNENCRYPTED_SRTCP", sp == "UNAUTHENTICATED_SRTCP", sp == "KDR=0", strings.HasPrefix(sp, "WSH="):
			// critline sends no RTCP; the window is its own
		default:
			return c, false, nil // UNENCRYPTED_SRTP, a key derivation rate...: not supported
		}
	}
	c.Key = key
	return c, true, nil
}

func clipS(s string) string { return clip([]byte(s)) }
