// Package testpeer starts real peers for critline's end-to-end tests:
// kamailio as the PBX (registrar and proxy with digest auth) on loopback or
// inside a test network namespace, restartable on the same address so a
// test can kill the PBX and bring it back. Tests only; it fails (under CI)
// or skips (on a developer's machine) when kamailio is missing.
package testpeer
