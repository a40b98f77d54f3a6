// Package config reads and checks critline's one TOML configuration file.
//
// Loading never stops at the first problem: syntax errors, unknown keys,
// wrong types and impossible values (duplicate port ids, a GPIO line used
// twice, a port without an extension, ...) are all collected and reported as
// "file:line: key: what is wrong and what would be right". The package only
// describes configuration; it opens nothing and starts nothing. cmd maps it
// onto the option types of the packages it wires (hal backends, fxs, sip,
// survivability), so those packages never import config.
package config
