package configcheck

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/critline/critline/config"
)

// Fixture is one broken configuration and the problems it must produce:
// its "# want: ..." lines, each a substring of the report.
type Fixture struct {
	Path string // absolute
	Want []string
}

// Fixtures returns the broken configurations in testdata/broken.
func fixtures(t testing.TB) []Fixture {
	t.Helper()
	files, err := filepath.Glob("testdata/broken/*.toml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	var out []Fixture
	for _, f := range files {
		abs, _ := filepath.Abs(f)
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		fx := Fixture{Path: abs}
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			if w, ok := strings.CutPrefix(sc.Text(), "# want: "); ok {
				fx.Want = append(fx.Want, w)
			}
		}
		if len(fx.Want) == 0 {
			t.Fatalf("%s has no '# want:' line", f)
		}
		out = append(out, fx)
	}
	return out
}

// Every broken fixture is refused with each problem it holds, on the line
// where it is written, and the daemon's exit code.
func TestBrokenFixtures(t *testing.T) {
	for _, fx := range fixtures(t) {
		t.Run(filepath.Base(fx.Path), func(t *testing.T) {
			t.Chdir(filepath.Dir(fx.Path)) // relative paths inside (profile_file) are the commands' cwd's
			name := filepath.Base(fx.Path)
			if _, err := Load(name, nil); err == nil {
				t.Fatal("accepted")
			}
			var out, errOut bytes.Buffer
			if code := Report(name, nil, &out, &errOut); code != ExitConfig {
				t.Errorf("exit %d, want %d", code, ExitConfig)
			}
			if out.Len() != 0 {
				t.Errorf("stdout for a refused file: %q", out.String())
			}
			for _, w := range fx.Want {
				if !strings.Contains(errOut.String(), w) {
					t.Errorf("missing %q in:\n%s", w, errOut.String())
				}
			}
			for _, l := range strings.Split(strings.TrimSpace(errOut.String()), "\n") {
				if !strings.HasPrefix(l, name+":") {
					t.Errorf("problem line without the file name: %q", l)
				}
			}
		})
	}
}

// The examples pass every check, and the check hands back what the daemon
// builds from them.
func TestExamples(t *testing.T) {
	for _, f := range []string{"../../examples/sim.toml", "../../examples/pi-hat.toml"} {
		c, err := Load(f, nil)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if c.Profile == nil || c.Profile.Name != c.Board.Profile {
			t.Errorf("%s: profile %+v", f, c.Profile)
		}
		if len(c.Forwarding.Ports) != len(c.Ports) {
			t.Errorf("%s: forwarding ports %+v", f, c.Forwarding.Ports)
		}
		var out, errOut bytes.Buffer
		if code := Report(f, nil, &out, &errOut); code != 0 || errOut.Len() != 0 || !strings.HasPrefix(out.String(), f+": valid (") {
			t.Errorf("%s: exit %d, stdout %q, stderr %q", f, code, out.String(), errOut.String())
		}
	}
}

// Command-line overrides are checked too, and named as such.
func TestOverridesAreChecked(t *testing.T) {
	_, err := Load("../../examples/sim.toml", func(c *config.Config) { c.Control.Socket = "relative.sock" })
	if err == nil || !strings.Contains(err.Error(), "after command-line overrides") || !strings.Contains(err.Error(), "control.socket") {
		t.Fatalf("got %v", err)
	}
}

func TestSplitKey(t *testing.T) {
	for _, tc := range []struct{ in, key, msg string }{
		{"survivability.guard.route[1].max_duration: 99h: use", "survivability.guard.route[1].max_duration", "99h: use"},
		{"port[0] (id 1).pin: the PIN has 4 digits", "port[0].pin", "the PIN has 4 digits"},
		{"port[2] (id 3): set pin or pin_hash, not both", "port[2]", "set pin or pin_hash, not both"},
		{"port forward_mirror: 2 ports mirror", "", "port forward_mirror: 2 ports mirror"},
		{"survivability.guard: toml: line 1: bad", "survivability.guard", "toml: line 1: bad"},
	} {
		if k, m := splitKey(tc.in); k != tc.key || m != tc.msg {
			t.Errorf("splitKey(%q) = %q, %q; want %q, %q", tc.in, k, m, tc.key, tc.msg)
		}
	}
}
