package packaging_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/critline/critline/internal/testenv"
)

// stubPath makes a PATH folder whose commands only log their arguments, so
// the maintainer scripts can run here without touching this machine.
func stubPath(t *testing.T, names ...string) (dir, log string) {
	t.Helper()
	dir = t.TempDir()
	log = filepath.Join(dir, "calls.log")
	for _, n := range names {
		script := "#!/bin/sh\necho \"" + n + " $*\" >> " + log + "\n"
		if err := os.WriteFile(filepath.Join(dir, n), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir, log
}

// scriptHost runs maintainer scripts the way dpkg would on a host that does
// (or does not) run systemd and udev, whatever this machine runs: each
// script runs in a private mount namespace whose /run is an empty tmpfs
// holding only the directories the scripts test for, with stand-ins for
// every system command on PATH. As root (CI) that is a plain mount
// namespace; otherwise a user namespace maps this user to root in it.
type scriptHost struct {
	t       *testing.T
	stubs   string
	log     string
	systemd bool // /run/systemd/system exists
	udev    bool // /run/udev exists
}

// wrapper mounts the fake /run and then runs the script with only the
// stand-ins on PATH. Exit 97 means the namespace could not be set up.
const wrapper = `mount -t tmpfs critline-test /run || exit 97
for d in $RUNDIRS; do mkdir -p "/run/$d" || exit 97; done
PATH=$STUBS
export PATH
exec /bin/sh "$@"`

func (h *scriptHost) run(script string, args ...string) {
	h.t.Helper()
	var dirs []string
	if h.systemd {
		dirs = append(dirs, "systemd/system")
	}
	if h.udev {
		dirs = append(dirs, "udev")
	}
	cmd := exec.Command("/bin/sh", append([]string{"-c", wrapper, "sh", filepath.Join("scripts", script)}, args...)...)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "STUBS=" + h.stubs, "RUNDIRS=" + strings.Join(dirs, " ")}
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
	if uid, gid := os.Geteuid(), os.Getegid(); uid != 0 {
		cmd.SysProcAttr.Cloneflags = syscall.CLONE_NEWUSER
		cmd.SysProcAttr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: uid, Size: 1}}
		cmd.SysProcAttr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: gid, Size: 1}}
	}
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee) && ee.ExitCode() == 97, err != nil && ee == nil:
		testenv.Missing(h.t, "cannot run the maintainer scripts in a private mount namespace (needs root, or unprivileged user namespaces): "+strings.TrimSpace(string(out)+" "+err.Error()))
	case err != nil:
		h.t.Fatalf("%s %s: %v\n%s", script, strings.Join(args, " "), err, out)
	}
}

// calls returns the commands run since the last call.
func (h *scriptHost) calls() string {
	b, _ := os.ReadFile(h.log)
	os.Remove(h.log)
	return string(b)
}

func newScriptHost(t *testing.T, systemd, udev bool) *scriptHost {
	cmds := []string{"systemd-sysusers", "systemd-tmpfiles", "udevadm", "deb-systemd-helper", "systemctl", "chgrp", "chmod", "rm", "adduser", "getent", "install"}
	stubs, log := stubPath(t, cmds...)
	return &scriptHost{t: t, stubs: stubs, log: log, systemd: systemd, udev: udev}
}

func mustRun(t *testing.T, got string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(got, w+"\n") {
			t.Errorf("did not run %q; ran:\n%s", w, got)
		}
	}
}

// TestMaintainerScriptsWithoutSystemd: in an image build (a chroot, no
// systemd running) postinst, prerm and postrm create the user and the
// directories and enable the units, and start nothing.
func TestMaintainerScriptsWithoutSystemd(t *testing.T) {
	h := newScriptHost(t, false, false)
	h.run("postinst", "configure")
	got := h.calls()
	mustRun(t, got,
		"systemd-sysusers critline.conf",
		"systemd-tmpfiles --create critline.conf",
		"deb-systemd-helper enable critlined.service critline-reboot.path")
	if strings.Contains(got, "systemctl") || strings.Contains(got, "udevadm") {
		t.Errorf("postinst touched systemd or udev, which do not run here:\n%s", got)
	}
	h.run("postinst", "configure", "0.9.0") // upgrade
	if got := h.calls(); strings.Contains(got, "systemctl") {
		t.Errorf("postinst upgrade without systemd ran systemctl:\n%s", got)
	}
	h.run("postinst", "abort-upgrade")
	if got := h.calls(); got != "" {
		t.Errorf("postinst abort-upgrade ran %s", got)
	}
	h.run("prerm", "remove")
	h.run("prerm", "upgrade", "1.0.0")
	if got := h.calls(); got != "" {
		t.Errorf("prerm without systemd ran %s", got)
	}
	h.run("postrm", "remove")
	if got := h.calls(); got != "" {
		t.Errorf("postrm remove without systemd ran %s", got)
	}
	h.run("postrm", "purge")
	mustRun(t, h.calls(),
		"deb-systemd-helper purge critlined.service critline-reboot.path",
		"rm -rf /var/lib/critline /etc/critline/firmware-keys")
}

// TestMaintainerScriptsWithSystemd: on a running appliance the scripts
// apply the udev rules, start the units on install, restart the daemon into
// the new binaries on upgrade (not on abort), and stop it on removal but
// not on upgrade.
func TestMaintainerScriptsWithSystemd(t *testing.T) {
	h := newScriptHost(t, true, true)
	h.run("postinst", "configure")
	mustRun(t, h.calls(),
		"systemd-sysusers critline.conf",
		"systemd-tmpfiles --create critline.conf",
		"udevadm control --reload-rules",
		"udevadm trigger --action=change --subsystem-match=gpio --subsystem-match=tty --subsystem-match=sound",
		"deb-systemd-helper enable critlined.service critline-reboot.path",
		"systemctl daemon-reload",
		"systemctl start critline-reboot.path",
		"systemctl start critlined.service")
	h.run("postinst", "configure", "0.9.0") // upgrade
	got := h.calls()
	mustRun(t, got, "systemctl daemon-reload", "systemctl try-restart critlined.service")
	if strings.Contains(got, "systemctl start critlined.service") {
		t.Errorf("upgrade started a daemon that try-restart found running (the stand-in systemctl says active):\n%s", got)
	}
	h.run("postinst", "abort-upgrade")
	if got := h.calls(); got != "" {
		t.Errorf("postinst abort-upgrade ran %s", got)
	}
	h.run("prerm", "upgrade", "1.0.0")
	if got := h.calls(); got != "" {
		t.Errorf("prerm upgrade stopped something (postinst restarts it):\n%s", got)
	}
	h.run("prerm", "remove")
	mustRun(t, h.calls(), "systemctl stop critlined.service critline-reboot.path")
	h.run("postrm", "remove")
	mustRun(t, h.calls(), "systemctl daemon-reload")
	h.run("postrm", "purge")
	mustRun(t, h.calls(),
		"deb-systemd-helper purge critlined.service critline-reboot.path",
		"rm -rf /var/lib/critline /etc/critline/firmware-keys")
}
