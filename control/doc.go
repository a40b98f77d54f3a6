// Package control is the contract between critlined and critlinectl: the
// JSON shapes of the control API (status above all, whose field names
// scripts and field engineers rely on), the HTTP handler the daemon serves on
// its unix socket, and the client the field tool uses.
//
// The handler knows nothing about boards, ports or SIP: it decodes and checks
// requests strictly (unknown fields, bad JSON, wrong verbs and oversized
// bodies get a 4xx and change nothing) and calls the small interfaces it is
// given. It is the package both commands share (docs/design.md, "The house");
// it imports nothing of ours but hal's audio constants.
package control
