package audiofile

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
)

func TestWAVRoundTrip(t *testing.T) {
	in := []int16{0, 1, -1, 32767, -32768, 1234}
	var b bytes.Buffer
	if err := EncodeWAV(&b, in); err != nil {
		t.Fatal(err)
	}
	out, err := Decode(b.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != len(in) {
		t.Fatalf("got %v", out)
	}
	for i := range in {
		if in[i] != out[i] {
			t.Fatalf("sample %d: %d != %d", i, out[i], in[i])
		}
	}
	var raw bytes.Buffer
	EncodeRaw(&raw, in)
	out, err = Decode(raw.Bytes())
	if err != nil || out[3] != 32767 {
		t.Fatalf("raw: %v %v", out, err)
	}
}

func TestWAVWrongFormatNamesTheFix(t *testing.T) {
	var b bytes.Buffer
	EncodeWAV(&b, []int16{1, 2})
	data := b.Bytes()
	binary.LittleEndian.PutUint16(data[22:], 2)     // stereo
	binary.LittleEndian.PutUint32(data[24:], 44100) // CD rate
	_, err := Decode(data)
	if err == nil || !strings.Contains(err.Error(), "2 channels") || !strings.Contains(err.Error(), "44100 Hz") || !strings.Contains(err.Error(), "sox") {
		t.Fatalf("got %v", err)
	}
	if _, err := Decode([]byte{1, 2, 3}); err == nil {
		t.Fatal("odd raw accepted")
	}
	if _, err := Decode([]byte("RIFF\x00\x00\x00\x00WAVEdata\xff\xff\xff\xff")); err == nil {
		t.Fatal("data before fmt accepted")
	}
}

func FuzzDecode(f *testing.F) {
	var b bytes.Buffer
	EncodeWAV(&b, []int16{1, 2, 3})
	f.Add(b.Bytes())
	f.Add([]byte("RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00"))
	f.Add([]byte{0, 1, 2, 3})
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Decode(data)
		if err == nil && len(s) > len(data)/2 {
			t.Fatalf("%d samples from %d bytes", len(s), len(data))
		}
	})
}
