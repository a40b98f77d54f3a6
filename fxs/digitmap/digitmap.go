package digitmap

import (
	"fmt"
	"strings"
)

// Limits that keep a dial plan small enough to match without allocating.
const (
	MaxPatterns = 128
	MaxElements = 63 // per pattern
	MaxLength   = 4096
)

// keys are the symbols a handset can send, in the bit order of a set.
const keys = "0123456789*ABCD"

type element struct {
	set    uint16 // bit i = keys[i] accepted
	repeat bool   // followed by ".": zero or more of this element
}

type pattern struct {
	text  string
	elems []element
}

// Map is a parsed digit map. It is immutable and safe for concurrent use.
type Map struct {
	patterns []pattern
}

// Result says how dialled digits relate to a map.
type Result int

const (
	// NoMatch: no pattern matches these digits or any continuation of them.
	NoMatch Result = iota
	// Partial: some pattern could match once more digits are dialled.
	Partial
	// Full: a pattern matches exactly these digits.
	Full
)

func (r Result) String() string {
	switch r {
	case NoMatch:
		return "no-match"
	case Partial:
		return "partial"
	case Full:
		return "full"
	}
	return "unknown"
}

// Parse reads a digit map. Syntax: alternatives separated by "|", optionally
// wrapped in parentheses; in each, the keys 0-9 * A-D stand for themselves,
// "x" for any digit 0-9, "[...]" for any key listed (ranges such as "1-5"
// allowed), and "." after an element for zero or more repetitions of it.
// "#" is not allowed in a pattern: dialling "#" sends the digits before it.
func Parse(s string) (*Map, error) {
	if len(s) > MaxLength {
		return nil, fmt.Errorf("digit map is %d characters long: at most %d", len(s), MaxLength)
	}
	body := strings.TrimSpace(s)
	if strings.HasPrefix(body, "(") {
		if !strings.HasSuffix(body, ")") {
			return nil, fmt.Errorf("digit map %q opens \"(\" but does not end with \")\"", s)
		}
		body = strings.TrimSpace(body[1 : len(body)-1])
	}
	if body == "" {
		return nil, fmt.Errorf("digit map is empty: write patterns such as \"999|112|0[1-9]xxxxxxxxx\"")
	}
	alts := strings.Split(body, "|")
	if len(alts) > MaxPatterns {
		return nil, fmt.Errorf("digit map has %d patterns: at most %d", len(alts), MaxPatterns)
	}
	m := &Map{patterns: make([]pattern, 0, len(alts))}
	for i, a := range alts {
		p, err := parsePattern(strings.TrimSpace(a))
		if err != nil {
			return nil, fmt.Errorf("digit map pattern %d %q: %w", i+1, strings.TrimSpace(a), err)
		}
		m.patterns = append(m.patterns, p)
	}
	return m, nil
}

func keyBit(c byte) (uint16, bool) {
	if c >= 'a' && c <= 'd' {
		c -= 'a' - 'A'
	}
	i := strings.IndexByte(keys, c)
	if i < 0 {
		return 0, false
	}
	return 1 << i, true
}

func parsePattern(s string) (pattern, error) {
	p := pattern{text: s}
	if s == "" {
		return p, fmt.Errorf("empty pattern (two \"|\" in a row, or one at an end)")
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		var el element
		switch {
		case c == 'x' || c == 'X':
			el.set = 0x3FF
		case c == '[':
			end := strings.IndexByte(s[i:], ']')
			if end < 0 {
				return p, fmt.Errorf("\"[\" at %d is not closed with \"]\"", i+1)
			}
			set, err := parseSet(s[i+1 : i+end])
			if err != nil {
				return p, err
			}
			el.set = set
			i += end
		case c == '.':
			return p, fmt.Errorf("\".\" at %d repeats nothing: put it after a key, x or [...]", i+1)
		case c == '#':
			return p, fmt.Errorf("\"#\" cannot be part of a pattern: dialling # sends the number at once")
		case c == 'T' || c == 't':
			return p, fmt.Errorf("the MGCP timer \"T\" is not supported: the dial-plan timers come from the country profile")
		case c == ' ' || c == '\t':
			return p, fmt.Errorf("space inside a pattern at %d", i+1)
		default:
			b, ok := keyBit(c)
			if !ok {
				return p, fmt.Errorf("%q at %d is not a key: use 0-9 * A-D, x, [...] and \".\" (repeat)", c, i+1)
			}
			el.set = b
		}
		if i+1 < len(s) && s[i+1] == '.' {
			el.repeat = true
			i++
		}
		if len(p.elems) == MaxElements {
			return p, fmt.Errorf("more than %d elements", MaxElements)
		}
		p.elems = append(p.elems, el)
	}
	return p, nil
}

func parseSet(s string) (uint16, error) {
	if s == "" {
		return 0, fmt.Errorf("empty set \"[]\"")
	}
	var set uint16
	for i := 0; i < len(s); i++ {
		if i+2 < len(s) && s[i+1] == '-' {
			lo, hi := s[i], s[i+2]
			if lo < '0' || lo > '9' || hi < '0' || hi > '9' || lo > hi {
				return 0, fmt.Errorf("range %q in [%s] must be two digits in order, e.g. 1-5", s[i:i+3], s)
			}
			for d := lo; d <= hi; d++ {
				set |= 1 << (d - '0')
			}
			i += 2
			continue
		}
		if s[i] == 'x' || s[i] == 'X' {
			set |= 0x3FF
			continue
		}
		b, ok := keyBit(s[i])
		if !ok {
			return 0, fmt.Errorf("%q in [%s] is not a key: use 0-9 * A-D and ranges such as 1-5", s[i], s)
		}
		set |= b
	}
	return set, nil
}

// closure adds to st every position reachable by skipping repeatable elements.
func (p *pattern) closure(st uint64) uint64 {
	for i, e := range p.elems {
		if st&(1<<i) != 0 && e.repeat {
			st |= 1 << (i + 1)
		}
	}
	return st
}

// match runs the pattern's automaton over digits. It returns whether the
// digits are a full match and whether more digits could still match.
func (p *pattern) match(digits string) (full, more bool) {
	n := len(p.elems)
	st := p.closure(1)
	for j := 0; j < len(digits) && st != 0; j++ {
		b, ok := keyBit(digits[j])
		if !ok {
			return false, false
		}
		var next uint64
		for i := 0; i < n; i++ {
			if st&(1<<i) == 0 || p.elems[i].set&b == 0 {
				continue
			}
			if p.elems[i].repeat {
				next |= 1 << i
			} else {
				next |= 1 << (i + 1)
			}
		}
		st = p.closure(next)
	}
	full = st&(1<<n) != 0
	more = st&(1<<n-1) != 0
	return full, more
}

// Match reports how digits (keys 0-9 * A-D) relate to the map: Full when a
// pattern matches exactly (more then says whether a longer number could also
// match, so the port should wait a short time), Partial when only longer
// numbers could match, NoMatch when nothing can. It does not allocate.
func (m *Map) Match(digits string) (r Result, more bool) {
	r = NoMatch
	for i := range m.patterns {
		f, mo := m.patterns[i].match(digits)
		if f {
			r = Full
		} else if mo && r == NoMatch {
			r = Partial
		}
		more = more || mo
	}
	return r, more
}

// String returns the map in canonical form.
func (m *Map) String() string {
	var b strings.Builder
	for i, p := range m.patterns {
		if i > 0 {
			b.WriteByte('|')
		}
		for _, e := range p.elems {
			b.WriteString(e.String())
		}
	}
	return b.String()
}

func (e element) String() string {
	var s string
	switch {
	case e.set == 0x3FF:
		s = "x"
	case e.set&(e.set-1) == 0:
		for i := 0; i < len(keys); i++ {
			if e.set == 1<<i {
				s = keys[i : i+1]
			}
		}
	default:
		var b strings.Builder
		b.WriteByte('[')
		for i := 0; i < len(keys); i++ {
			if e.set&(1<<i) != 0 {
				b.WriteByte(keys[i])
			}
		}
		b.WriteByte(']')
		s = b.String()
	}
	if e.repeat {
		s += "."
	}
	return s
}
