// Package firmware holds critline's signed A/B firmware path: the bundle
// format (a signed JSON manifest followed by the payloads it describes), ed25519
// keys and key rings, building and verifying bundles, installing a bundle into
// the inactive one of two slots (block devices or files), the boot-state file
// that arms a one-time trial boot and that a bootloader script reads, and the
// confirm-or-roll-back decision taken after the trial boot.
//
// Everything is streamed: a payload is hashed while it is copied and read back
// after it is written, never held whole in memory. The manifest is verified
// (signature, product, board, security version, sizes) before a byte of
// payload is written, and only the inactive slot is ever written, so a bad
// bundle, a power cut or a kill -9 leaves the running slot as it was.
//
// This package does not parse the daemon's TOML file (cmd maps the
// [firmware] section onto Config), does not reboot by itself (the reboot is a
// command from Config), and knows nothing of telephony: the daemon's health
// checks reach it as a plain function.
package firmware
