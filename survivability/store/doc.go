// Package store keeps small pieces of state that must survive restarts and
// power cuts (call forwarding, PIN lockouts, daily trunk minutes, mode
// history) as one JSON file per concern in the daemon's state directory.
//
// Each file is an envelope: a format name, a format version, the state's
// name, a SHA-256 checksum of the payload and the payload itself. Save writes
// a temporary file in the same directory, fsyncs it, renames it over the old
// file and fsyncs the directory, so after a crash or a power cut the file is
// either the old version or the new one, never a mixture. Load checks the
// envelope; a file that is truncated, not JSON, fails its checksum, names
// another state or has an unknown version is logged, renamed aside to
// NAME.json.corrupt-TIMESTAMP for later inspection and reported as a
// *CorruptError, and the caller carries on from its defaults: a bad state
// file is never fatal.
//
// What the state means is the caller's business; this package knows nothing
// of ports, routes or forwarding.
package store
