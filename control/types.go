package control

import "time"

// Status is what `critlinectl status --json` prints. Field names are part of
// the contract: testdata/status.golden.json pins them (TestStatusJSONGolden).
type Status struct {
	Version    string      `json:"version"`
	Board      string      `json:"board"`
	Profile    string      `json:"profile"`
	Mode       string      `json:"mode"` // normal | survivable | lifeline
	ModeSince  time.Time   `json:"mode_since"`
	ModeReason string      `json:"mode_reason"`
	Uptime     float64     `json:"uptime_seconds"`
	Power      Power       `json:"power"`
	LAN        LAN         `json:"lan"`
	Registrars []Registrar `json:"registrars"`
	Trunks     []Trunk     `json:"trunks"`
	Ports      []Port      `json:"ports"`
	// RecentModes are the last mode changes, oldest first (the full history
	// is kept in the state directory).
	RecentModes []ModeChange `json:"recent_modes"`
	// Lockouts are calling numbers locked out of remote activation.
	Lockouts []Lockout `json:"lockouts,omitempty"`
	// RouteAvailable: some route can carry an ordinary call now (a usable
	// registrar, or a trunk that can call).
	RouteAvailable bool `json:"route_available"`
	// EmergencyRouteAvailable: some route can carry an emergency call now
	// (a usable registrar, or a trunk registered or in limited service).
	EmergencyRouteAvailable bool `json:"emergency_route_available"`
	// EmergencyRoute is the order emergency calls try: pbx-first or
	// trunk-first.
	EmergencyRoute string `json:"emergency_route"`
	// PathTests are the appliance's path tests: each path's last result
	// and schedule (issue 17).
	PathTests []PathStatus `json:"path_tests,omitempty"`
	// Battery is the record of the appliance's runs on battery.
	Battery *Battery `json:"battery,omitempty"`
	// Remote is remote activation's entries (absent when it is off).
	Remote *Remote `json:"remote,omitempty"`
	// Paths are the network paths to the registrars (the LAN, a modem's
	// data connection) and the data each carried since start.
	Paths []NetPath `json:"paths,omitempty"`
	// Transfers are calls the appliance carries for porters who
	// transferred them (REFER under way, or joined in the appliance).
	Transfers []Transfer `json:"transfers,omitempty"`
	// Groups are the hunt groups, with who is ringing now.
	Groups []Group `json:"groups,omitempty"`
}

// Remote says how staff reach remote activation.
type Remote struct {
	// ServiceExtension is the SIP line staff dial; ServiceRegistered the
	// registrar it is registered with ("" while it is not).
	ServiceExtension  string `json:"service_extension,omitempty"`
	ServiceRegistered string `json:"service_registered,omitempty"`
	// StaffNumbers is how many staff numbers reach it on the trunks.
	StaffNumbers int `json:"staff_numbers"`
	// ServiceTrunk is a trunk dedicated to it ([survivability] remote_trunk).
	ServiceTrunk string `json:"service_trunk,omitempty"`
	// Prompts is the prompt set spoken ("en-GB built-in", a directory), or
	// "tones".
	Prompts string `json:"prompts"`
}

// NetPath is one network path to the registrars.
type NetPath struct {
	Name      string    `json:"name"`      // lan | wwan
	Interface string    `json:"interface"` // e.g. eth0, wwan0; "" when the kernel's routing decides
	Up        bool      `json:"up"`        // its interface is up with an address (and a data bearer connected)
	Address   string    `json:"address,omitempty"`
	Detail    string    `json:"detail,omitempty"` // why it is down
	Since     time.Time `json:"since"`            // of the last change of up
	// Bytes on the wire (IP and UDP headers included) since start: SIP
	// signalling and keep-alives, and call media.
	SIPBytesIn  uint64 `json:"sip_bytes_in"`
	SIPBytesOut uint64 `json:"sip_bytes_out"`
	RTPBytesIn  uint64 `json:"rtp_bytes_in"`
	RTPBytesOut uint64 `json:"rtp_bytes_out"`
}

// Transfer is two calls a porter joined and left.
type Transfer struct {
	Port   int       `json:"port"`   // the porter's port
	Held   string    `json:"held"`   // the transferee: the caller or number that was on hold
	Target string    `json:"target"` // the transfer target
	Method string    `json:"method"` // refer (the PBX joins them) | bridge (joined in the appliance)
	State  string    `json:"state"`  // refer | ringing (the target rings) | joined
	Since  time.Time `json:"since"`
}

// Group is one hunt group.
type Group struct {
	Name      string `json:"name"`
	Extension string `json:"extension"`
	Strategy  string `json:"strategy"` // ring-all | sequential | round-robin | longest-idle
	// Line is the group's own SIP line: registered, unregistered, or
	// empty when it has none.
	Line     string        `json:"line,omitempty"`
	Overflow string        `json:"overflow,omitempty"`
	Calls    int           `json:"calls"`             // calls for the group in progress
	Ringing  []string      `json:"ringing,omitempty"` // members ringing now: port:N, number:NUMBER
	Members  []GroupMember `json:"members"`
}

// GroupMember is one member of a group and whether it can be rung now.
type GroupMember struct {
	Member string `json:"member"` // port:N | number:NUMBER
	// State: ready, ringing, busy: STATE (a port in a call), or cannot
	// ring: WHY (bypass, left-off-hook, not-running).
	State string `json:"state"`
}

// ModeChange is one change of the appliance's mode.
type ModeChange struct {
	At     time.Time `json:"at"`
	From   string    `json:"from"`
	To     string    `json:"to"`
	Reason string    `json:"reason"`
}

// Power is the supply.
type Power struct {
	Source     string `json:"source"` // mains | battery
	Mains      bool   `json:"mains"`
	BatteryLow bool   `json:"battery_low"`
	// Shedding: the battery is low and the appliance keeps serving calls on
	// the board (ports without a copper line), shedding what calls do not
	// need.
	Shedding bool `json:"shedding,omitempty"`
}

// LAN is the local network.
type LAN struct {
	Up bool `json:"up"`
}

// Registrar is one PBX's health.
type Registrar struct {
	Name      string  `json:"name"`
	Address   string  `json:"address"`
	Transport string  `json:"transport"`
	Up        bool    `json:"up"`
	Active    bool    `json:"active"` // some line is registered with it now
	RTTMillis float64 `json:"rtt_ms"`
	Loss      float64 `json:"loss"` // fraction of recent probes lost
	Detail    string  `json:"detail,omitempty"`
	// Via is the configured path (lan | wwan | any); Path the one it is
	// reached by now; Holding: that path lost its interface or bearer and
	// the verdict is held while the data session comes back.
	Via     string          `json:"via"`
	Path    string          `json:"path"`
	Holding bool            `json:"holding,omitempty"`
	Paths   []RegistrarPath `json:"paths,omitempty"`
}

// RegistrarPath is a registrar's health over one network path.
type RegistrarPath struct {
	Path      string  `json:"path"`
	Up        bool    `json:"up"`
	Known     bool    `json:"known"`
	Holding   bool    `json:"holding,omitempty"`
	RTTMillis float64 `json:"rtt_ms"`
	Loss      float64 `json:"loss"`
	// PublicAddress is, on the mobile data path, the address the
	// registrar sees us at through the carrier's NAT.
	PublicAddress string `json:"public_address,omitempty"`
}

// Trunk is one PSTN trunk's health.
type Trunk struct {
	Name string `json:"name"`
	Kind string `json:"kind"`
	// Up: the trunk can place an ordinary call (modem answering and
	// registered on a network), as critline_trunk_up.
	Up bool `json:"up"`
	// ModemUp: the modem answers, whatever the network.
	ModemUp bool `json:"modem_up"`
	// Service is what the network lets the trunk do: full (any call),
	// limited (emergency calls only) or none.
	Service string `json:"service"`
	// EmergencyCalls: the trunk can place an emergency call (full or
	// limited service).
	EmergencyCalls bool    `json:"emergency_calls"`
	Registered     bool    `json:"registered"`
	Operator       string  `json:"operator,omitempty"`
	SignalDBm      float64 `json:"signal_dbm"`
	InCall         bool    `json:"in_call"`
	Detail         string  `json:"detail,omitempty"`
	// Services: the network's services on the trunk's calls and how far
	// each is known to work.
	Services []TrunkService `json:"services,omitempty"`
	// Waiting: the caller waiting behind the call in progress, if any.
	Waiting string `json:"waiting,omitempty"`
	// MissedCalls: calls that arrived on the trunk and reached nobody,
	// since the daemon started; RecentMissed lists the last ones.
	MissedCalls  uint64       `json:"missed_calls"`
	RecentMissed []MissedCall `json:"recent_missed,omitempty"`
	// Data is the modem's data connection, when it has one
	// (data_interface).
	Data *TrunkData `json:"data,omitempty"`
}

// TrunkData is a modem's data connection: the board's second IP path.
type TrunkData struct {
	State     string    `json:"state"`     // up | connecting | down | external
	Interface string    `json:"interface"` // e.g. wwan0
	Bearer    string    `json:"bearer"`    // at | external
	USBMode   string    `json:"usb_mode,omitempty"`
	Detail    string    `json:"detail,omitempty"`
	Since     time.Time `json:"since"`
	Connects  int       `json:"connects"`
}

// TrunkService is one of a trunk network's services: deflection, hold,
// transfer, call-waiting.
type TrunkService struct {
	Name string `json:"name"`
	// Support: unknown, unsupported (the module lacks it), available (the
	// network has not refused it), working (the network carried it) or
	// refused (Detail says how), since the last registration change.
	Support string    `json:"support"`
	Detail  string    `json:"detail,omitempty"`
	Since   time.Time `json:"since"`
}

// MissedCall is a call on a trunk that reached nobody.
type MissedCall struct {
	At     time.Time `json:"at"`
	Caller string    `json:"caller"` // the number, or withheld / unavailable
	Reason string    `json:"reason"` // no-port | unanswered | rejected | divert-failed
}

// Port is one FXS port.
type Port struct {
	ID         int    `json:"id"`
	Name       string `json:"name"`
	Extension  string `json:"extension"`
	Hook       string `json:"hook"` // on | off
	State      string `json:"state"`
	Condition  string `json:"condition,omitempty"` // e.g. parked, line-fault
	Digits     string `json:"digits"`
	Route      string `json:"route,omitempty"`      // where the current call goes: registrar or trunk name
	Registered string `json:"registered,omitempty"` // the most preferred registrar the line is registered with
	// Registrations is the line's registration with each registrar, in
	// order of preference.
	Registrations []LineRegistration `json:"registrations,omitempty"`
	// BehindRelay is what the lifeline relay puts the handset on in
	// bypass: "copper" (a live PSTN line) or "none".
	BehindRelay string `json:"behind_relay"`
	Forwarding  string `json:"forwarding,omitempty"`
	// ForwardMirror is "on" while the port's forwarding is mirrored into
	// the mobile network, "refused: WHY" when forward_mirror asks for it
	// but the trunk's SIM serves other ports too; absent otherwise.
	ForwardMirror string `json:"forward_mirror,omitempty"`
	Divert        string `json:"divert,omitempty"` // where inbound calls go while the handset cannot be reached
	Relay         string `json:"relay"`            // bypass | board
	Mode          string `json:"mode"`
	Lifeline      bool   `json:"lifeline_forced,omitempty"` // an operator put it on the PSTN line
	// Engine is whether the port's engine takes and places calls: "ok",
	// "stalled" (a call step is stuck; it is abandoned within seconds) or
	// "recovered (...)" (one was abandoned and is still stuck somewhere;
	// the port carries on). Counted in critline_port_wedged_total.
	Engine string `json:"engine"`
	// Caller is the current inbound call's caller as the handset shows
	// it: the number, "withheld" (the caller asked for privacy) or
	// "unavailable"; CallerName is the name, when given.
	Caller     string `json:"caller,omitempty"`
	CallerName string `json:"caller_name,omitempty"`
	// OriginallyCalled is the number the caller dialled first, for a call
	// forwarded to this line (the PBX's Diversion or History-Info).
	OriginallyCalled string `json:"originally_called,omitempty"`
	// Media is the current SIP call's media: "rtp" or "srtp".
	Media string `json:"media,omitempty"`
	// MessageWaiting says messages wait in the line's voicemail (the
	// message-waiting dial tone and the handset's lamp are on); Messages
	// counts them when the PBX says ("2 new, 8 old").
	MessageWaiting bool   `json:"message_waiting"`
	Messages       string `json:"messages,omitempty"`
	// Held is the caller or number the porter holds (in a three-way, the
	// other party); Waiting that of a call waiting; ThreeWay says the
	// porter is in a three-way call. Flash is what the port's hook flash
	// does: local (the appliance's services) or how it is passed to the
	// PBX (rfc4733, sip-info, dtmf-relay).
	Held     string `json:"held,omitempty"`
	Waiting  string `json:"waiting,omitempty"`
	ThreeWay bool   `json:"three_way,omitempty"`
	Flash    string `json:"flash"`
}

// LineRegistration is a port's line registration with one registrar.
type LineRegistration struct {
	Registrar  string `json:"registrar"`
	Registered bool   `json:"registered"`
	Error      string `json:"error,omitempty"` // the last failure
	Path       string `json:"path,omitempty"`  // the network path the binding was made over
}

// Version is the daemon's build.
type Version struct {
	Version string `json:"version"`
	Board   string `json:"board"`
	Go      string `json:"go"`
}

// HookRequest lifts or replaces a simulated handset.
type HookRequest struct {
	Port  int    `json:"port"`
	State string `json:"state"` // off | on
}

// CopperRequest cuts or restores the copper line behind a simulated port's
// relay.
type CopperRequest struct {
	Port  int    `json:"port"`
	State string `json:"state"` // live | dead
}

// PowerRequest sets the simulated supply.
type PowerRequest struct {
	State string `json:"state"` // mains | battery | battery-low
}

// LinkRequest plugs or unplugs the simulated LAN.
type LinkRequest struct {
	State string `json:"state"` // up | down
}

// DialRequest dials digits on a simulated handset.
type DialRequest struct {
	Port   int    `json:"port"`
	Digits string `json:"digits"`
	Pulse  bool   `json:"pulse"`
}

// FlashRequest makes a timed-break recall.
type FlashRequest struct {
	Port int `json:"port"`
}

// TrunkRequest passes a verb to a simulated modem.
type TrunkRequest struct {
	Trunk string   `json:"trunk"`
	Args  []string `json:"args"`
}

// Result is the answer to a request that changes something.
type Result struct {
	OK      bool    `json:"ok"`
	Message string  `json:"message,omitempty"`
	Seconds float64 `json:"seconds,omitempty"` // how long the action takes to play out
}

// Error is the body of every 4xx/5xx answer.
type Error struct {
	Error string `json:"error"`
}

// LifelineRequest puts a port on the PSTN line or gives it back.
type LifelineRequest struct {
	Port  int    `json:"port"`
	State string `json:"state"` // on | off
}

// ForwardRequest sets or clears a port's call forwarding.
type ForwardRequest struct {
	Port   int    `json:"port"`
	Kind   string `json:"kind"`             // unconditional | busy | no-answer | all (clear only)
	Number string `json:"number,omitempty"` // empty clears
	After  string `json:"after,omitempty"`  // no-answer ring time, e.g. "20s"
}

// UnlockRequest lifts remote-activation lockouts.
type UnlockRequest struct {
	Kind string `json:"kind,omitempty"` // caller | port | "" for all
	Key  string `json:"key,omitempty"`  // the caller's number or the port id; "" for all of the kind
}

// Lockout is a calling number locked out of remote activation.
type Lockout struct {
	Kind      string  `json:"kind"`
	Key       string  `json:"key"`
	Remaining float64 `json:"remaining_seconds"`
}

// PathTest is one path test's outcome: a row of the commissioning report
// (`critlinectl test paths --json`) and, in status, a path's last test.
type PathTest struct {
	// Path names what was tested: trunk:NAME (a call to the trunk's
	// test_number), registrar:NAME (a call to its test_extension) or
	// copper:PORT (the copper line behind the port's relay).
	Path string `json:"path"`
	// Target is what was called, or the port whose line was read.
	Target string `json:"target,omitempty"`
	// Result is ok, failed, cannot-test (the board lacks what the check
	// needs: never ok) or skipped (not run now: a porter busy, the daily
	// cap, pre-empted by a porter's call).
	Result string `json:"result"`
	Detail string `json:"detail"`
	// SetupSeconds is the time from dialling to the far end's answer.
	SetupSeconds float64 `json:"setup_seconds,omitempty"`
	// AudioDBm0 is the level of what the far end sent (dBm0; a full-scale
	// sine is +3.14).
	AudioDBm0 *float64 `json:"audio_dbm0,omitempty"`
	// LineVolts is the copper line's voltage.
	LineVolts *float64 `json:"line_volts,omitempty"`
	// Seconds is how long the test took, start to hang-up.
	Seconds float64   `json:"seconds"`
	At      time.Time `json:"at"`
	// Trigger is what started it: manual, scheduled or retry.
	Trigger string `json:"trigger,omitempty"`
}

// PathReport is the commissioning report: every path tested now.
type PathReport struct {
	Host    string     `json:"host"`
	Version string     `json:"version"`
	Board   string     `json:"board"`
	At      time.Time  `json:"at"`
	Paths   []PathTest `json:"paths"`
}

// PathTestRequest asks for the path tests to run now.
type PathTestRequest struct {
	// Paths limits the run to these paths (e.g. "trunk:lte"); empty: all.
	Paths []string `json:"paths,omitempty"`
}

// PathStatus is a path's test state in status.
type PathStatus struct {
	Path   string `json:"path"`
	Target string `json:"target,omitempty"`
	// Last is the last test (absent until the path was tested once).
	Last *PathTest `json:"last,omitempty"`
	// LastSuccess is when the path was last proven.
	LastSuccess *time.Time `json:"last_success,omitempty"`
	// NextTest is when the schedule tests it next (absent when the
	// schedule is off or the path cannot be tested).
	NextTest *time.Time `json:"next_test,omitempty"`
	// Postponed says why a due test waits (a porter busy, the daily cap).
	Postponed string `json:"postponed,omitempty"`
	// ConsecutiveFailures counts failed tests since the last success.
	ConsecutiveFailures int     `json:"consecutive_failures"`
	IntervalSeconds     float64 `json:"interval_seconds"`
}

// Battery is the record of the appliance's runs on battery.
type Battery struct {
	// ExpectedRuntimeSeconds is [board] battery_runtime: a run that ends
	// in battery low or power loss before it ended early.
	ExpectedRuntimeSeconds float64 `json:"expected_runtime_seconds"`
	// OnBatterySince is set while the appliance runs on battery.
	OnBatterySince *time.Time `json:"on_battery_since,omitempty"`
	// Runs are the last recorded runs, oldest first.
	Runs []BatteryRun `json:"runs"`
}

// BatteryRun is one outage run on battery.
type BatteryRun struct {
	Start   time.Time `json:"start"`
	End     time.Time `json:"end"`
	Seconds float64   `json:"seconds"`
	// BatteryLowAfterSeconds is when battery low came, from the start;
	// absent when it did not.
	BatteryLowAfterSeconds *float64 `json:"battery_low_after_seconds,omitempty"`
	// EndedBy is mains (power back), shutdown (the appliance went down on
	// battery: power ran out or it crashed) or stopped (stopped cleanly).
	EndedBy string `json:"ended_by"`
	// Early: battery low came, or the appliance went down, before the
	// expected runtime.
	Early bool `json:"early"`
}
