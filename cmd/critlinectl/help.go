package main

import (
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
)

// printFlags lists a flag set's flags on w.
func printFlags(w io.Writer, fs *flag.FlagSet) {
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	if n == 0 {
		return
	}
	fmt.Fprintln(w, "\nFlags:")
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}

// wantsHelp reports whether a verb's arguments ask for its usage: -h,
// -help or --help anywhere, or "help" first ("sim help"; "sim trunk help"
// is passed on: it asks the daemon's modem simulator for its verbs).
func wantsHelp(args []string) bool {
	if len(args) > 0 && args[0] == "help" {
		return true
	}
	for _, a := range args {
		if a == "-h" || a == "-help" || a == "--help" {
			return true
		}
	}
	return false
}

// printVerbHelp prints the usage of a verb, or of its sub-verb when args
// name one, on w.
func printVerbHelp(w io.Writer, name string, v verb, args []string) {
	if len(args) > 0 {
		if s, ok := v.sub[args[0]]; ok {
			fmt.Fprintf(w, "usage: critlinectl %s %s\n", name, strings.TrimRight(s, "\n"))
			if v.flags != nil {
				v.flags(args[0], w)
			}
			return
		}
	}
	fmt.Fprintf(w, "usage: critlinectl [--socket PATH] %s\n\n%s\n", v.usage, v.help)
	if v.long != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimRight(v.long, "\n"))
	}
	if len(v.sub) > 0 {
		names := make([]string, 0, len(v.sub))
		for n := range v.sub {
			names = append(names, n)
		}
		sort.Strings(names)
		fmt.Fprintf(w, "\n'critlinectl %s VERB --help' explains each of: %s\n", name, strings.Join(names, ", "))
	}
}

// The sub-verbs' usage: the synopsis after "critlinectl VERB", then what
// it does.
var (
	simSub = map[string]string{
		"hook": "hook PORT off|on\n\nLift (off) or replace (on) the handset of a port on the simulated board; returns once\nthe port has seen it (a replaced handset takes the profile's clear time), so the next\ncommand finds the port idle or off-hook.",
		"dial": "dial PORT DIGITS [--pulse]\n\nKey DTMF digits (0-9 * # A-D) into the handset, or pulse-dial them as a rotary\n" +
			"dial does with --pulse (loop-disconnect breaks on the hook line). Lift the handset first.\n" +
			"Returns once the digits have been keyed.",
		"flash": "flash PORT\n\nA 100 ms timed-break recall (register recall, R) on the hook line; returns once the port\nhas taken it, so digits keyed next are the code after R (sim dial 1 2: R2).",
		"power": "power mains|battery|battery-low\n\nThe supply: mains present, on battery, or battery low (the appliance goes to lifeline).",
		"link":  "link up|down\n\nPlug or unplug the simulated LAN cable.",
		"trunk": "trunk [--trunk NAME] VERB ARGS\n\nDrive the simulated modem of a sim trunk (--trunk names it when there are several).\n" +
			"'critlinectl sim trunk help' asks the running simulator for its verbs (ring NUMBER, busy,\n" +
			"network off, vanish, dtmf DIGITS, ...).",
		"play": "play PORT FILE\n\nAudio into the port, as if spoken into the handset: a WAV file (8 kHz mono 16-bit)\n" +
			"or raw s16le 8 kHz mono. examples/speech.wav is a spoken sample. Returns at once; the audio plays for its length.",
		"copper": "copper PORT live|dead\n\nCut (dead) or restore (live) the simulated copper line behind a port's relay:\n" +
			"the line sensor then reads no voltage, as after a fault at the exchange.",
		"listen": "listen PORT --seconds N --out FILE\n\nRecord what the handset's earpiece receives (tones, voice, caller-ID FSK) for N\n" +
			"seconds; FILE is WAV when it ends in .wav, else raw s16le 8 kHz mono.",
		"watch": "watch [PORT]\n\nStream the board's output changes (ring, polarity, relay), hook changes and each\n" +
			"port's state changes as JSON lines with board timestamps, until Ctrl-C.",
	}
	forwardSub = map[string]string{
		"unconditional": "PORT unconditional NUMBER\n\nForward every call for the port to NUMBER (the porter hears special dial tone).",
		"busy":          "PORT busy NUMBER\n\nForward the port's calls to NUMBER while its handset is busy.",
		"no-answer":     "PORT no-answer NUMBER [--after 20s]\n\nForward calls still ringing after --after (default: the configured no_answer_after).",
		"clear":         "PORT clear [unconditional|busy|no-answer]\n\nStop forwarding a port (every kind by default).",
		"unlock":        "unlock [caller NUMBER | port N]\n\nLift remote-activation lockouts: all of them, one caller's or one port's.",
		"pin-hash":      "pin-hash PIN\n\nPrint a pin_hash line for a [[port]] section, so the configuration holds no plain PIN.\nThe PIN must have 6 to 16 digits and not be a run or a repeated digit.",
	}
	configSub = map[string]string{
		"check": "check FILE\n\nMake every check critlined makes before it starts (the same code as\n" +
			"'critlined --check-config --config FILE'): print 'FILE: valid (...)' and exit 0,\n" +
			"or list every problem as 'file:line: key: what is wrong and the fix' and exit 78.",
	}
	testSub = map[string]string{
		"board": "board --config FILE [--hold 1s] [--watch 30s] [--no-audio]\n\nWith critlined stopped, open the real GPIO board of FILE, read every input, drive\n" +
			"every output (relays, ring, polarity, LEDs) and play a tone on each port's audio device;\n" +
			"every relay ends in bypass.",
		"paths": "paths [--json] [PATH...]\n\nAsk the running daemon to test every fallback path now, one after the other, and print\n" +
			"the commissioning report: each path (trunk:NAME calls its test_number, registrar:NAME its\n" +
			"test_extension, copper:PORT reads the line behind the port's relay), the result (ok, failed,\n" +
			"cannot-test where the board lacks what the check needs, skipped while a porter is busy),\n" +
			"setup time, audio level or line voltage and what was found. PATH limits the run to those\n" +
			"paths. Each test takes at most 20 s; a porter lifting a handset ends it at once.\n" +
			"Exit 0 when every path is ok (or cannot be tested on this board), 1 otherwise.\n" +
			"--json prints the report as JSON (README.md describes it).",
	}
	firmwareSub = map[string]string{
		"keygen":   "keygen NAME [--force]\n\nMake a signing key pair: NAME.key (keep it offline) and NAME.pub.",
		"build":    "build --key NAME.key --version V --security-version N --board B[,B...] (--rootfs IMAGE | --release DIR) --out FILE\n\nBuild a signed bundle.",
		"verify":   "verify [--key PUB]... [--json] [--config FILE] BUNDLE\n\nCheck a bundle's signature, manifest and every payload digest; print the manifest and signer.",
		"install":  "install [--now] [--allow-downgrade] [--reboot] [--config FILE] BUNDLE|-\n\nWrite the bundle into the inactive slot, read it back, and arm a trial boot.",
		"status":   "status [--json] [--verify] [--config FILE]\n\nSlots, trial boot, interrupted installs and the last result, from the [firmware] section.",
		"confirm":  "confirm [--config FILE]\n\nKeep the running trial slot (the daemon does this once it is healthy).",
		"rollback": "rollback [--allow-downgrade] [--reboot] [--config FILE]\n\nUndo the last install, or go back to the other slot.",
	}
)
