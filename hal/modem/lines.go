package modem

import (
	"strings"
	"unicode/utf8"
)

// maxLine bounds one line; longer runs of bytes without a terminator are
// garbage and are cut, so a babbling device cannot grow memory.
const maxLine = 1024

// lineReader splits the byte stream from a modem into lines. Any run of CR
// and LF ends a line (modems mix "\r\n", "\n", "\r" and "\n\r"), empty lines
// are skipped, control bytes and invalid UTF-8 are removed, and a partial
// line waits for the next read. The SMS text prompt "> ", which has no
// terminator, is emitted as the line ">".
type lineReader struct {
	buf []byte
}

// Feed consumes p and calls emit for every complete line.
func (r *lineReader) Feed(p []byte, emit func(string)) {
	for _, c := range p {
		if c == '\r' || c == '\n' {
			if len(r.buf) > 0 {
				if s := cleanLine(r.buf); s != "" {
					emit(s)
				}
				r.buf = r.buf[:0]
			}
			continue
		}
		if len(r.buf) < maxLine {
			r.buf = append(r.buf, c)
		}
	}
	if len(r.buf) == 2 && r.buf[0] == '>' && r.buf[1] == ' ' {
		r.buf = r.buf[:0]
		emit(">")
	}
}

// Reset drops a partial line (after the port is reopened).
func (r *lineReader) Reset() { r.buf = r.buf[:0] }

// cleanLine removes control bytes and invalid UTF-8, trims spaces, and
// resynchronises a line that starts with stray bytes onto the report or
// result it ends with.
func cleanLine(b []byte) string {
	var sb strings.Builder
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		b = b[n:]
		if r == utf8.RuneError && n <= 1 {
			continue
		}
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			if r == '\t' {
				sb.WriteByte(' ')
			}
			continue
		}
		sb.WriteRune(r)
	}
	return resync(strings.TrimSpace(sb.String()))
}

// bareWords are results and reports that make up a whole line (a
// read-only table, like every package-level slice and map here).
var bareWords = []string{
	"OK", "ERROR", "RING", "NO CARRIER", "BUSY", "NO ANSWER", "NO DIALTONE", "NO DIAL TONE",
	"CONNECT", "VOICE CALL: BEGIN",
}

// prefixed are the starts of results and reports that carry parameters.
var prefixed = []string{
	"+CME ERROR:", "+CMS ERROR:", "+CLIP:", "+CLCC:", "+CREG:", "+CEREG:", "+CGREG:", "+CSQ:",
	"+CCFC:", "+COPS:", "+CMGS:", "+RXDTMF:", "+DTMF:", "+QTONEDET:", "+QIND:", "^DSCI:",
	"VOICE CALL: END", "MISSED_CALL:", "+CRING:", "+CPIN:", "+CUSD:", "+CMTI:", "+CCWA:", "+CHLD:",
}

// knownStart reports whether s begins with a result or report we know.
func knownStart(s string) bool {
	for _, w := range bareWords {
		if s == w {
			return true
		}
	}
	for _, p := range prefixed {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// resync returns s unchanged when it starts with something we know. When a
// known parameterised report follows stray bytes ("#%$+CLIP: ..."), or a
// known bare result follows a run containing stray symbols ("#%$RING"), it
// returns that tail. Text that merely ends like a result ("SPRING") is left
// alone, so information lines survive.
func resync(s string) string {
	if s == "" || knownStart(s) {
		return s
	}
	stray := false
	for i := 1; i < len(s); i++ {
		if !stray && !ordinary(s[i-1]) {
			stray = true
		}
		c := s[i]
		if c != '+' && c != '^' && !(c >= 'A' && c <= 'Z') {
			continue
		}
		t := s[i:]
		if !knownStart(t) {
			continue
		}
		if c == '+' || c == '^' || stray {
			return t
		}
	}
	return s
}

// ordinary reports whether c is a character an information line is made of.
func ordinary(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte(" :,._-\"/()", c) >= 0
}
