// Package pathtest proves the appliance's fallback paths in service (issue
// 17): a short test call on each trunk to its test number and through each
// registrar to its test extension, asserting answer and audio (energy, a
// known tone, our probe echoed, or DTMF echoed) and measuring setup time;
// and a moment on the copper line behind each relay that has one, reading
// the line's voltage. Tests run on a schedule (an interval, a local-time
// window, a random spread, one retry after a failure, a daily cap on test
// calls, never while a porter is busy) and on demand (`critlinectl test
// paths`, the commissioning report). Results are kept across restarts,
// shown in status and exported as metrics.
//
// It places nothing itself: survivability places each test call on exactly
// one rung (PlaceTestCall), checks the copper line (CheckCopper), and says
// when the porters are busy (TestIdle, OnActivity). It knows no hardware,
// no SIP and no AT commands. The battery record lives in
// survivability/battery.
package pathtest
