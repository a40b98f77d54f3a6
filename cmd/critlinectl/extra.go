package main

import (
	"context"
	"io"
	"strings"
)

// extraVerbs are the offline verbs that live in their own files: test board
// (testboard.go) and firmware (firmware.go).
func extraVerbs() map[string]verb {
	return map[string]verb{
		"test": {usage: "test board --config FILE", help: "exercise every output and read every input of a real board (daemon stopped)",
			sub:   testSub,
			flags: func(_ string, w io.Writer) { runTestBoard(context.Background(), []string{"--help"}, w, io.Discard) },
			run: func(e *env, a []string) int {
				if len(a) == 0 || a[0] != "board" {
					return usageErr(e, "usage: critlinectl test board --config FILE (board is the only test so far)")
				}
				return runTestBoard(e.ctx, a[1:], e.stdout, e.stderr)
			}},
		"firmware": {usage: "firmware VERB ...", help: "signed A/B firmware: keygen, build, verify, install, status, confirm, rollback",
			long: strings.TrimPrefix(fwUsage, "usage: critlinectl firmware VERB [FLAGS] [ARGS]\n\n"), sub: firmwareSub,
			flags: func(sub string, w io.Writer) {
				runFirmware(context.Background(), []string{sub, "--help"}, w, io.Discard)
			},
			run: func(e *env, a []string) int { return runFirmware(e.ctx, a, e.stdout, e.stderr) }},
	}
}
