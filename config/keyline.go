package config

// KeyLine returns the line of the file where key (dotted, with array
// indexes: "port[1].pin", "survivability.guard.default.max_duration") or its
// nearest written parent is written, 0 when unknown. Checks made outside
// this package (internal/configcheck) use it so that every problem carries
// its line.
func (c *Config) KeyLine(key string) int { return c.loc.line(key) }

// Problemf adds a problem found by a later check; line 0 looks the key up.
func (e *Errors) Problemf(c *Config, key, format string, args ...any) {
	line := 0
	if c != nil {
		line = c.KeyLine(key)
	}
	e.add(line, key, format, args...)
}
