package survivability

import (
	"github.com/critline/critline/control"
	"github.com/critline/critline/sip"
)

// lineBinding is a port's line registration with one registrar.
type lineBinding struct {
	registered bool
	err        string // the last failure, "" when registered
	path       string // the network path the binding was made over
}

// lineStatus follows one line's binding with one registrar (with [sip]
// register = "all" a line is bound with every registrar at once). The port
// counts as registered while any binding holds; its registrar for status
// is the most preferred one it is bound with.
func (a *Appliance) lineStatus(e sip.LineStatus) {
	p := a.ports[e.Port]
	if e.Registrar == "" {
		return
	}
	b := lineBinding{registered: e.Registered, path: e.Path}
	if e.Err != nil {
		b.err = e.Err.Error()
	}
	if p == nil {
		if a.groupLineStatus(e.Port, e.Registrar, b) { // a group's own line (groups.go)
			a.lineLog.log(a.log, e)
		}
		return
	}
	a.mu.Lock()
	p.regs[e.Registrar] = b
	p.reg, p.regOK = "", false
	for _, ro := range a.o.Registrars {
		if p.regs[ro.Name].registered {
			p.reg, p.regOK = ro.Name, true
			break
		}
	}
	a.mu.Unlock()
	a.lineLog.log(a.log, e)
	a.reevaluate("line registration")
}

// registrationsLocked lists a port's binding with each registrar, in the
// registrars' order, for status.
func (a *Appliance) registrationsLocked(p *port) []control.LineRegistration {
	out := make([]control.LineRegistration, 0, len(a.o.Registrars))
	for _, ro := range a.o.Registrars {
		b := p.regs[ro.Name]
		out = append(out, control.LineRegistration{Registrar: ro.Name, Registered: b.registered, Error: b.err, Path: b.path})
	}
	return out
}

// boundWithLocked reports whether any line is bound with the registrar.
func (a *Appliance) boundWithLocked(registrar string) bool {
	for _, id := range a.order {
		if a.ports[id].regs[registrar].registered {
			return true
		}
	}
	return false
}
