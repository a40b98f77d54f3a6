package survivability

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/critline/critline/control"
	"github.com/critline/critline/survivability/forwarding"
)

// Forward sets or clears a port's forwarding for the field tool.
func (a *Appliance) Forward(req control.ForwardRequest) (string, error) {
	if a.fwd == nil {
		return "", errors.New("call forwarding is not set up on this appliance")
	}
	if _, ok := a.ports[req.Port]; !ok {
		return "", fmt.Errorf("no port %d: %w", req.Port, control.ErrNotFound)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	defer a.syncForwarding()
	if req.Number == "" {
		var kind forwarding.Kind
		if req.Kind != "" && req.Kind != "all" {
			k, err := forwarding.ParseKind(req.Kind)
			if err != nil {
				return "", err
			}
			kind = k
		}
		if err := a.fwd.Clear(ctx, req.Port, kind, forwarding.ViaCtl, "critlinectl"); err != nil {
			return "", err
		}
		what := req.Kind
		if what == "" {
			what = "all"
		}
		return fmt.Sprintf("port %d: %s forwarding cleared", req.Port, what), nil
	}
	kind, err := forwarding.ParseKind(req.Kind)
	if err != nil {
		return "", err
	}
	var after time.Duration
	if req.After != "" {
		if after, err = time.ParseDuration(req.After); err != nil {
			return "", fmt.Errorf("after %q: write a duration like 20s", req.After)
		}
	}
	// A change that cannot be saved is refused (forwarding.ErrNotSaved):
	// the field tool exits non-zero with the reason.
	if err := a.fwd.Set(ctx, req.Port, kind, req.Number, after, forwarding.ViaCtl, "critlinectl"); err != nil {
		return "", err
	}
	return fmt.Sprintf("port %d: %s forwarding to %s is on (the porter hears special dial tone)", req.Port, kind, req.Number), nil
}

// Unlock lifts remote-activation lockouts.
func (a *Appliance) Unlock(req control.UnlockRequest) (string, error) {
	if a.fwd == nil {
		return "", errors.New("call forwarding is not set up on this appliance")
	}
	n, err := a.fwd.Unlock(req.Kind, req.Key, "critlinectl")
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%d lockout(s) lifted", n), nil
}

// forwardingSummary is a port's forwarding as one status cell.
func forwardingSummary(st forwarding.Settings) string {
	var parts []string
	if st.Unconditional != "" {
		parts = append(parts, "all->"+st.Unconditional)
	}
	if st.Busy != "" {
		parts = append(parts, "busy->"+st.Busy)
	}
	if st.NoAnswer != "" {
		parts = append(parts, "no-answer("+strconv.Itoa(int(st.NoAnswerAfter.Seconds()))+"s)->"+st.NoAnswer)
	}
	return strings.Join(parts, " ")
}
