// Package rtp carries a SIP call's voice: G.711 A-law and µ-law coding,
// a minimal SDP offer/answer (PCMA, PCMU, telephone-event/8000, ptime 20),
// RTP streams on symmetric UDP ports taken from a configured range, an
// adaptive jitter buffer paced by the consumer's (the FXS port's device)
// clock, RFC 4733 telephone events (digits and hook flash, event 16) and
// per-stream loss and jitter statistics.
//
// A Stream looks like a hal.PCM to the port that pumps it: WriteFrame encodes
// and sends one 20 ms packet, ReadFrame hands back the next 20 ms from the
// jitter buffer without ever waiting for the network. Nothing here knows SIP
// signalling (that is package sip), the hardware, or Prometheus: callers read
// Stats and publish them.
package rtp
