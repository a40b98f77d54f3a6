package config

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/BurntSushi/toml"
)

// Raw is a section kept as written, for a package that owns its own keys
// (the toll-fraud guard, forwarding): Decode hands it over strictly.
type Raw map[string]any

// Decode fills v (a pointer to a struct with toml tags) from the section,
// refusing keys v does not have. name is the section's dotted name, used in
// messages.
func (r Raw) Decode(name string, v any) error {
	if len(r) == 0 {
		return nil
	}
	var buf bytes.Buffer
	if err := toml.NewEncoder(&buf).Encode(map[string]any(r)); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	md, err := toml.NewDecoder(&buf).Decode(v)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = name + "." + k.String()
		}
		return fmt.Errorf("unknown keys: %s", strings.Join(keys, ", "))
	}
	return nil
}
