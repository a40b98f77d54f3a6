// Package packaging holds critline's Debian packaging as data: the nfpm
// configuration (nfpm.yaml), the maintainer scripts (scripts/), the default
// configuration installed as the conffile /etc/critline/critline.toml, and
// critline-bootselect, the POSIX-shell boot counter that bootloaders and
// initramfs stages run (docs/firmware.md).
//
// There is no Go code here. The tests (package packaging_test) build both
// .debs with scripts/build-deb and check them with dpkg-deb. They also run
// critline-bootselect against boot-state files written by package firmware.
package packaging
