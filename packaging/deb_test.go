package packaging_test

import (
	"bytes"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/critline/critline/internal/testenv"
)

// TestDebianPackages builds critline_<version>_arm64.deb and _armhf.deb with
// scripts/build-deb (cross-compiling the daemon and the tool, nfpm from the
// module proxy) and checks each with dpkg-deb: control fields, conffiles,
// maintainer scripts, every file with its mode, the binaries' machine type,
// and that the shipped units and rules are the repository's.
func TestDebianPackages(t *testing.T) {
	if testing.Short() {
		t.Skip("builds two .debs (about a minute): not in -short mode")
	}
	dpkgDeb := testenv.LookTool(t, "dpkg-deb", "dpkg")
	goTool, err := exec.LookPath("go")
	if err != nil {
		testenv.Missing(t, "go is not on PATH")
	}
	out := t.TempDir()
	const version = "1.2.3~test1"
	cmd := exec.Command("../scripts/build-deb")
	cmd.Env = append(os.Environ(), "OUT="+out, "VERSION="+version, "GO="+goTool)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	if err != nil {
		t.Fatalf("scripts/build-deb: %v\n%s", err, stderr.String())
	}
	built := strings.Fields(string(stdout))
	for _, arch := range []struct {
		deb     string
		machine elf.Machine
	}{{"arm64", elf.EM_AARCH64}, {"armhf", elf.EM_ARM}} {
		deb := filepath.Join(out, "critline_"+version+"_"+arch.deb+".deb")
		if !contains(built, deb) {
			t.Fatalf("build-deb printed %q, not %s", built, deb)
		}
		t.Run(arch.deb, func(t *testing.T) { checkDeb(t, dpkgDeb, deb, arch.deb, version, arch.machine) })
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func checkDeb(t *testing.T, dpkgDeb, deb, arch, version string, machine elf.Machine) {
	for field, want := range map[string]string{"Package": "critline", "Version": version, "Architecture": arch} {
		if got := strings.TrimSpace(run(t, dpkgDeb, "--field", deb, field)); got != want {
			t.Errorf("%s: %s = %q, want %q", deb, field, got, want)
		}
	}
	// Every file, its mode and owner.
	listing := run(t, dpkgDeb, "--contents", deb)
	t.Logf("dpkg-deb --contents %s:\n%s", filepath.Base(deb), listing)
	files := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(listing), "\n") {
		f := strings.Fields(l)
		if len(f) < 6 {
			t.Fatalf("odd listing line %q", l)
		}
		if f[1] != "root/root" {
			t.Errorf("%s owned by %s", f[5], f[1])
		}
		files[strings.TrimPrefix(f[5], ".")] = f[0]
	}
	for path, mode := range map[string]string{
		"/usr/bin/critlined":                              "-rwxr-xr-x",
		"/usr/bin/critlinectl":                            "-rwxr-xr-x",
		"/usr/lib/systemd/system/critlined.service":       "-rw-r--r--",
		"/usr/lib/systemd/system/critline-reboot.service": "-rw-r--r--",
		"/usr/lib/systemd/system/critline-reboot.path":    "-rw-r--r--",
		"/usr/lib/sysusers.d/critline.conf":               "-rw-r--r--",
		"/usr/lib/tmpfiles.d/critline.conf":               "-rw-r--r--",
		"/usr/lib/udev/rules.d/60-critline.rules":         "-rw-r--r--",
		"/usr/lib/critline/critline-bootselect":           "-rwxr-xr-x",
		"/etc/critline/critline.toml":                     "-rw-r-----",
		"/etc/critline/firmware-keys/":                    "drwxr-xr-x",
		"/usr/share/doc/critline/firmware.md":             "-rw-r--r--",
	} {
		if got, ok := files[path]; !ok {
			t.Errorf("%s is missing from the package", path)
		} else if got != mode {
			t.Errorf("%s has mode %s, want %s", path, got, mode)
		}
	}
	// Control area: the configuration is a conffile (never overwritten on
	// upgrade), the maintainer scripts are there and parse.
	ctl := t.TempDir()
	run(t, dpkgDeb, "--control", deb, ctl)
	conffiles, _ := os.ReadFile(filepath.Join(ctl, "conffiles"))
	if strings.TrimSpace(string(conffiles)) != "/etc/critline/critline.toml" {
		t.Errorf("conffiles = %q", conffiles)
	}
	for _, s := range []string{"postinst", "prerm", "postrm"} {
		p := filepath.Join(ctl, s)
		st, err := os.Stat(p)
		if err != nil || st.Mode().Perm()&0o111 == 0 {
			t.Errorf("maintainer script %s missing or not executable (%v)", s, err)
			continue
		}
		run(t, "sh", "-n", p)
	}
	postinst, _ := os.ReadFile(filepath.Join(ctl, "postinst"))
	for _, want := range []string{"systemd-sysusers critline.conf", "enable critlined.service", "systemctl start critlined.service"} {
		if !strings.Contains(string(postinst), want) {
			t.Errorf("postinst does not %q", want)
		}
	}
	// Data: the binaries are static executables for the package's machine;
	// units and rules are byte for byte the repository's.
	root := t.TempDir()
	run(t, dpkgDeb, "--extract", deb, root)
	for _, b := range []string{"critlined", "critlinectl"} {
		f, err := elf.Open(filepath.Join(root, "usr/bin", b))
		if err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		if f.Machine != machine {
			t.Errorf("%s is for %v, want %v", b, f.Machine, machine)
		}
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				t.Errorf("%s is dynamically linked (CGO_ENABLED=0 expected)", b)
			}
		}
		f.Close()
	}
	for repo, inPkg := range map[string]string{
		"../systemd/critlined.service": "usr/lib/systemd/system/critlined.service",
		"../systemd/60-critline.rules": "usr/lib/udev/rules.d/60-critline.rules",
		"../systemd/critline.sysusers": "usr/lib/sysusers.d/critline.conf",
		"critline.toml":                "etc/critline/critline.toml",
	} {
		a, _ := os.ReadFile(repo)
		b, err := os.ReadFile(filepath.Join(root, inPkg))
		if err != nil || !bytes.Equal(a, b) {
			t.Errorf("%s in the package differs from %s (%v)", inPkg, repo, err)
		}
	}
	if !regexp.MustCompile(`(?m)^\[firmware\]$`).MatchString(string(mustRead(t, filepath.Join(root, "etc/critline/critline.toml")))) {
		t.Error("default config has no [firmware] section")
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
