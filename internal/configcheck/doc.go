// Package configcheck is the one place that decides whether a configuration
// file can run: package config's own checks plus those that need the
// packages config must not know (the country profile and its dial plan, the
// toll-fraud guard, forwarding and remote-activation PINs, board/trunk
// combinations). `critlined --check-config`, `critlinectl config check`,
// critlined's start-up and its SIGHUP reload all go through Load, so they
// accept and refuse exactly the same files with the same
// "file:line: key: what is wrong and the fix" lines.
package configcheck
