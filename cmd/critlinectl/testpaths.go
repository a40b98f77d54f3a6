package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/critline/critline/control"
)

const testPathsUsage = "usage: critlinectl test paths [--json] [PATH...]"

// runTestPaths is `critlinectl test paths`: the daemon tests every path
// now (or those named: trunk:NAME, registrar:NAME, copper:PORT) and the
// tool prints the commissioning report. Exit 0 when every path is ok or
// cannot be tested on this board, 1 when one failed or was skipped.
func runTestPaths(e *env, args []string) int {
	fs := flag.NewFlagSet("test paths", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	asJSON := fs.Bool("json", false, "print the report as JSON (the contract in README.md)")
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		printFlags(e.stdout, fs)
		return exitOK
	}
	if err != nil {
		return usageErr(e, "test paths: %v\n%s", err, testPathsUsage)
	}
	rep, err := e.client().TestPaths(e.ctx, control.PathTestRequest{Paths: fs.Args()})
	if err != nil {
		return fail(e, err)
	}
	if *asJSON {
		b, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return fail(e, err)
		}
		fmt.Fprintln(e.stdout, string(b))
	} else {
		printReport(e.stdout, rep)
	}
	for _, p := range rep.Paths {
		if p.Result == "failed" || p.Result == "skipped" {
			return exitFail
		}
	}
	return exitOK
}

// printReport prints the commissioning report an engineer hands over.
func printReport(w io.Writer, rep control.PathReport) {
	fmt.Fprintf(w, "critline path test report: %s (critline %s, %s board), %s\n\n", rep.Host, rep.Version, rep.Board,
		rep.At.Local().Format("2006-01-02 15:04:05 MST"))
	if len(rep.Paths) == 0 {
		fmt.Fprintln(w, "No paths to test: give a [[trunk]] test_number, a [[sip.registrar]] test_extension,\nor a [[port]] behind_relay = \"copper\".")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PATH\tCALLED\tRESULT\tSETUP\tAUDIO\tDETAIL")
	count := map[string]int{}
	for _, p := range rep.Paths {
		count[p.Result]++
		setup, audio := "-", "-"
		if p.SetupSeconds > 0 {
			setup = fmt.Sprintf("%.2f s", p.SetupSeconds)
		}
		switch {
		case p.AudioDBm0 != nil:
			audio = fmt.Sprintf("%.1f dBm0", *p.AudioDBm0)
		case p.LineVolts != nil:
			audio = fmt.Sprintf("%.0f V line", *p.LineVolts)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", p.Path, p.Target, strings.ToUpper(p.Result), setup, audio, p.Detail)
	}
	tw.Flush()
	var sum []string
	for _, r := range []string{"ok", "failed", "cannot-test", "skipped"} {
		if count[r] > 0 {
			sum = append(sum, fmt.Sprintf("%d %s", count[r], r))
		}
	}
	fmt.Fprintf(w, "\n%d paths: %s (tests took %s)\n", len(rep.Paths), strings.Join(sum, ", "), took(rep).Round(100*time.Millisecond))
}

// took is how long the run took, from the first start to the last end.
func took(rep control.PathReport) time.Duration {
	var d time.Duration
	for _, p := range rep.Paths {
		if end := p.At.Add(time.Duration(p.Seconds * float64(time.Second))).Sub(rep.At); end > d {
			d = end
		}
	}
	return d
}
