package guard

import (
	"errors"
	"fmt"
	"strings"
)

// Rule is one parsed number-rewriting rule, e.g. "2xxxxx -> 018652xxxxx".
type Rule struct {
	src      string
	pattern  Pattern
	template string // literal symbols, 'x' for the next captured digit, and a trailing '*' for the rest
	tail     bool   // template ends with the rest of the number
}

// String returns the rule as written.
func (r Rule) String() string { return r.src }

// ParseRule parses "PATTERN -> TEMPLATE". Every wildcard position of the
// pattern ('x' or a class) is captured in order and fills the template's
// 'x's one by one; the counts must match. When the pattern ends in '*' the
// template must too, and the rest of the number goes there.
func ParseRule(s string) (Rule, error) {
	lhs, rhs, ok := strings.Cut(s, "->")
	if !ok {
		return Rule{}, fmt.Errorf("rewrite %q: write it as PATTERN -> TEMPLATE, e.g. \"2xxxxx -> 018652xxxxx\"", s)
	}
	p, err := ParsePattern(lhs)
	if err != nil {
		return Rule{}, fmt.Errorf("rewrite %q: %w", s, err)
	}
	tpl := strings.NewReplacer(" ", "", "-", "").Replace(rhs)
	if tpl == "" {
		return Rule{}, fmt.Errorf("rewrite %q: the template after -> is empty", s)
	}
	r := Rule{src: s, pattern: p}
	if p.rest {
		if !strings.HasSuffix(tpl, "*") {
			return Rule{}, fmt.Errorf("rewrite %q: the pattern ends in * so the template must too (where the rest of the number goes)", s)
		}
		r.tail = true
		tpl = tpl[:len(tpl)-1]
	}
	captures := 0
	for _, set := range p.elems {
		if set&(set-1) != 0 {
			captures++
		}
	}
	xs := 0
	for i := 0; i < len(tpl); i++ {
		c := tpl[i]
		switch {
		case c == 'x' || c == 'X':
			xs++
		case c == '+' && i > 0:
			return Rule{}, fmt.Errorf("rewrite %q: '+' may only start the template", s)
		default:
			if _, ok := bit(c); !ok {
				return Rule{}, fmt.Errorf("rewrite %q: %q in the template is not a digit, *, #, + or x", s, c)
			}
		}
	}
	if xs != captures {
		return Rule{}, fmt.Errorf("rewrite %q: the template has %d x but the pattern captures %d digits; they must be equal", s, xs, captures)
	}
	r.template = strings.ToLower(tpl)
	if len(r.template)-xs+captures > MaxNumberLen && !r.tail {
		return Rule{}, fmt.Errorf("rewrite %q: the result would be longer than %d digits", s, MaxNumberLen)
	}
	return r, nil
}

// Apply rewrites number if the rule's pattern matches it.
func (r Rule) Apply(number string) (string, bool) {
	if !r.pattern.Match(number) {
		return "", false
	}
	var caps []byte
	for i, set := range r.pattern.elems {
		if set&(set-1) != 0 {
			caps = append(caps, number[i])
		}
	}
	var sb strings.Builder
	for i := 0; i < len(r.template); i++ {
		if r.template[i] == 'x' {
			sb.WriteByte(caps[0])
			caps = caps[1:]
			continue
		}
		sb.WriteByte(r.template[i])
	}
	if r.tail {
		sb.WriteString(number[len(r.pattern.elems):])
	}
	return sb.String(), true
}

// rules is an ordered list: the first matching rule wins.
type rules []Rule

func parseRules(key string, list []string) (rules, error) {
	var out rules
	var errs []error
	for i, s := range list {
		r, err := ParseRule(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s[%d]: %w", key, i, err))
			continue
		}
		out = append(out, r)
	}
	return out, errors.Join(errs...)
}

// apply returns the rewritten number and the rule used ("" when none).
func (rs rules) apply(number string) (string, string) {
	for _, r := range rs {
		if out, ok := r.Apply(number); ok {
			return out, r.src
		}
	}
	return number, ""
}
