package rtp

// G.711 coding after the ITU-T reference (Sun Microsystems' public-domain
// g711.c). Encoding goes through 16 KiB (µ-law) and 8 KiB (A-law) tables
// indexed by the top bits of the sample, decoding through 256-entry tables:
// no branches and no allocations per sample. The tables are computed once
// when the package loads and never written again.

// Law is a G.711 companding law.
type Law uint8

const (
	// ULaw is G.711 µ-law (PCMU, static payload type 0).
	ULaw Law = iota
	// ALaw is G.711 A-law (PCMA, static payload type 8).
	ALaw
)

// String returns the SDP encoding name.
func (l Law) String() string {
	if l == ALaw {
		return "PCMA"
	}
	return "PCMU"
}

// PayloadType returns the law's static RTP payload type.
func (l Law) PayloadType() uint8 {
	if l == ALaw {
		return PTPCMA
	}
	return PTPCMU
}

var (
	ulawDec = func() (t [256]int16) {
		for i := range t {
			t[i] = ulawToLinear(byte(i))
		}
		return
	}()
	alawDec = func() (t [256]int16) {
		for i := range t {
			t[i] = alawToLinear(byte(i))
		}
		return
	}()
	// ulawEnc is indexed by uint16(sample)>>2, alawEnc by uint16(sample)>>3.
	ulawEnc = func() (t [1 << 14]byte) {
		for i := range t {
			t[i] = linearToUlaw(int16(uint16(i) << 2))
		}
		return
	}()
	alawEnc = func() (t [1 << 13]byte) {
		for i := range t {
			t[i] = linearToAlaw(int16(uint16(i) << 3))
		}
		return
	}()
)

// EncodeSample compresses one linear sample.
func (l Law) EncodeSample(s int16) byte {
	if l == ALaw {
		return alawEnc[uint16(s)>>3]
	}
	return ulawEnc[uint16(s)>>2]
}

// DecodeSample expands one G.711 byte.
func (l Law) DecodeSample(b byte) int16 {
	if l == ALaw {
		return alawDec[b]
	}
	return ulawDec[b]
}

// Encode compresses min(len(dst), len(src)) samples and returns how many.
func (l Law) Encode(dst []byte, src []int16) int {
	n := min(len(dst), len(src))
	if l == ALaw {
		for i := 0; i < n; i++ {
			dst[i] = alawEnc[uint16(src[i])>>3]
		}
		return n
	}
	for i := 0; i < n; i++ {
		dst[i] = ulawEnc[uint16(src[i])>>2]
	}
	return n
}

// Decode expands min(len(dst), len(src)) bytes and returns how many.
func (l Law) Decode(dst []int16, src []byte) int {
	n := min(len(dst), len(src))
	tab := &ulawDec
	if l == ALaw {
		tab = &alawDec
	}
	for i := 0; i < n; i++ {
		dst[i] = tab[src[i]]
	}
	return n
}

// Silence returns the law's code for a zero sample.
func (l Law) Silence() byte { return l.EncodeSample(0) }

func segment(v int, ends *[8]int) int {
	for i, e := range ends {
		if v <= e {
			return i
		}
	}
	return 8
}

var (
	segUEnd = [8]int{0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF}
	segAEnd = [8]int{0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF}
)

func linearToUlaw(pcm int16) byte {
	const bias, clip = 0x84 >> 2, 8159
	v := int(pcm) >> 2
	mask := 0xFF
	if v < 0 {
		v = -v
		mask = 0x7F
	}
	if v > clip {
		v = clip
	}
	v += bias
	seg := segment(v, &segUEnd)
	if seg >= 8 {
		return byte(0x7F ^ mask)
	}
	return byte(((seg << 4) | ((v >> (seg + 1)) & 0xF)) ^ mask)
}

func ulawToLinear(u byte) int16 {
	const bias = 0x84
	u = ^u
	t := (int(u&0x0F) << 3) + bias
	t <<= (u & 0x70) >> 4
	if u&0x80 != 0 {
		return int16(bias - t)
	}
	return int16(t - bias)
}

func linearToAlaw(pcm int16) byte {
	v := int(pcm) >> 3
	mask := 0xD5
	if v < 0 {
		mask = 0x55
		v = -v - 1
	}
	seg := segment(v, &segAEnd)
	if seg >= 8 {
		return byte(0x7F ^ mask)
	}
	a := seg << 4
	if seg < 2 {
		a |= (v >> 1) & 0xF
	} else {
		a |= (v >> seg) & 0xF
	}
	return byte(a ^ mask)
}

func alawToLinear(a byte) int16 {
	a ^= 0x55
	t := int(a&0x0F) << 4
	seg := int(a&0x70) >> 4
	switch seg {
	case 0:
		t += 8
	case 1:
		t += 0x108
	default:
		t += 0x108
		t <<= seg - 1
	}
	if a&0x80 != 0 {
		return int16(t)
	}
	return int16(-t)
}
