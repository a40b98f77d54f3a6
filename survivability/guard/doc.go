// Package guard is the toll-fraud guard for calls that leave the appliance
// by a trunk (and for call-forwarding destinations, which become such
// calls). Before a number is dialled it is rewritten by the route's rules
// (internal extensions to full PSTN numbers) and then checked: emergency
// numbers always pass; a route's deny patterns, the premium-rate and
// international categories (denied unless the route allows them), the
// route's allow list and its daily minutes cap can each block it, with a
// reason that is logged and counted (critline_fraud_blocked_total{reason}).
// Each allowed call carries a maximum duration.
//
// Patterns are simple digit maps: digits, '#', '+' and '*' match
// themselves, 'x' matches any digit, [1-9] or [135] a class, and a trailing
// '*' anything that follows ("09*"). Rewrite rules read "2xxxxx ->
// 018652xxxxx": each wildcard of the pattern fills the next 'x' of the
// template, and a trailing '*' carries the rest ("+44* -> 0*").
//
// The daily minutes used per route are kept in a state file (package store)
// and reset at local midnight. The guard decides; it does not dial, time or
// hang up calls: the call router does that with the Decision it gets.
package guard
