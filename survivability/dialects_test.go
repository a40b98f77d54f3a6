package survivability

import (
	"errors"
	"strings"
	"testing"

	"github.com/critline/critline/fxs/dsp"
	"github.com/critline/critline/fxs/profile"
	"github.com/critline/critline/sip"
	"github.com/critline/critline/survivability/guard"
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

// A call's redirects (issue 18): followed to a telephone number at most
// maxRedirects times, never back to a number already tried (the one
// dialled included, whatever the URI form), never to a number the
// toll-fraud guard refuses; anything else is not a redirect.
func TestRedirectorHopsLoopsAndTheGuard(t *testing.T) {
	a := testAppliance(t)
	g, err := guard.New(guard.Config{Routes: []guard.Route{{Name: "pbx", Deny: []string{"07700900666"}}}}, guard.Options{})
	if err != nil {
		t.Fatal(err)
	}
	a.guard = g
	rd := newRedirector(&sipRung{a: a, registrar: "pbx"}, 1, "270009")
	moved := func(targets ...string) error {
		return &sip.StatusError{Code: 302, Reason: "Moved Temporarily", Registrar: "pbx", Targets: targets}
	}
	if _, ok, _ := rd.next(&sip.StatusError{Code: 486, Reason: "Busy Here"}); ok {
		t.Fatal("a 486 taken for a redirect")
	}
	refused := func(what string, err error, why string) {
		t.Helper()
		_, ok, rerr := rd.next(err)
		if !ok || !errors.Is(rerr, errRedirectRefused) || !strings.Contains(rerr.Error(), why) {
			t.Errorf("%s: ok %v err %v, want refused for %q", what, ok, rerr, why)
		}
	}
	refused("back to the number dialled, as a URI", moved("sip:270009@pbx.example"), "a loop")
	refused("a target that is no number", moved("sip:reception@pbx.example"), "not a telephone number")
	refused("a number the guard bars", moved("sip:07700900666@pbx.example"), "toll-fraud guard")
	refused("no target at all", moved(), "no target")
	for i, n := range []string{"07700900111", "07700900222", "07700900333"} {
		// The first target a loop, the second followed: preference order.
		target, ok, rerr := rd.next(moved("tel:270009", "sip:"+n+"@pbx.example"))
		if !ok || rerr != nil || target != "sip:"+n+"@pbx.example" {
			t.Fatalf("hop %d: %q %v %v, want the call to follow %s", i+1, target, ok, rerr, n)
		}
	}
	refused("one hop too many", moved("sip:07700900444@pbx.example"), "more than 3 redirects")
}
