package survivability

import (
	"testing"

	"github.com/critline/critline/fxs/dsp"
	"github.com/critline/critline/fxs/profile"
	"github.com/critline/critline/sip"
)

// The handset's caller ID from the PBX's identity, with the profile's
// reasons for absence (an override can swap them: a site whose handsets
// should say "unavailable" for withheld callers too).
func TestCallerIDFromIdentity(t *testing.T) {
	uk, err := profile.Load("uk", nil)
	if err != nil {
		t.Fatal(err)
	}
	odd, err := profile.Load("uk", []byte("[caller_id]\nwithheld = \"O\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		prof *profile.Profile
		id   sip.Identity
		want dsp.CallerID
	}{
		{uk, sip.Identity{Number: "01223337733", Name: "Bursar"}, dsp.CallerID{Number: "01223337733", Name: "Bursar"}},
		{uk, sip.Identity{NumberWithheld: true, NameWithheld: true}, dsp.CallerID{NumberAbsence: 'P', NameAbsence: 'P'}},
		{uk, sip.Identity{NumberWithheld: true, Name: "sip line"}, dsp.CallerID{NumberAbsence: 'P', Name: "sip line"}},
		{uk, sip.Identity{}, dsp.CallerID{NumberAbsence: 'O'}},
		{uk, sip.Identity{Name: "alice"}, dsp.CallerID{NumberAbsence: 'O', Name: "alice"}},
		{odd, sip.Identity{NumberWithheld: true}, dsp.CallerID{NumberAbsence: 'O', NameAbsence: 'O'}},
		{odd, sip.Identity{}, dsp.CallerID{NumberAbsence: 'O'}},
	} {
		a := &Appliance{o: Options{Profile: c.prof}}
		got := a.callerID(c.id)
		got.Time = c.want.Time
		if got != c.want {
			t.Errorf("%+v with withheld %q: %+v, want %+v", c.id, c.prof.CallerID.Withheld, got, c.want)
		}
	}
}
