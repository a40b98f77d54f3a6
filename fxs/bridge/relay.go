package bridge

import (
	"context"
	"errors"
	"time"

	"github.com/critline/critline/hal"
)

// Pacer says when the next frame period starts.
type Pacer interface {
	// Wait blocks until the next frame is due, or ctx ends (its error).
	Wait(ctx context.Context) error
	// Stop releases the pacer.
	Stop()
}

// Ticker is a Pacer on the system's monotonic clock, one frame every
// hal.FrameDuration. A late tick is not made up twice (time.Ticker drops
// ticks for a slow reader), so a stalled relay resumes at the normal pace.
type Ticker struct{ t *time.Ticker }

// NewTicker starts a pacer.
func NewTicker() *Ticker { return &Ticker{t: time.NewTicker(hal.FrameDuration)} }

// Wait implements Pacer.
func (t *Ticker) Wait(ctx context.Context) error {
	select {
	case <-t.t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Stop implements Pacer.
func (t *Ticker) Stop() { t.t.Stop() }

// Relay joins the audio of a and b until ctx ends or either side is closed
// (hal.ErrClosed): once per frame it reads a frame from each and writes it
// to the other. pace sets the frame period; nil means a's ReadFrame is
// paced by its own device clock (a trunk's voice channel) and sets it.
// Relay returns ctx's error, or the error that stopped it; other read and
// write errors are counted in the result's Errors and the relay goes on
// (a lost frame is silence). It does not allocate per frame.
func Relay(ctx context.Context, a, b Media, pace Pacer) (RelayStats, error) {
	var fa, fb hal.Frame
	var st RelayStats
	for {
		if pace != nil {
			if err := pace.Wait(ctx); err != nil {
				return st, err
			}
		} else if err := ctx.Err(); err != nil {
			return st, err
		}
		if err := st.check(a.ReadFrame(&fa), &fa); err != nil {
			return st, err
		}
		if err := st.check(b.ReadFrame(&fb), &fb); err != nil {
			return st, err
		}
		if err := st.check(a.WriteFrame(&fb), nil); err != nil {
			return st, err
		}
		if err := st.check(b.WriteFrame(&fa), nil); err != nil {
			return st, err
		}
		st.Frames++
	}
}

// RelayStats counts a relay's work.
type RelayStats struct {
	Frames uint64 // frame periods relayed (one frame each way)
	Errors uint64 // reads or writes that failed and were passed over
}

// check passes over an error that does not end the relay (counted; a
// frame that could not be read is silence) and returns one that does.
func (st *RelayStats) check(err error, read *hal.Frame) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, hal.ErrClosed) {
		return err
	}
	st.Errors++
	if read != nil {
		clear(read[:])
	}
	return nil
}
