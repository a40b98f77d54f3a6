package guard

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/critline/critline/survivability/store"
	"github.com/prometheus/client_golang/prometheus"
)

// Reason says why a number was blocked (the reason label of
// critline_fraud_blocked_total).
type Reason string

// Block reasons.
const (
	ReasonPremium       Reason = "premium"       // premium-rate category
	ReasonInternational Reason = "international" // international category
	ReasonDenied        Reason = "denied"        // a deny pattern, or not on the allow list
	ReasonCap           Reason = "cap"           // the route's daily minutes are used up
	ReasonInvalid       Reason = "invalid"       // not a dialable number
)

// Reasons lists every block reason.
func Reasons() []Reason {
	return []Reason{ReasonPremium, ReasonInternational, ReasonDenied, ReasonCap, ReasonInvalid}
}

// Decision is the guard's answer for one number on one route.
type Decision struct {
	// Allowed says whether the call may be placed.
	Allowed bool
	// Reason is set when the call is blocked.
	Reason Reason
	// Emergency is true for an emergency number (always allowed).
	Emergency bool
	// Number is what to dial: the number after the route's rewrite rules.
	Number string
	// Route is the policy that decided (the route's name, or "default").
	Route string
	// Rule names the pattern or rewrite rule behind the decision, for
	// logs ("deny 09*", "premium 087*", "rewrite 2xxxxx -> 018652xxxxx").
	Rule string
	// MaxDuration is how long the call may last: the route's limit, or
	// less when the daily cap is nearly used up; 0 = no limit (emergency).
	MaxDuration time.Duration
}

// Options are the guard's collaborators; all are optional.
type Options struct {
	// Store keeps the daily minutes across restarts (store.Open(dir,
	// "guard", log)); nil keeps them in memory only.
	Store *store.File
	// Log receives blocks and cap events; nil discards.
	Log *slog.Logger
	// Registerer takes the guard's metrics; nil registers nothing.
	Registerer prometheus.Registerer
	// Now is the wall clock used to find the local day; nil = time.Now.
	Now func() time.Time
	// Location is the local time zone whose midnight resets the daily
	// minutes; nil = time.Local.
	Location *time.Location
}

// Guard applies the configured policy. Its methods are safe for concurrent
// use.
type Guard struct {
	cfg   *compiled
	store *store.File
	log   *slog.Logger
	now   func() time.Time
	loc   *time.Location

	blocked *prometheus.CounterVec
	minutes *prometheus.GaugeVec

	mu     sync.Mutex
	usage  usage
	active map[string]int
}

// usage is the persisted state: seconds used per route on Day.
type usage struct {
	Day     string             `json:"day"`
	Seconds map[string]float64 `json:"seconds"`
}

// New checks cfg and returns a guard. The daily minutes are loaded from
// opts.Store; an unreadable or corrupt state file is logged and the count
// starts from zero.
func New(cfg Config, opts Options) (*Guard, error) {
	c, err := cfg.compile()
	if err != nil {
		return nil, err
	}
	g := &Guard{cfg: c, store: opts.Store, log: opts.Log, now: opts.Now, loc: opts.Location, active: map[string]int{}}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	if g.now == nil {
		g.now = time.Now
	}
	if g.loc == nil {
		g.loc = time.Local
	}
	g.blocked = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "critline_fraud_blocked_total",
		Help: "Numbers the toll-fraud guard refused, by reason (premium, international, denied, cap, invalid).",
	}, []string{"reason"})
	g.minutes = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "critline_guard_minutes_today",
		Help: "Call minutes used today (local day) per guarded route, against its daily cap.",
	}, []string{"route"})
	for _, r := range Reasons() {
		g.blocked.WithLabelValues(string(r))
	}
	if opts.Registerer != nil {
		for _, col := range []prometheus.Collector{g.blocked, g.minutes} {
			if err := opts.Registerer.Register(col); err != nil {
				return nil, fmt.Errorf("guard: register metrics: %w", err)
			}
		}
	}
	g.usage = usage{Day: g.today(), Seconds: map[string]float64{}}
	if g.store != nil {
		var u usage
		err := g.store.Load(&u)
		switch {
		case err == nil && u.Day == g.usage.Day && u.Seconds != nil:
			for name, s := range u.Seconds {
				if s > 0 && !math.IsInf(s, 0) && !math.IsNaN(s) {
					g.usage.Seconds[name] = s
				}
			}
		case err == nil, errors.Is(err, store.ErrNotFound):
		default:
			g.log.Warn("daily call minutes not restored; counting from zero", "err", err)
		}
	}
	for name, s := range g.usage.Seconds {
		g.minutes.WithLabelValues(name).Set(s / 60)
	}
	return g, nil
}

func (g *Guard) today() string { return g.now().In(g.loc).Format(time.DateOnly) }

// rollDay resets the counts at local midnight. g.mu is held.
func (g *Guard) rollDay() {
	if d := g.today(); d != g.usage.Day {
		if len(g.usage.Seconds) > 0 {
			g.log.Info("new day: daily call minutes reset", "day", d, "previous", g.usage.Day)
		}
		for name := range g.usage.Seconds {
			g.minutes.WithLabelValues(name).Set(0)
		}
		g.usage = usage{Day: d, Seconds: map[string]float64{}}
	}
}

func (g *Guard) route(name string) *route {
	if r, ok := g.cfg.routes[name]; ok {
		return r
	}
	return g.cfg.def
}

// IsEmergency reports whether number is one of the configured emergency
// numbers.
func (g *Guard) IsEmergency(number string) bool {
	n, err := NormalizeNumber(number)
	return err == nil && g.cfg.emergency[n]
}

// Rewrite applies route's rewrite rules to number without checking it.
// Emergency numbers are never rewritten.
func (g *Guard) Rewrite(route, number string) (string, error) {
	n, err := NormalizeNumber(number)
	if err != nil {
		return "", err
	}
	if g.cfg.emergency[n] {
		return n, nil
	}
	out, _ := g.route(route).rewrite.apply(n)
	return NormalizeNumber(out)
}

// Check decides whether number may be dialled on route: emergency numbers
// always pass; otherwise the number is rewritten and checked against the
// route's deny patterns, the premium and international categories, its
// allow list and its daily cap. A blocked number is logged and counted.
// The error is non-nil only for a number that is not dialable (the
// Decision then says Reason "invalid").
func (g *Guard) Check(route, number string) (Decision, error) {
	return g.check(route, number, true)
}

// CheckNumber is Check without the daily cap: for a number stored for
// later (a forwarding destination), whose calls are checked again when
// they are placed.
func (g *Guard) CheckNumber(route, number string) (Decision, error) {
	return g.check(route, number, false)
}

func (g *Guard) check(name, number string, withCap bool) (Decision, error) {
	r := g.route(name)
	d := Decision{Route: r.name}
	n, err := NormalizeNumber(number)
	if err != nil {
		d.Reason = ReasonInvalid
		g.block(name, number, d)
		return d, fmt.Errorf("guard: %w", err)
	}
	if g.cfg.emergency[n] {
		return Decision{Allowed: true, Emergency: true, Number: n, Route: r.name, Rule: "emergency"}, nil
	}
	out, rule := r.rewrite.apply(n)
	if rule != "" {
		if out, err = NormalizeNumber(out); err != nil {
			d.Reason = ReasonInvalid
			d.Rule = "rewrite " + rule
			g.block(name, number, d)
			return d, fmt.Errorf("guard: rewrite %q of %q: %w", rule, n, err)
		}
		d.Rule = "rewrite " + rule
	}
	d.Number = out
	if reason, why := r.verdict(g.cfg, out); reason != "" {
		d.Reason, d.Rule = reason, why
		g.block(name, number, d)
		return d, nil
	}
	d.Allowed = true
	d.MaxDuration = r.maxDuration
	if !withCap {
		return d, nil
	}
	g.mu.Lock()
	g.rollDay()
	used := time.Duration(g.usage.Seconds[name] * float64(time.Second))
	g.mu.Unlock()
	left := time.Duration(r.dailyMinutes)*time.Minute - used
	if left < time.Second {
		d.Allowed, d.Reason, d.MaxDuration = false, ReasonCap, 0
		d.Rule = fmt.Sprintf("daily_minutes %d used", r.dailyMinutes)
		g.block(name, number, d)
		return d, nil
	}
	d.MaxDuration = min(d.MaxDuration, left)
	return d, nil
}

// verdict applies the pattern checks in order; "" = allowed.
func (r *route) verdict(c *compiled, n string) (Reason, string) {
	if p, ok := r.deny.first(n); ok {
		return ReasonDenied, "deny " + p.String()
	}
	allowed, explicit := r.allow.first(n)
	if p, ok := c.premium.first(n); ok && !r.allowPremium && !(explicit && allowed.within(p)) {
		return ReasonPremium, "premium " + p.String()
	}
	if p, ok := c.international.first(n); ok && !r.allowInternational && !(explicit && allowed.within(p)) {
		return ReasonInternational, "international " + p.String()
	}
	if len(r.allow) > 0 && !explicit {
		return ReasonDenied, "not on the allow list"
	}
	return "", ""
}

func (g *Guard) block(route, number string, d Decision) {
	g.blocked.WithLabelValues(string(d.Reason)).Inc()
	g.log.Warn("toll-fraud guard blocked a number", "route", route, "policy", d.Route, "number", number,
		"dialled", d.Number, "reason", string(d.Reason), "rule", d.Rule)
}

// MaxDuration is the longest one call on route may last.
func (g *Guard) MaxDuration(route string) time.Duration { return g.route(route).maxDuration }

// Minutes are counted per route name: routes without their own entry share
// the default policy but each has its own count.

// CallStarted records that a call was connected on route.
func (g *Guard) CallStarted(route string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.active[route]++
}

// CallEnded adds a finished call's duration to route's minutes today and
// saves the count. Emergency calls count too (they are real minutes) but
// are never blocked by the cap.
func (g *Guard) CallEnded(route string, d time.Duration) {
	name := route
	g.mu.Lock()
	if g.active[name] > 0 {
		g.active[name]--
	}
	g.rollDay()
	if d > 0 {
		g.usage.Seconds[name] += d.Seconds()
	}
	used := g.usage.Seconds[name]
	snapshot := usage{Day: g.usage.Day, Seconds: make(map[string]float64, len(g.usage.Seconds))}
	for k, v := range g.usage.Seconds {
		snapshot.Seconds[k] = v
	}
	// Save under the lock so saves land in order.
	var err error
	if g.store != nil {
		err = g.store.Save(snapshot)
	}
	g.mu.Unlock()
	g.minutes.WithLabelValues(name).Set(used / 60)
	if err != nil {
		g.log.Error("daily call minutes not saved; they will be lost on restart", "err", err)
	}
	if limit := float64(g.route(route).dailyMinutes) * 60; used >= limit && used-d.Seconds() < limit {
		g.log.Warn("route reached its daily minutes cap; non-emergency calls are blocked until midnight",
			"route", name, "daily_minutes", g.route(route).dailyMinutes)
	}
}

// Usage reports the minutes used today on route, its cap and its calls up now.
func (g *Guard) Usage(route string) (used time.Duration, limit time.Duration, active int) {
	r := g.route(route)
	g.mu.Lock()
	defer g.mu.Unlock()
	g.rollDay()
	return time.Duration(g.usage.Seconds[route] * float64(time.Second)), time.Duration(r.dailyMinutes) * time.Minute, g.active[route]
}
