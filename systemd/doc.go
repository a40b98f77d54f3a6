// Package systemd holds critline's systemd and udev integration as data:
// critlined.service (Type=notify, watchdog, Restart=always, hardened to an
// exposure of 1.5 ("OK") while still reaching its GPIO chips, modem ttys and
// sound devices and binding its unprivileged SIP, RTP and metrics ports),
// the critline-reboot path/service pair through which the unprivileged daemon
// asks for a reboot after a failed trial boot, the sysusers and tmpfiles
// files, and the udev rules (60-critline.rules) that hand the hardware to
// the critline group and give modems stable names.
//
// There is no Go code here: the tests (package systemd_test) check the files
// with systemd-analyze verify, systemd-analyze security --offline=true,
// systemd-sysusers and systemd-tmpfiles. The packaging (packaging/nfpm.yaml)
// installs them.
package systemd
