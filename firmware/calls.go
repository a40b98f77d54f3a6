package firmware

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"time"
)

// CallQuery reports whether a call is up on the appliance, with a few words
// saying which lines are busy.
type CallQuery func(ctx context.Context) (busy bool, detail string, err error)

// DaemonCalls asks the running daemon over its control socket (GET
// /v1/status): any port whose state is not "idle" or "parked" (or
// "stopped": not running) counts as a call up. When no daemon listens on the socket there is no call to cut, and
// the answer is "not busy".
func DaemonCalls(socket string) CallQuery {
	return func(ctx context.Context) (bool, string, error) {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		}}
		defer tr.CloseIdleConnections()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://critlined/v1/status", nil)
		if err != nil {
			return false, "", err
		}
		resp, err := (&http.Client{Transport: tr}).Do(req)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOENT) {
				return false, "daemon not running", nil
			}
			return false, "", fmt.Errorf("asking the daemon on %s: %w", socket, err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return false, "", fmt.Errorf("daemon on %s answered GET /v1/status with %s", socket, resp.Status)
		}
		return parseCallStatus(io.LimitReader(resp.Body, 4<<20))
	}
}

// parseCallStatus reads the ports' states from a /v1/status document.
func parseCallStatus(r io.Reader) (bool, string, error) {
	var doc struct {
		Ports []struct {
			ID    json.RawMessage `json:"id"`
			Name  string          `json:"name"`
			State string          `json:"state"`
		} `json:"ports"`
	}
	if err := json.NewDecoder(r).Decode(&doc); err != nil {
		return false, "", fmt.Errorf("daemon status is not the JSON expected: %w", err)
	}
	var busy []string
	for _, p := range doc.Ports {
		switch p.State {
		case "idle", "parked", "stopped": // "stopped": the port is not running, so no call
			continue
		}
		busy = append(busy, fmt.Sprintf("port %s is %s", strings.Trim(string(p.ID), `"`), clip(p.State)))
	}
	if len(busy) > 0 {
		return true, strings.Join(busy, ", "), nil
	}
	return false, fmt.Sprintf("%d ports idle", len(doc.Ports)), nil
}
