package dsp

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"
	"time"
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var nov27 = time.Date(2026, 11, 27, 9, 5, 0, 0, time.UTC)

func TestMDMFBytes(t *testing.T) {
	// Worked by hand: type 0x80, length 0x1e, date/time "11270905",
	// number "01223555123", name "Lodge", checksum so that all bytes sum
	// to zero.
	c := CallerID{Time: nov27, Number: "01223555123", Name: "Lodge"}
	got, err := c.MDMF()
	if err != nil {
		t.Fatal(err)
	}
	want := mustHex(t, "801e01083131323730393035020b303132323335353531323307054c6f6467658f")
	if !bytes.Equal(got, want) {
		t.Errorf("MDMF = %x\nwant   %x", got, want)
	}
	for _, c := range []struct {
		c    CallerID
		want string
	}{
		// Withheld number and name: 0x04 'P', 0x08 'P'.
		{CallerID{Time: nov27, NumberAbsence: Private, NameAbsence: Private}, "801001083131323730393035040150080150"},
		// Unavailable number, no name field at all.
		{CallerID{NumberAbsence: Unavailable}, "800304014f"},
		// No time: the field is left out.
		{CallerID{Number: "999"}, "80050203393939"},
	} {
		got, err := c.c.MDMF()
		if err != nil {
			t.Errorf("%+v: %v", c.c, err)
			continue
		}
		want := mustHex(t, c.want)
		var sum byte
		for _, b := range want {
			sum += b
		}
		want = append(want, -sum)
		if !bytes.Equal(got, want) {
			t.Errorf("MDMF(%+v) = %x, want %x", c.c, got, want)
		}
	}
}

func TestSDMFBytes(t *testing.T) {
	c := CallerID{Time: nov27, Number: "2125551234"}
	got, err := c.SDMF()
	if err != nil {
		t.Fatal(err)
	}
	if want := mustHex(t, "041231313237303930353231323535353132333453"); !bytes.Equal(got, want) {
		t.Errorf("SDMF = %x, want %x", got, want)
	}
	got, err = CallerID{Time: nov27, NumberAbsence: Private}.SDMF()
	if err != nil {
		t.Fatal(err)
	}
	if want := mustHex(t, "04093131323730393035500a"); !bytes.Equal(got, want) {
		t.Errorf("SDMF withheld = %x, want %x", got, want)
	}
}

func TestCallerIDErrors(t *testing.T) {
	long := strings.Repeat("1", 21)
	for _, c := range []struct {
		c    CallerID
		sdmf bool
		want string
	}{
		{CallerID{}, false, "nothing to send"},
		{CallerID{Number: "123", NumberAbsence: Private}, false, "both set"},
		{CallerID{Name: "X", NameAbsence: Unavailable}, false, "both set"},
		{CallerID{NumberAbsence: 'Q'}, false, "not 'O'"},
		{CallerID{Number: "12a3"}, false, `character 'a' at position 3`},
		{CallerID{Number: "12+3"}, false, `character '+' at position 3`},
		{CallerID{Number: long}, false, "at most 20"},
		{CallerID{Name: "Caf\u00e9"}, false, "not printable ASCII"},
		{CallerID{Name: strings.Repeat("n", 51)}, false, "at most 50"},
		{CallerID{Number: "123"}, true, "needs the date"},
		{CallerID{Time: nov27, Number: "123", Name: "X"}, true, "cannot carry a name"},
		{CallerID{Time: nov27}, true, "needs a number"},
		{CallerID{Time: nov27, Number: "12345678901"}, true, "at most 10"},
	} {
		var err error
		if c.sdmf {
			_, err = c.c.SDMF()
		} else {
			_, err = c.c.MDMF()
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v (SDMF %v): error %v, want one containing %q", c.c, c.sdmf, err, c.want)
		}
	}
}

func TestParseCallerIDRoundTrip(t *testing.T) {
	for _, c := range []CallerID{
		{Time: time.Date(0, 11, 27, 9, 5, 0, 0, time.UTC), Number: "01223555123", Name: "Lodge"},
		{Time: time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC), NumberAbsence: Private, NameAbsence: Private},
		{NumberAbsence: Unavailable, NameAbsence: Unavailable},
		{Number: "+441223555123", Name: PrintableName("Zoë's phone, with a long name that is cut here", 20)},
		{Number: "*#0"},
	} {
		m, err := c.MDMF()
		if err != nil {
			t.Fatalf("%+v: %v", c, err)
		}
		back, err := ParseCallerID(m)
		if err != nil {
			t.Errorf("ParseCallerID(%x): %v", m, err)
			continue
		}
		if back != c {
			t.Errorf("round trip %+v -> %+v", c, back)
		}
		if c.Time.IsZero() || c.Name != "" || c.NameAbsence != Present || len(c.Number) > 10 {
			continue
		}
		s, err := c.SDMF()
		if err != nil {
			t.Fatal(err)
		}
		back, err = ParseCallerID(s)
		if err != nil || back != c {
			t.Errorf("SDMF round trip %+v -> %+v, %v", c, back, err)
		}
	}
	if got := PrintableName("Zoë\x07 Smith", 0); got != "Zo?? Smith" {
		t.Errorf("PrintableName = %q", got)
	}
	if got := PrintableName("abcdef", 3); got != "abc" {
		t.Errorf("PrintableName cut = %q", got)
	}
}

func TestParseCallerIDErrors(t *testing.T) {
	// Framing errors, given raw.
	for _, c := range []struct {
		hex  string
		want string
	}{
		{"", "too short"},
		{"8001", "too short"},
		{"8006020339393900", "length byte says 6 bytes of parameters but 5"},
		{"80050203393939cc", "checksum"},
	} {
		_, err := ParseCallerID(mustHex(t, c.hex))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseCallerID(%s): %v, want an error containing %q", c.hex, err, c.want)
		}
	}
	// Content errors: the type and parameters; length and checksum are
	// filled in right so the parser reaches the problem.
	for _, c := range []struct {
		hex  string
		want string
	}{
		{"820b01ff", "not caller ID"},
		{"8002", "has no length byte"},
		{"800201", "only 0 remain"},
		{"8002033939", "only 2 remain"},
		{"8001083133323730393035", "out of range"},
		{"800108313132373039", "only 6 remain"},
		{"8001083131323730393a35", "not 8 digits"},
		{"8001015a", "not 8 digits"},
		{"80040151", `"Q" is not "O" or "P"`},
		{"8004024f50", `is not "O" or "P"`},
		{"80020131020132", "appears twice"},
		{"80020131040150", "both a number and a reason"},
		{"8007014108014f", "both a name and a reason"},
		{"800203313a33", "not a digit"},
		{"0431313237303930", "SDMF body of 7 bytes is too short"},
		{"04313132373039303578", "not a digit"},
		{"04393932373039303531", "out of range"},
	} {
		body := mustHex(t, c.hex)
		m := append([]byte{body[0], byte(len(body) - 1)}, body[1:]...)
		var sum byte
		for _, b := range m {
			sum += b
		}
		m = append(m, -sum)
		_, err := ParseCallerID(m)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseCallerID(%x): %v, want an error containing %q", m, err, c.want)
		}
	}
}

func TestAbsenceString(t *testing.T) {
	if Private.String() != "private" || Unavailable.String() != "unavailable" || Present.String() != "present" || Absence('Z').String() != "Absence(0x5a)" {
		t.Error("Absence.String")
	}
}

func FuzzParseCallerID(f *testing.F) {
	f.Add(mustHex(f, "801e01083131323730393035020b303132323335353531323307054c6f6467658f"))
	f.Add(mustHex(f, "041231313237303930353231323535353132333453"))
	f.Add(mustHex(f, "04093131323730393035500a"))
	f.Add(mustHex(f, "80100108313132373039303504015008015020"))
	f.Add([]byte{0x80, 0x00, 0x80})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, msg []byte) {
		c, err := ParseCallerID(msg)
		if err != nil {
			return
		}
		// What parses is a valid message: its checksum is right, and the
		// parsed content builds again unless the message carried fields
		// beyond what CallerID holds or values our builder refuses.
		var sum byte
		for _, b := range msg {
			sum += b
		}
		if sum != 0 {
			t.Fatalf("accepted %x with a bad checksum", msg)
		}
		if msg[0] == MsgCallSetup {
			if m, err := c.MDMF(); err == nil {
				back, err := ParseCallerID(m)
				if err != nil || back != c {
					t.Fatalf("rebuilt %x from %x parses to %+v, %v; want %+v", m, msg, back, err, c)
				}
			}
		}
	})
}
