package audiofile

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
)

// SampleRate is the only rate critline speaks.
const SampleRate = 8000

func convertHint() string {
	return "convert it with: sox IN -r 8000 -c 1 -b 16 -e signed-integer OUT.wav"
}

// Decode reads a WAV file, or raw s16le when data has no RIFF header.
func Decode(data []byte) ([]int16, error) {
	if len(data) >= 4 && string(data[:4]) == "RIFF" {
		return decodeWAV(data)
	}
	if len(data)%2 != 0 {
		return nil, fmt.Errorf("raw audio has an odd number of bytes (%d): it must be signed 16-bit little-endian samples; %s", len(data), convertHint())
	}
	return bytesToSamples(data), nil
}

func bytesToSamples(b []byte) []int16 {
	out := make([]int16, len(b)/2)
	for i := range out {
		out[i] = int16(binary.LittleEndian.Uint16(b[2*i:]))
	}
	return out
}

func decodeWAV(data []byte) ([]int16, error) {
	if len(data) < 12 || string(data[8:12]) != "WAVE" {
		return nil, errors.New("RIFF file is not WAVE audio; " + convertHint())
	}
	var (
		fmtSeen bool
		samples []int16
		found   bool
	)
	r := data[12:]
	for len(r) >= 8 {
		id := string(r[:4])
		size := binary.LittleEndian.Uint32(r[4:8])
		r = r[8:]
		if uint64(size) > uint64(len(r)) {
			if id == "data" && fmtSeen {
				size = uint32(len(r) &^ 1) // truncated recording: take what is there
			} else {
				return nil, fmt.Errorf("WAV chunk %q claims %d bytes but only %d remain: the file is truncated", id, size, len(r))
			}
		}
		body := r[:size]
		switch id {
		case "fmt ":
			if size < 16 {
				return nil, errors.New("WAV fmt chunk too short")
			}
			format := binary.LittleEndian.Uint16(body[0:])
			channels := binary.LittleEndian.Uint16(body[2:])
			rate := binary.LittleEndian.Uint32(body[4:])
			bits := binary.LittleEndian.Uint16(body[14:])
			if format == 0xFFFE && size >= 26 { // WAVE_FORMAT_EXTENSIBLE: the sub-format decides
				format = binary.LittleEndian.Uint16(body[24:])
			}
			var bad []string
			if format != 1 {
				bad = append(bad, fmt.Sprintf("format %d (need 1, PCM)", format))
			}
			if channels != 1 {
				bad = append(bad, fmt.Sprintf("%d channels (need mono)", channels))
			}
			if rate != SampleRate {
				bad = append(bad, fmt.Sprintf("%d Hz (need 8000)", rate))
			}
			if bits != 16 {
				bad = append(bad, fmt.Sprintf("%d-bit (need 16)", bits))
			}
			if len(bad) > 0 {
				return nil, fmt.Errorf("WAV is %s; %s", strings.Join(bad, ", "), convertHint())
			}
			fmtSeen = true
		case "data":
			if !fmtSeen {
				return nil, errors.New("WAV data chunk before its fmt chunk: the file is damaged")
			}
			samples = bytesToSamples(body[:len(body)&^1])
			found = true
		}
		r = r[size:]
		if size%2 == 1 && len(r) > 0 {
			r = r[1:] // chunks are padded to even sizes
		}
	}
	if !found {
		return nil, errors.New("WAV file has no data chunk")
	}
	return samples, nil
}

// EncodeWAV writes samples as a PCM WAV file.
func EncodeWAV(w io.Writer, samples []int16) error {
	var b bytes.Buffer
	n := uint32(2 * len(samples))
	b.WriteString("RIFF")
	binary.Write(&b, binary.LittleEndian, 36+n)
	b.WriteString("WAVEfmt ")
	for _, v := range []any{uint32(16), uint16(1), uint16(1), uint32(SampleRate), uint32(2 * SampleRate), uint16(2), uint16(16)} {
		binary.Write(&b, binary.LittleEndian, v)
	}
	b.WriteString("data")
	binary.Write(&b, binary.LittleEndian, n)
	if _, err := w.Write(b.Bytes()); err != nil {
		return err
	}
	return EncodeRaw(w, samples)
}

// EncodeRaw writes samples as s16le.
func EncodeRaw(w io.Writer, samples []int16) error {
	buf := make([]byte, 2*len(samples))
	for i, s := range samples {
		binary.LittleEndian.PutUint16(buf[2*i:], uint16(s))
	}
	_, err := w.Write(buf)
	return err
}
