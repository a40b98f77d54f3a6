package packaging_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
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

// TestMaintainerScripts runs postinst, prerm and postrm with stand-ins for
// every system command they use (and /bin/sh's builtins): each must exit 0
// and make the calls that create the user, the directories and enable the
// units; with no systemd running (an image build) they must not start
// anything.
func TestMaintainerScripts(t *testing.T) {
	if _, err := os.Stat("/run/systemd/system"); err == nil {
		t.Skip("systemd runs here: the scripts would start units for real")
	}
	cmds := []string{"systemd-sysusers", "systemd-tmpfiles", "udevadm", "deb-systemd-helper", "systemctl", "chgrp", "chmod", "rm", "adduser", "getent", "install"}
	bin, log := stubPath(t, cmds...)
	run := func(script string, args ...string) {
		t.Helper()
		cmd := exec.Command("/bin/sh", append([]string{filepath.Join("scripts", script)}, args...)...)
		cmd.Env = []string{"PATH=" + bin}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s %s: %v\n%s", script, strings.Join(args, " "), err, out)
		}
	}
	calls := func() string {
		b, _ := os.ReadFile(log)
		os.Remove(log)
		return string(b)
	}
	run("postinst", "configure")
	got := calls()
	for _, want := range []string{
		"systemd-sysusers critline.conf",
		"systemd-tmpfiles --create critline.conf",
		"deb-systemd-helper enable critlined.service critline-reboot.path",
	} {
		if !strings.Contains(got, want+"\n") {
			t.Errorf("postinst configure did not run %q; it ran:\n%s", want, got)
		}
	}
	if strings.Contains(got, "systemctl start") {
		t.Errorf("postinst started units without systemd running:\n%s", got)
	}
	run("postinst", "configure", "0.9.0") // upgrade
	calls()
	run("postinst", "abort-upgrade")
	if got := calls(); got != "" {
		t.Errorf("postinst abort-upgrade ran %s", got)
	}
	run("prerm", "remove")
	run("prerm", "upgrade", "1.0.0")
	if got := calls(); got != "" {
		t.Errorf("prerm without systemd ran %s", got)
	}
	run("postrm", "remove")
	calls()
	run("postrm", "purge")
	got = calls()
	if !strings.Contains(got, "deb-systemd-helper purge critlined.service critline-reboot.path\n") || !strings.Contains(got, "rm -rf /var/lib/critline /etc/critline/firmware-keys\n") {
		t.Errorf("postrm purge ran:\n%s", got)
	}
}
