// Command promptgen makes the remote-activation prompts: it speaks every
// line of survivability/prompts/texts/LANG.txt with flite and stores each as
// 8 kHz G.711 A-law in OUT/LANG/NAME.alaw. scripts/make-prompts runs it
// (make prompts); the prompts package's test runs it again and checks that
// the committed files are exactly what it makes.
//
// The same flite, voice and text always give the same bytes: flite is
// deterministic, and the conversion below uses integer arithmetic only
// (a fixed half-band filter, integer level scaling), so no floating-point
// rounding differs between machines.
package main
