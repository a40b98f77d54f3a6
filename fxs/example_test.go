package fxs_test

import (
	"context"
	"log/slog"

	"github.com/critline/critline/fxs"
	"github.com/critline/critline/fxs/dsp"
	"github.com/critline/critline/fxs/profile"
	"github.com/critline/critline/hal"
)

// exampleRouter stands in for the survivability layer's router.
type exampleRouter struct{}

func (exampleRouter) Route(ctx context.Context, req fxs.RouteRequest, progress fxs.Progress) (fxs.Call, error) {
	// Pick a route (SIP, trunk) for req.Number, start the call, report
	// progress as it happens:
	//   progress.Update(fxs.CallUpdate{State: fxs.CallAlerting})
	//   progress.Update(fxs.CallUpdate{State: fxs.CallAnswered, Media: stream})
	//   progress.Update(fxs.CallUpdate{State: fxs.CallFailed, Reason: fxs.FailBusy})
	return nil, &fxs.CallError{Reason: fxs.FailCongestion}
}

// How the daemon wires one port of a board.
func Example() {
	var hw hal.Port      // from board.Ports()
	var clock hal.Clock  // the board's clock (hal.SystemClock on hardware)
	var log *slog.Logger // the daemon's logger
	var incoming fxs.InboundCall

	prof, err := profile.LoadFile("uk", "" /* board.profile_file */)
	if err != nil {
		return // report and exit 78
	}
	port, err := fxs.New(fxs.Config{
		ID: hw.ID, Line: hw.Line, Audio: hw.Audio, Clock: clock, Profile: prof,
		DialPlan:  "",                     // port.dial_plan; "" = the profile's
		Emergency: []string{"999", "112"}, // survivability.emergency
		Router:    exampleRouter{},
		Logger:    log,
	})
	if err != nil {
		return
	}
	events, stop := port.Subscribe(256) // for sim watch, status, metrics
	defer stop()
	go func() {
		for e := range events {
			_ = e // e.Kind, e.State, e.Digits, e.Condition ...
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go port.Run(ctx)

	// An inbound call for this port:
	progress, err := port.Offer(incoming, dsp.CallerID{Number: "01223334455", Name: "Lodge"})
	if err != nil {
		return // fxs.ErrBusy: divert, or SetCallWaiting(true)
	}
	// ... the caller gave up:
	progress.Update(fxs.CallUpdate{State: fxs.CallEnded})
	_ = port.Snapshot() // for critlinectl status
}
