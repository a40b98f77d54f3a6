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
		"test": {usage: "test board|paths ...", help: "prove the appliance: its board's wiring (daemon stopped), or its fallback paths now (the commissioning report)",
			sub: testSub,
			flags: func(sub string, w io.Writer) {
				if sub == "paths" {
					runTestPaths(&env{stdout: w, stderr: io.Discard}, []string{"--help"})
					return
				}
				runTestBoard(context.Background(), []string{"--help"}, w, io.Discard)
			},
			run: func(e *env, a []string) int {
				switch {
				case len(a) > 0 && a[0] == "board":
					return runTestBoard(e.ctx, a[1:], e.stdout, e.stderr)
				case len(a) > 0 && a[0] == "paths":
					return runTestPaths(e, a[1:])
				}
				return usageErr(e, "usage: critlinectl test board --config FILE | critlinectl test paths [--json] [PATH...]")
			}},
		"firmware": {usage: "firmware VERB ...", help: "signed A/B firmware: keygen, build, verify, install, status, confirm, rollback",
			long: strings.TrimPrefix(fwUsage, "usage: critlinectl firmware VERB [FLAGS] [ARGS]\n\n"), sub: firmwareSub,
			flags: func(sub string, w io.Writer) {
				runFirmware(context.Background(), []string{sub, "--help"}, w, io.Discard)
			},
			run: func(e *env, a []string) int { return runFirmware(e.ctx, a, e.stdout, e.stderr) }},
	}
}
