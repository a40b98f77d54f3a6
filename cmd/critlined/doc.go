// Command critlined is the critline daemon: it reads the configuration,
// opens the board, wires the ports, SIP lines and trunks to the
// survivability layer, serves the control API on a unix socket and
// Prometheus metrics over HTTP, talks to systemd (READY, watchdog), stops
// cleanly on SIGTERM/SIGINT with every relay in bypass first, and re-reads
// its configuration on SIGHUP. It holds no logic of its own: wiring only.
package main
