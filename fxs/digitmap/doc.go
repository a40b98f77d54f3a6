// Package digitmap parses and matches dial plans written as digit maps, the
// MGCP-style notation "999|112|0[1-9]xxxxxxxxx|2xxxx|*xx". The port feeds it
// the digits dialled so far and learns whether they already make a number,
// could still become one, or never will.
//
// Timers, emergency numbers and the "#" send-now key are the port's business
// (package fxs); this package only knows patterns.
package digitmap
