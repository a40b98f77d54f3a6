// Package bridge joins the audio of two calls inside the process, frame by
// frame: no RTP, no codec, no allocation per frame.
//
// A Pair is two fxs.Media ends back to back: what one end's WriteFrame is
// given, the other end's ReadFrame returns. Each end is pumped by whoever
// holds it (an FXS port pumps its end at its own device's pace), so the two
// sides run on two clocks. Between them each direction keeps a small
// bounded buffer of frames and absorbs the drift as the rest of the code
// does (the modem's voice port, the RTP jitter buffer): playout starts once
// a couple of frames are buffered, a frame missing when it is due plays as
// silence (an insert, counted) and playout primes again, and frames beyond
// the buffer's depth are dropped oldest first (counted), so the delay
// across the bridge stays between one and four frames (20-80 ms) whatever
// the clocks do.
//
// Relay pumps two Media that nobody else pumps (an RTP stream, a trunk's
// voice channel, a Pair's end): it reads a frame from each and hands it to
// the other, once per frame period, paced by a Pacer (a ticker) or by the
// first Media's own ReadFrame when that one is a device paced by its clock
// (a trunk's voice channel).
//
// This package knows frames and nothing else: which calls are joined, and
// when, is the survivability layer's business (local calls, hunt groups,
// transfers). It imports only hal.
package bridge
