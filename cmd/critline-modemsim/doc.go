// Command critline-modemsim runs the simulated SIM7600-class modem on real
// ptys, prints the stable paths of its AT and PCM ports, and takes control
// verbs on stdin, one per line (the same verbs as `critlinectl sim trunk`;
// "help" lists them). It needs Linux ptys; elsewhere it says so and exits.
package main
