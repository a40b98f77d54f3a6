package main

// extraVerbs are the offline verbs that live in their own files: test board
// (testboard.go) and firmware (firmware.go).
func extraVerbs() map[string]verb {
	return map[string]verb{
		"test": {"test board --config FILE", "exercise every output and read every input of a real board (daemon stopped)",
			func(e *env, a []string) int {
				if len(a) == 0 || a[0] != "board" {
					return usageErr(e, "usage: critlinectl test board --config FILE (board is the only test so far)")
				}
				return runTestBoard(e.ctx, a[1:], e.stdout, e.stderr)
			}},
		"firmware": {"firmware VERB ...", "signed A/B firmware: keygen, build, verify, install, status, confirm, rollback",
			func(e *env, a []string) int { return runFirmware(e.ctx, a, e.stdout, e.stderr) }},
	}
}
