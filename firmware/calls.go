package firmware

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/critline/critline/control"
)

// CallQuery reports whether a call is up on the appliance, with a few words
// saying which lines are busy.
type CallQuery func(ctx context.Context) (busy bool, detail string, err error)

// DaemonCalls asks the running daemon over its control socket (GET
// /v1/status): any port whose state is not "idle" or "parked" (or
// "stopped": not running) counts as a call up. When no daemon listens on
// the socket there is no call to cut, and the answer is "not busy".
func DaemonCalls(socket string) CallQuery {
	return func(ctx context.Context) (bool, string, error) {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		st, err := control.NewClient(socket).Status(ctx)
		var notRunning *control.NotRunningError
		switch {
		case errors.As(err, &notRunning):
			if errors.Is(err, os.ErrPermission) || errors.Is(err, syscall.EACCES) {
				return false, "", fmt.Errorf("asking the daemon on %s: %w", socket, err)
			}
			return false, "daemon not running", nil
		case err != nil:
			return false, "", fmt.Errorf("asking the daemon on %s: %w", socket, err)
		}
		return busyPorts(st)
	}
}

// busyPorts says which ports carry a call.
func busyPorts(st control.Status) (bool, string, error) {
	var busy []string
	for _, p := range st.Ports {
		switch p.State {
		case "idle", "parked", "stopped": // "stopped": the port is not running, so no call
			continue
		case "":
			return false, "", fmt.Errorf("daemon status names port %d without a state: cannot tell whether a call is up", p.ID)
		}
		busy = append(busy, fmt.Sprintf("port %d is %s", p.ID, clip(p.State)))
	}
	if len(busy) > 0 {
		return true, strings.Join(busy, ", "), nil
	}
	return false, fmt.Sprintf("%d ports idle", len(st.Ports)), nil
}
