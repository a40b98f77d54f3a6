package survivability

// Hunt groups and calls between the ports (issue 14 points 1 and 2).
//
// A group has a number of its own and members: ports, and outside numbers
// such as team members' mobiles. A call for the group (a trunk that names
// it, the group's own SIP line, or a port dialling its extension) is a
// hunt: members are rung by the group's strategy, each for its ring time,
// until one answers, the caller gives up or the group's timeout runs out;
// then the overflow destination takes the call (a number, or a port's or
// another group's extension). Members that cannot ring now (a handset on
// its copper line or left off the hook, an engine down, a port in a call,
// an outside number no route can reach) are skipped at once, never waited
// for.
//
// The caller's leg and the member's leg are joined inside the appliance:
// a port pumps a trunk's voice channel or an RTP stream itself; two ports
// are joined by a bridge.Pair; two legs that no port pumps (a trunk or SIP
// caller and an outside member over SIP) by bridge.Relay. A trunk caller
// whose outside member cannot be reached over SIP (no registrar) is handed
// to the member by the mobile network instead (call deflection, or answer
// and explicit call transfer): the call then leaves the appliance.
//
// A local call (one port dialling another's extension) is the simplest
// hunt: one member, no timeout, no group.

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/critline/critline/control"
	"github.com/critline/critline/fxs"
	"github.com/critline/critline/fxs/bridge"
	"github.com/critline/critline/fxs/dsp"
)

// Group strategies.
const (
	StrategyRingAll     = "ring-all"     // every member at once
	StrategySequential  = "sequential"   // in order, each for its ring time, round again until the timeout
	StrategyRoundRobin  = "round-robin"  // as sequential, each call starting one member further on
	StrategyLongestIdle = "longest-idle" // as sequential, the member whose last call ended longest ago first
)

// Local call modes.
const (
	LocalCallsPBXFirst = "pbx-first" // through the PBX while it is healthy and both lines are registered with it
	LocalCallsLocal    = "local"     // always inside the appliance
)

// GroupLineBase numbers the groups' own SIP lines: the group at index i of
// Options.Groups uses line GroupLineBase+i (sip.Line.Port), beyond any port
// id, so the SIP user agent carries it like a port's line and the
// appliance tells it apart by its id.
const GroupLineBase = 1000

// GroupLine is the SIP line id of the group at index i.
func GroupLine(i int) int { return GroupLineBase + i }

// GroupMember is a port (Port) or an outside number (Number).
type GroupMember struct {
	Port     int
	Number   string
	RingTime time.Duration // 0: the group's
}

// GroupOptions is one hunt group.
type GroupOptions struct {
	Name      string
	Extension string
	// Line says the group's extension is registered as a SIP line of its
	// own: line GroupLine(i) of the SIP user agent.
	Line     bool
	Strategy string // StrategyRingAll (default), StrategySequential, ...
	RingTime time.Duration
	Timeout  time.Duration
	Overflow string
	Members  []GroupMember
}

// Results of a group call (critline_group_calls_total).
const (
	groupAnswered   = "answered"   // a member answered
	groupDiverted   = "diverted"   // the mobile network took it to an outside member (deflection or transfer)
	groupOverflow   = "overflow"   // sent to the overflow destination
	groupUnanswered = "unanswered" // members rang, nobody answered, no overflow: lost
	groupNoMember   = "no-member"  // no member could ring, no overflow: lost
	groupAbandoned  = "abandoned"  // the caller gave up before an answer
)

func groupResults() []string {
	return []string{groupAnswered, groupDiverted, groupOverflow, groupUnanswered, groupNoMember, groupAbandoned}
}

// maxOverflowHops bounds a chain of groups overflowing into each other
// (configuration refuses loops; this is the belt to those braces).
const maxOverflowHops = 8

// groupSet is the appliance's groups and local-call settings.
type groupSet struct {
	list   []*group
	byName map[string]*group
	byExt  map[string]*group
	byLine map[int]*group
	local  string // LocalCalls mode

	calls    *prometheus.CounterVec // group, result
	answered *prometheus.CounterVec // group, member

	mu       sync.Mutex
	lastCall map[int]time.Duration // port -> when its last call ended (longest idle; the appliance's clock)
}

// group is one hunt group at run time.
type group struct {
	o    GroupOptions
	line int // SIP line id; 0 none

	mu      sync.Mutex
	rr      int                      // round robin: the member the next call starts with
	lastEnd map[string]time.Duration // outside member -> when its last group call ended
	hunts   map[*hunt]struct{}       // calls in progress
	regs    map[string]lineBinding
}

// member is one member as a hunt rings it: a port or an outside number.
type member struct {
	port   int
	number string
	ring   time.Duration // how long it rings; 0: until answered or the caller gives up
}

func (m member) key() string {
	if m.port != 0 {
		return "port:" + strconv.Itoa(m.port)
	}
	return "number:" + m.number
}

// initGroups builds the groups and their series.
func (a *Appliance) initGroups(o Options) error {
	gs := &groupSet{byName: map[string]*group{}, byExt: map[string]*group{}, byLine: map[int]*group{},
		local: o.LocalCalls, lastCall: map[int]time.Duration{}}
	if gs.local == "" {
		gs.local = LocalCallsPBXFirst
	}
	switch gs.local {
	case LocalCallsPBXFirst, LocalCallsLocal:
	default:
		return fmt.Errorf("local calls %q: use %s or %s", gs.local, LocalCallsPBXFirst, LocalCallsLocal)
	}
	gs.calls = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "critline_group_calls_total",
		Help: "Calls for a hunt group, by result: answered (by a member), diverted (handed to an outside member by the mobile network), overflow (sent to the overflow destination), unanswered (members rang, nobody answered, no overflow: lost), no-member (no member could ring, no overflow: lost), abandoned (the caller gave up first).",
	}, []string{"group", "result"})
	gs.answered = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "critline_group_answered_total",
		Help: "Group calls answered, by the member who answered (port:N or number:NUMBER).",
	}, []string{"group", "member"})
	for _, c := range []prometheus.Collector{gs.calls, gs.answered} {
		if err := o.Registerer.Register(c); err != nil {
			return err
		}
	}
	for i, g := range o.Groups {
		if g.Name == "" || g.Extension == "" || len(g.Members) == 0 {
			return fmt.Errorf("group %d: a group needs a name, an extension and members", i)
		}
		if gs.byName[g.Name] != nil || gs.byExt[g.Extension] != nil {
			return fmt.Errorf("group %q: name or extension used twice", g.Name)
		}
		switch g.Strategy {
		case "":
			g.Strategy = StrategyRingAll
		case StrategyRingAll, StrategySequential, StrategyRoundRobin, StrategyLongestIdle:
		default:
			return fmt.Errorf("group %q: strategy %q", g.Name, g.Strategy)
		}
		if g.RingTime <= 0 {
			g.RingTime = 15 * time.Second
		}
		if g.Timeout <= 0 {
			g.Timeout = time.Minute
		}
		for _, m := range g.Members {
			if m.Port != 0 && a.ports[m.Port] == nil {
				return fmt.Errorf("group %q: member port %d is not on the board", g.Name, m.Port)
			}
		}
		gr := &group{o: g, lastEnd: map[string]time.Duration{}, hunts: map[*hunt]struct{}{}, regs: map[string]lineBinding{}}
		if g.Line {
			gr.line = GroupLine(i)
			gs.byLine[gr.line] = gr
		}
		gs.list = append(gs.list, gr)
		gs.byName[g.Name] = gr
		gs.byExt[g.Extension] = gr
		for _, r := range groupResults() {
			gs.calls.WithLabelValues(g.Name, r)
		}
		for _, m := range g.Members {
			gs.answered.WithLabelValues(g.Name, member{port: m.Port, number: m.Number}.key())
		}
	}
	a.gs = gs
	a.m.setup.WithLabelValues(RungLocal) // local calls' setup time
	return nil
}

// groupOf returns the group named name (nil: none).
func (a *Appliance) groupOf(name string) *group {
	if name == "" {
		return nil
	}
	return a.gs.byName[name]
}

// has says whether the member with key k is one of the group's.
func (g *group) has(k string) bool {
	for _, m := range g.o.Members {
		if (member{port: m.Port, number: m.Number}).key() == k {
			return true
		}
	}
	return false
}

// portMembers are the group's ports, in order.
func (g *group) portMembers() []int {
	var out []int
	for _, m := range g.o.Members {
		if m.Port != 0 {
			out = append(out, m.Port)
		}
	}
	return out
}

// noteState follows ports' calls for the longest-idle strategy: a port's
// idle time runs from the end of its last call.
func (a *Appliance) noteState(p *port, ev fxs.Event) {
	if ev.Prev == fxs.StateConnected && ev.State != fxs.StateConnected {
		a.gs.mu.Lock()
		a.gs.lastCall[p.opt.ID] = a.o.Clock.Now()
		a.gs.mu.Unlock()
	}
}

// order lists a group's members in the order a new call rings them.
func (a *Appliance) memberOrder(g *group) []member {
	ms := make([]member, len(g.o.Members))
	for i, m := range g.o.Members {
		ms[i] = member{port: m.Port, number: m.Number, ring: m.RingTime}
		if ms[i].ring <= 0 {
			ms[i].ring = g.o.RingTime
		}
	}
	switch g.o.Strategy {
	case StrategyRoundRobin:
		g.mu.Lock()
		start := g.rr % len(ms)
		g.rr = (start + 1) % len(ms)
		g.mu.Unlock()
		ms = append(ms[start:], ms[:start]...)
	case StrategyLongestIdle:
		last := make(map[string]time.Duration, len(ms))
		a.gs.mu.Lock()
		g.mu.Lock()
		for _, m := range ms {
			if m.port != 0 {
				last[m.key()] = a.gs.lastCall[m.port]
			} else {
				last[m.key()] = g.lastEnd[m.key()]
			}
		}
		g.mu.Unlock()
		a.gs.mu.Unlock()
		slices.SortStableFunc(ms, func(x, y member) int { return cmp.Compare(last[x.key()], last[y.key()]) })
	}
	return ms
}

// ---- the caller ----

// caller is the party calling a group (or a port): a trunk call, an
// inbound SIP call on the group's line, or a port. The hunt rings members
// for it and joins it to the one who answers.
type caller interface {
	describe() string
	cid() dsp.CallerID
	// offerPort rings port id for the caller; the port's call is the leg.
	offerPort(h *hunt, l *portLeg) (fxs.Progress, error)
	// answerPort connects the caller to port leg l, which answered, and
	// returns the media the port pumps.
	answerPort(h *hunt, l *portLeg) (fxs.Media, error)
	// outside says how an outside number is reached for this caller.
	outside() reach
	// connectOutside connects the caller to an outside leg that answered,
	// whose media is m, until ctx ends.
	connectOutside(ctx context.Context, h *hunt, m fxs.Media) error
	// alerting tells the caller the group is ringing.
	alerting()
	// fail ends the caller's leg: nobody answered (result says why).
	fail(h *hunt, result string)
	// release ends the caller's leg: the member it was connected to left.
	release()
}

// reach is how an outside member is called.
type reach int

const (
	reachSIP     reach = iota // a second leg through a registrar, relayed
	reachLadder               // a call from the calling port along its ladder
	reachNetwork              // the trunk caller handed over by the mobile network
)

// ---- the hunt ----

// leg is a member being rung, or connected.
type leg interface {
	key() string
	// stop ends the leg: stops it ringing, or, connected, ends its call.
	stop(detail string)
}

// hunt is one call for a group: the caller and the members it rings.
type hunt struct {
	a     *Appliance
	g     *group // nil: a local call to one port
	c     caller
	start time.Duration // the appliance's clock
	hops  int

	ctx    context.Context // ends with the call
	cancel context.CancelFunc

	mu       sync.Mutex
	legs     map[string]leg // ringing now
	winner   leg
	gone     bool // the caller left
	handing  bool // the mobile network is taking the call to an outside member
	over     bool
	answerAt time.Duration // the appliance's clock; 0 until answered
	wake     chan struct{}
	pair     *bridge.Pair // a port answered a port's call
	result   string       // what was booked for the current group
	rangSome bool         // a member rang in this group
}

func (a *Appliance) newHunt(g *group, c caller) *hunt {
	ctx, cancel := context.WithCancel(context.Background())
	h := &hunt{a: a, g: g, c: c, start: a.o.Clock.Now(), ctx: ctx, cancel: cancel, legs: map[string]leg{}, wake: make(chan struct{}, 1)}
	if g != nil {
		g.mu.Lock()
		g.hunts[h] = struct{}{}
		g.mu.Unlock()
	}
	return h
}

func (h *hunt) poke() {
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// claim makes l the leg that takes the call; it fails when another leg
// was first or the caller has left. The other legs stop ringing.
func (h *hunt) claim(l leg) bool {
	h.mu.Lock()
	if h.over || h.gone || h.winner != nil {
		h.mu.Unlock()
		return false
	}
	h.winner = l
	h.answerAt = h.a.o.Clock.Now()
	delete(h.legs, l.key())
	others := h.legs
	h.legs = map[string]leg{}
	g := h.g
	h.mu.Unlock()
	for _, o := range others {
		o.stop("answered by " + l.key())
	}
	if g != nil {
		h.book(groupAnswered)
		if g.has(l.key()) {
			h.a.gs.answered.WithLabelValues(g.o.Name, l.key()).Inc()
		}
		h.a.log.Info("group call answered", "group", g.o.Name, "member", l.key(), "caller", h.c.describe(), "after", (h.a.o.Clock.Now() - h.start).Round(time.Millisecond))
	}
	h.poke()
	return true
}

// book counts the call's result for the group it is in, once per group.
func (h *hunt) book(result string) {
	h.mu.Lock()
	g := h.g
	first := h.result == ""
	if first {
		h.result = result
	}
	h.mu.Unlock()
	if g != nil && first {
		h.a.gs.calls.WithLabelValues(g.o.Name, result).Inc()
	}
}

// isWinner says whether l took the call.
func (h *hunt) isWinner(l leg) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.winner == l
}

// ringing adds a leg that rings now.
func (h *hunt) ringing(l leg) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.over || h.gone || h.winner != nil {
		return false
	}
	h.legs[l.key()] = l
	h.rangSome = true
	return true
}

// legFailed: a ringing leg gave up (refused, unreachable, gone).
func (h *hunt) legFailed(l leg) {
	h.mu.Lock()
	if h.legs[l.key()] == l {
		delete(h.legs, l.key())
	}
	h.mu.Unlock()
	h.poke()
}

// stopRinging stops every leg still ringing.
func (h *hunt) stopRinging(detail string) {
	h.mu.Lock()
	legs := h.legs
	h.legs = map[string]leg{}
	h.mu.Unlock()
	for _, l := range legs {
		l.stop(detail)
	}
}

// callerGone: the caller hung up (or was cleared). Members still ringing
// stop; a connected member's call ends.
func (h *hunt) callerGone() {
	h.mu.Lock()
	if h.gone || h.over {
		h.mu.Unlock()
		return
	}
	h.gone = true
	w, handing := h.winner, h.handing
	h.mu.Unlock()
	if w == nil && !handing { // a call the network took away ends too: handOver books it
		h.book(groupAbandoned)
	}
	h.stopRinging("caller cleared")
	if w != nil {
		w.stop("caller cleared")
	}
	h.poke()
	h.end()
}

// memberLeft: the member connected to the caller hung up.
func (h *hunt) memberLeft(l leg) {
	h.mu.Lock()
	if h.winner != l || h.over {
		h.mu.Unlock()
		return
	}
	gone := h.gone
	h.mu.Unlock()
	if !gone {
		h.c.release()
	}
	h.end()
}

// end finishes the call: media stops, the group forgets it.
func (h *hunt) end() {
	h.mu.Lock()
	if h.over {
		h.mu.Unlock()
		return
	}
	h.over = true
	w, g, pair := h.winner, h.g, h.pair
	h.mu.Unlock()
	h.cancel()
	if pair != nil {
		pair.Close()
	}
	if g != nil {
		g.mu.Lock()
		delete(g.hunts, h)
		if w != nil && h.answerAt != 0 {
			if ol, ok := w.(*outsideLeg); ok {
				g.lastEnd[ol.key()] = h.a.o.Clock.Now()
			}
		}
		g.mu.Unlock()
	}
	h.poke()
}

// Hangup implements fxs.Call for a port that called the group (or another
// port): the porter hung up.
func (h *hunt) Hangup() error {
	h.callerGone()
	return nil
}

type outcome int

const (
	outTimeout  outcome = iota // the step's time ran out
	outAnswered                // a member took the call
	outGone                    // the caller left (or the call is over)
	outFailed                  // every leg of the step gave up
)

// wait waits for the step's outcome until until on the appliance's clock
// (zero: no limit).
func (h *hunt) wait(until time.Duration) outcome {
	var timer <-chan struct{}
	if until != 0 {
		ch, stop := h.a.after(until - h.a.o.Clock.Now())
		defer stop()
		timer = ch
	}
	for {
		h.mu.Lock()
		switch {
		case h.winner != nil:
			h.mu.Unlock()
			return outAnswered
		case h.gone || h.over:
			h.mu.Unlock()
			return outGone
		case len(h.legs) == 0:
			h.mu.Unlock()
			return outFailed
		}
		h.mu.Unlock()
		select {
		case <-h.wake:
		case <-timer:
			return outTimeout
		}
	}
}

// run hunts through the group (and the groups it overflows to) until a
// member answers, the caller leaves or nothing is left.
func (h *hunt) run() {
	h.c.alerting()
	for {
		done, next := h.huntGroup()
		if done {
			return
		}
		if next == nil {
			return
		}
		h.mu.Lock()
		h.g, h.result, h.rangSome = next, "", false
		h.hops++
		h.mu.Unlock()
		next.mu.Lock()
		next.hunts[h] = struct{}{}
		next.mu.Unlock()
	}
}

// huntGroup rings the members of h.g by its strategy, then overflows. It
// returns done when the call is settled, or the group to overflow to.
func (h *hunt) huntGroup() (done bool, next *group) {
	g := h.g
	clk := h.a.o.Clock
	deadline := clk.Now() + g.o.Timeout
	members := h.a.memberOrder(g)
	h.a.log.Info("group call", "group", g.o.Name, "strategy", g.o.Strategy, "caller", h.c.describe())
	if g.o.Strategy == StrategyRingAll {
		if h.ringAll(members, deadline) {
			return true, nil
		}
	} else {
		for clk.Now() < deadline {
			// A round in which no member rang out its ring time (all of
			// them skipped, or refused at once) ends the hunt: nobody is
			// there to wait for, and redialling would only hammer them.
			rangOut := false
			for _, m := range members {
				if clk.Now() >= deadline {
					break
				}
				if !h.ring(m) {
					continue // cannot ring now: skipped at once
				}
				until := min(clk.Now()+m.ring, deadline)
				switch h.wait(until) {
				case outAnswered, outGone:
					return true, nil
				case outTimeout:
					rangOut = true
				}
				h.stopRinging("not answered: the next member rings")
				if h.settled() {
					return true, nil
				}
			}
			if !rangOut {
				break // on to the overflow at once
			}
		}
	}
	h.stopRinging("the group's time is up")
	if h.settled() {
		return true, nil
	}
	g.mu.Lock()
	delete(g.hunts, h)
	g.mu.Unlock()
	return h.overflow()
}

// settled says whether the call no longer needs hunting (answered, handed
// on by the network, or the caller left).
func (h *hunt) settled() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.winner != nil || h.gone || h.over
}

// ringAll rings every member that can ring until one answers or the
// deadline; it reports whether the call is settled. Outside members the
// network must take (a trunk caller with no registrar) cannot ring beside
// the ports: they take the call after the ring time if nobody answered.
func (h *hunt) ringAll(members []member, deadline time.Duration) bool {
	var later []member
	shed := h.a.isShedding()
	rang := 0
	for _, m := range members {
		if m.port == 0 && h.c.outside() == reachNetwork {
			later = append(later, m)
			continue
		}
		if shed && rang > 0 && m.port != 0 {
			continue // battery low: one port rings
		}
		if h.ring(m) {
			rang++
		}
	}
	until := deadline
	if len(later) > 0 {
		until = min(h.a.o.Clock.Now()+h.g.o.RingTime, deadline)
	}
	if rang > 0 {
		switch h.wait(until) {
		case outAnswered, outGone:
			return true
		}
	}
	for _, m := range later {
		h.stopRinging("not answered: handed to " + m.number)
		if h.settled() {
			return true
		}
		if h.ring(m) {
			return true // the network took it
		}
	}
	return h.settled() // nobody answered in time, or nobody could ring: overflow
}

func (a *Appliance) isShedding() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.shedding
}

// ring starts member m ringing; false: it cannot ring now (skipped). A
// member the network takes (deflection, transfer) settles the call.
func (h *hunt) ring(m member) bool {
	if m.port != 0 {
		return h.ringPort(m)
	}
	switch h.c.outside() {
	case reachNetwork:
		return h.handOver(m)
	default:
		return h.ringOutside(m)
	}
}

// ringPort offers the call to a port member that can ring.
func (h *hunt) ringPort(m member) bool {
	p := h.a.ports[m.port]
	if p == nil {
		return false
	}
	if ok, why := h.a.canRing(p); !ok {
		h.a.log.Info("group member cannot ring: skipped", "member", m.key(), "why", why)
		return false
	}
	if sn := p.fx.Snapshot(); sn.State != fxs.StateIdle || sn.OffHook {
		h.a.log.Info("group member busy: skipped", "member", m.key(), "state", sn.State)
		return false
	}
	l := &portLeg{h: h, id: m.port}
	if !h.ringing(l) {
		return false
	}
	pr, err := h.c.offerPort(h, l)
	if err != nil {
		h.legFailed(l)
		h.a.log.Info("group member cannot ring: skipped", "member", m.key(), "err", err)
		return false
	}
	l.mu.Lock()
	l.pr = pr
	stopped := l.stopped
	l.mu.Unlock()
	if stopped { // stopped while it was being offered
		pr.Update(fxs.CallUpdate{State: fxs.CallEnded, Detail: "not needed any more"})
	}
	return true
}

// overflow sends the call to the group's overflow destination, or ends it.
func (h *hunt) overflow() (done bool, next *group) {
	g := h.g
	h.mu.Lock()
	rang := h.rangSome
	h.mu.Unlock()
	why := groupUnanswered
	if !rang {
		why = groupNoMember
	}
	o := g.o.Overflow
	if o == "" {
		h.book(why)
		h.a.log.Warn("group call lost: nobody answered and the group has no overflow", "group", g.o.Name, "why", why, "caller", h.c.describe())
		h.c.fail(h, why)
		h.end()
		return true, nil
	}
	h.book(groupOverflow)
	h.a.log.Info("group call overflows", "group", g.o.Name, "to", o, "why", why, "caller", h.c.describe())
	if ng := h.a.gs.byExt[o]; ng != nil {
		if h.hops >= maxOverflowHops {
			h.c.fail(h, why)
			h.end()
			return true, nil
		}
		return false, ng
	}
	m := member{number: o}
	if p := h.a.portByExtension(o); p != nil {
		m = member{port: p.opt.ID}
	}
	if !h.ring(m) {
		h.c.fail(h, why)
		h.end()
		return true, nil
	}
	if h.settled() {
		return true, nil
	}
	if h.wait(0) == outFailed {
		h.c.fail(h, why)
		h.end()
	}
	return true, nil
}

// portByExtension finds the port whose extension is ext.
func (a *Appliance) portByExtension(ext string) *port {
	for _, id := range a.order {
		if p := a.ports[id]; p.opt.Extension == ext {
			return p
		}
	}
	return nil
}

// ---- port members ----

// portLeg is a port rung for a caller: its InboundCall.
type portLeg struct {
	h  *hunt
	id int

	mu      sync.Mutex
	pr      fxs.Progress
	stopped bool
	forget  func() // a trunk caller's: the trunk stops offering it to the port
}

func (l *portLeg) key() string { return "port:" + strconv.Itoa(l.id) }

func (l *portLeg) stop(detail string) {
	l.mu.Lock()
	pr, forget := l.pr, l.forget
	l.stopped = true
	l.mu.Unlock()
	if forget != nil {
		forget()
	}
	if pr != nil {
		pr.Update(fxs.CallUpdate{State: fxs.CallEnded, Detail: detail})
	}
}

var errTaken = errors.New("the call was answered elsewhere or the caller has gone")

// Answer implements fxs.InboundCall: the porter lifted the handset.
func (l *portLeg) Answer() (fxs.Media, error) {
	if !l.h.claim(l) {
		return nil, errTaken
	}
	m, err := l.h.c.answerPort(l.h, l)
	if err != nil {
		l.h.memberLeft(l)
		return nil, err
	}
	return m, nil
}

// Hangup implements fxs.Call: the porter hung up.
func (l *portLeg) Hangup() error {
	if l.h.isWinner(l) {
		l.h.memberLeft(l)
	}
	return nil
}

// SendDigit implements fxs.DigitSender: digits go to a caller that takes
// them (a SIP caller).
func (l *portLeg) SendDigit(d rune) error {
	if ds, ok := l.h.c.(interface{ sendDigit(rune) error }); ok && l.h.isWinner(l) {
		return ds.sendDigit(d)
	}
	return nil
}

// ---- status ----

// groupsStatus lists the groups for status.
func (a *Appliance) groupsStatus() []control.Group {
	out := make([]control.Group, 0, len(a.gs.list))
	for _, g := range a.gs.list {
		cg := control.Group{Name: g.o.Name, Extension: g.o.Extension, Strategy: g.o.Strategy, Overflow: g.o.Overflow}
		ringing := map[string]bool{}
		g.mu.Lock()
		hunts := make([]*hunt, 0, len(g.hunts))
		for h := range g.hunts {
			hunts = append(hunts, h)
		}
		if g.line != 0 {
			cg.Line = "unregistered"
			for _, r := range a.o.Registrars {
				if g.regs[r.Name].registered {
					cg.Line = "registered"
					break
				}
			}
		}
		g.mu.Unlock()
		for _, h := range hunts {
			h.mu.Lock()
			if !h.over {
				cg.Calls++
				for k := range h.legs {
					ringing[k] = true
				}
			}
			h.mu.Unlock()
		}
		for _, m := range g.o.Members {
			mm := member{port: m.Port, number: m.Number}
			ms := control.GroupMember{Member: mm.key(), State: "ready"}
			if ringing[mm.key()] {
				ms.State = "ringing"
				cg.Ringing = append(cg.Ringing, mm.key())
			} else if p := a.ports[m.Port]; p != nil {
				if ok, why := a.canRing(p); !ok {
					ms.State = "cannot ring: " + why
				} else if sn := p.fx.Snapshot(); sn.State != fxs.StateIdle || sn.OffHook {
					ms.State = "busy: " + string(sn.State)
				}
			}
			cg.Members = append(cg.Members, ms)
		}
		out = append(out, cg)
	}
	return out
}

// groupLineStatus follows a group line's registration; it reports whether
// the line was a group's.
func (a *Appliance) groupLineStatus(line int, registrar string, b lineBinding) bool {
	g := a.gs.byLine[line]
	if g == nil {
		return false
	}
	g.mu.Lock()
	g.regs[registrar] = b
	g.mu.Unlock()
	return true
}

// groupLineBound says whether the group's line is registered with the
// registrar.
func (g *group) lineBound(registrar string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.line != 0 && g.regs[registrar].registered
}
