// Package testenv helps tests that need real outside programs (kamailio,
// sipp, promtool, systemd-analyze, qemu, ...): on a developer's machine a
// missing tool skips the test with the apt-get line that installs it; under
// CI=true a missing tool fails the test, so CI can never pass by skipping.
package testenv
