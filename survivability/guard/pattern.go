package guard

import (
	"errors"
	"fmt"
	"strings"
)

// MaxNumberLen is the longest number (and pattern) the guard accepts.
const MaxNumberLen = 32

// symbols are the characters a dialled number may hold, in bit order.
const symbols = "0123456789*#+"

const anyDigit = uint16(1<<10 - 1)

func bit(c byte) (uint16, bool) {
	i := strings.IndexByte(symbols, c)
	if i < 0 {
		return 0, false
	}
	return 1 << i, true
}

// Pattern is one parsed digit pattern.
type Pattern struct {
	src   string
	elems []uint16 // allowed symbols per position
	rest  bool     // a trailing '*': anything may follow
}

// String returns the pattern as written.
func (p Pattern) String() string { return p.src }

// ParsePattern parses a digit pattern such as "0[1-9]xxxxxxxxx", "09*",
// "+*" or "999".
func ParsePattern(s string) (Pattern, error) {
	src := s
	s = strings.TrimSpace(s)
	if s == "" {
		return Pattern{}, errors.New("empty pattern: write digits, x for any digit, [1-9] for a class and a trailing * for anything after")
	}
	p := Pattern{src: src}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '*' && i == len(s)-1:
			p.rest = true
		case c == 'x' || c == 'X':
			p.elems = append(p.elems, anyDigit)
		case c == '[':
			end := strings.IndexByte(s[i:], ']')
			if end < 0 {
				return Pattern{}, fmt.Errorf("pattern %q: '[' at position %d is not closed: write classes like [1-9] or [135]", src, i+1)
			}
			set, err := parseClass(s[i+1 : i+end])
			if err != nil {
				return Pattern{}, fmt.Errorf("pattern %q: %v", src, err)
			}
			p.elems = append(p.elems, set)
			i += end
		case c == ']':
			return Pattern{}, fmt.Errorf("pattern %q: ']' at position %d has no '['", src, i+1)
		case c == '.':
			return Pattern{}, fmt.Errorf("pattern %q: '.' is not supported: end the pattern with * to match anything after", src)
		default:
			b, ok := bit(c)
			if !ok {
				return Pattern{}, fmt.Errorf("pattern %q: %q at position %d is not a digit, *, #, +, x or [class]", src, c, i+1)
			}
			if c == '+' && len(p.elems) > 0 {
				return Pattern{}, fmt.Errorf("pattern %q: '+' may only start a number", src)
			}
			p.elems = append(p.elems, b)
		}
		if len(p.elems) > MaxNumberLen {
			return Pattern{}, fmt.Errorf("pattern %q is longer than %d digits", src, MaxNumberLen)
		}
	}
	return p, nil
}

func parseClass(body string) (uint16, error) {
	if body == "" {
		return 0, errors.New("empty class []: list digits like [135] or a range like [1-9]")
	}
	var set uint16
	for j := 0; j < len(body); j++ {
		c := body[j]
		if j+2 < len(body) && body[j+1] == '-' {
			hi := body[j+2]
			if c < '0' || c > '9' || hi < '0' || hi > '9' {
				return 0, fmt.Errorf("class range %c-%c: ranges are of digits, like 1-9", c, hi)
			}
			if hi < c {
				return 0, fmt.Errorf("class range %c-%c runs backwards: write %c-%c", c, hi, hi, c)
			}
			for d := c; d <= hi; d++ {
				b, _ := bit(d)
				set |= b
			}
			j += 2
			continue
		}
		if c == 'x' || c == 'X' {
			set |= anyDigit
			continue
		}
		b, ok := bit(c)
		if !ok || c == '+' {
			return 0, fmt.Errorf("%q in a class: classes hold digits, * and #", c)
		}
		set |= b
	}
	return set, nil
}

// Match reports whether the whole number matches the pattern.
func (p Pattern) Match(number string) bool {
	if len(number) < len(p.elems) || (!p.rest && len(number) != len(p.elems)) {
		return false
	}
	for i, set := range p.elems {
		b, ok := bit(number[i])
		if !ok || set&b == 0 {
			return false
		}
	}
	for i := len(p.elems); i < len(number); i++ {
		if _, ok := bit(number[i]); !ok || number[i] == '+' && i > 0 {
			return false
		}
	}
	return true
}

// literalPrefix is the fixed text every match starts with.
func (p Pattern) literalPrefix() string {
	var sb strings.Builder
	for _, set := range p.elems {
		if set&(set-1) != 0 { // more than one symbol
			break
		}
		for i := 0; i < len(symbols); i++ {
			if set == 1<<i {
				sb.WriteByte(symbols[i])
			}
		}
	}
	return sb.String()
}

// within reports whether every number p matches is also matched by the
// prefix pattern cat ("09*"): p names numbers inside that category
// explicitly.
func (p Pattern) within(cat Pattern) bool {
	if !cat.rest {
		return false
	}
	lit := p.literalPrefix()
	return len(lit) >= len(cat.elems) && cat.Match(lit[:len(cat.elems)])
}

// patterns is an ordered list.
type patterns []Pattern

// first returns the first pattern matching number.
func (ps patterns) first(number string) (Pattern, bool) {
	for _, p := range ps {
		if p.Match(number) {
			return p, true
		}
	}
	return Pattern{}, false
}

// parsePatterns parses a list; an item may hold alternatives separated by
// '|' ("999|112").
func parsePatterns(key string, list []string) (patterns, error) {
	var out patterns
	var errs []error
	for i, item := range list {
		for alt := range strings.SplitSeq(item, "|") {
			p, err := ParsePattern(alt)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s[%d]: %w", key, i, err))
				continue
			}
			out = append(out, p)
		}
	}
	return out, errors.Join(errs...)
}

// NormalizeNumber checks a dialled number: digits, '*', '#', and '+' only at
// the start; spaces, '-', '.', '(' and ')' written for readability are
// removed.
func NormalizeNumber(number string) (string, error) {
	var sb strings.Builder
	for i := 0; i < len(number); i++ {
		c := number[i]
		switch {
		case c == ' ' || c == '-' || c == '.' || c == '(' || c == ')':
			continue
		case c == '+':
			if sb.Len() > 0 {
				return "", fmt.Errorf("number %q: '+' may only start a number", number)
			}
		case c >= '0' && c <= '9', c == '*', c == '#':
		default:
			return "", fmt.Errorf("number %q: %q is not a digit, *, # or a leading +", number, c)
		}
		sb.WriteByte(c)
	}
	n := sb.String()
	switch {
	case n == "" || n == "+":
		return "", fmt.Errorf("number %q has no digits", number)
	case len(n) > MaxNumberLen:
		return "", fmt.Errorf("number %q is longer than %d digits", number, MaxNumberLen)
	}
	return n, nil
}
