// Package prompts holds the spoken prompts of the remote-activation
// dialogue: one set per language, each prompt 8 kHz G.711 A-law (the
// coding every call path carries anyway), built in for British and
// American English and replaceable from a directory. A Player speaks a
// queue of prompts into 20 ms frames.
//
// The built-in files are made by scripts/make-prompts (make prompts) with
// flite from texts/LANG.txt; the tests check they are exactly what it
// makes. What the prompts say, and when, is the forwarding package's
// business; playing them to a caller is the call router's.
package prompts
