package config

// KeyLine returns the line of the file where key (dotted, with array
// indexes: "port[1].pin", "survivability.guard.default.max_duration") or its
// nearest written parent is written, 0 when unknown. Checks made outside
// this package (internal/configcheck) use it so that every problem carries
// its line.
func (c *Config) KeyLine(key string) int { return c.loc.line(key) }

// Problemf adds a problem found by a check made outside this package,
// reported on the line where key (or its nearest parent) is written in c's
// file; with a nil c it carries no line.
func (e *Errors) Problemf(c *Config, key, format string, args ...any) {
	line := 0
	if c != nil {
		line = c.KeyLine(key)
	}
	e.add(line, key, format, args...)
}
