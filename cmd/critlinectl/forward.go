package main

import (
	"fmt"
	"strings"

	"github.com/critline/critline/control"
	"github.com/critline/critline/survivability/forwarding"
)

const forwardUsage = `usage: critlinectl forward ...
  forward PORT unconditional|busy|no-answer NUMBER [--after 20s]   forward a port's calls
  forward PORT clear [unconditional|busy|no-answer]                stop forwarding (all kinds by default)
  forward unlock [caller NUMBER|withheld]                          lift remote-activation lockouts (all by default)
  forward pin-hash PIN                                             print a pin_hash for the config file`

func runForward(e *env, args []string) int {
	if len(args) == 0 {
		return usageErr(e, "%s", forwardUsage)
	}
	switch args[0] {
	case "help", "--help", "-h":
		fmt.Fprintln(e.stdout, forwardUsage)
		return exitOK
	case "pin-hash":
		if len(args) != 2 {
			return usageErr(e, "usage: forward pin-hash PIN")
		}
		if err := forwarding.CheckPIN(args[1]); err != nil {
			return fail(e, err)
		}
		h, err := forwarding.HashPIN(args[1])
		if err != nil {
			return fail(e, err)
		}
		fmt.Fprintf(e.stdout, "pin_hash = %q\n", h)
		return exitOK
	case "unlock":
		req := control.UnlockRequest{}
		switch len(args) {
		case 1:
		case 3:
			if args[1] != "caller" && args[1] != "port" { // port: the daemon explains ports are never locked
				return usageErr(e, "usage: forward unlock [caller NUMBER|withheld]")
			}
			req.Kind, req.Key = args[1], args[2]
		default:
			return usageErr(e, "usage: forward unlock [caller NUMBER|withheld]")
		}
		return posted(e, "/v1/forward/unlock", req)
	}
	p, ok := port(e, args[0])
	if !ok {
		return exitUsage
	}
	rest := args[1:]
	if len(rest) >= 1 && rest[0] == "clear" {
		if len(rest) > 2 {
			return usageErr(e, "usage: forward PORT clear [KIND]")
		}
		req := control.ForwardRequest{Port: p}
		if len(rest) == 2 {
			req.Kind = rest[1]
		}
		return posted(e, "/v1/forward", req)
	}
	req := control.ForwardRequest{Port: p}
	var pos []string
	for i := 0; i < len(rest); i++ {
		switch {
		case rest[i] == "--after" && i+1 < len(rest):
			req.After = rest[i+1]
			i++
		case strings.HasPrefix(rest[i], "--after="):
			req.After = strings.TrimPrefix(rest[i], "--after=")
		default:
			pos = append(pos, rest[i])
		}
	}
	if len(pos) != 2 {
		return usageErr(e, "%s", forwardUsage)
	}
	req.Kind, req.Number = pos[0], pos[1]
	return posted(e, "/v1/forward", req)
}
