package testpeer

// Faults short of death: a PBX that freezes and later carries on with
// what queued up meanwhile, a link that loses packets at random.

import (
	"fmt"
	"os/exec"
	"strings"
	"syscall"
)

// Freeze stops the PBX without closing its sockets (SIGSTOP to its process
// group), as a hung or swapped-out process: packets queue up unanswered.
func (k *Kamailio) Freeze() { k.signal(syscall.SIGSTOP) }

// Thaw lets a frozen PBX carry on (SIGCONT): it then handles, in order,
// everything that queued up meanwhile, stale INVITEs included.
func (k *Kamailio) Thaw() { k.signal(syscall.SIGCONT) }

func (k *Kamailio) signal(sig syscall.Signal) {
	k.mu.Lock()
	cmd, done := k.cmd, k.done
	k.mu.Unlock()
	if cmd == nil {
		return
	}
	select {
	case <-done:
		return
	default:
	}
	if err := syscall.Kill(-cmd.Process.Pid, sig); err != nil {
		k.t.Fatalf("kamailio: %v: %v", sig, err)
	}
}

// Loss makes the cable lose pct per cent of the UDP datagrams crossing it,
// in each direction, independently and at random. It uses netem (`tc qdisc
// replace dev IF root netem loss PCT%` on both ends) where the kernel has
// it, else the same random loss from nftables (`numgen random` drops on
// the namespace's input and output hooks), and says which. 0 ends the loss.
func (n *NetNS) Loss(pct float64) string {
	n.t.Helper()
	peerIf := strings.Replace(n.HostIf, "clh", "clp", 1)
	inNS := func(args ...string) *exec.Cmd {
		return exec.Command("ip", append([]string{"netns", "exec", n.Name}, args...)...)
	}
	if pct <= 0 {
		exec.Command("tc", "qdisc", "del", "dev", n.HostIf, "root").Run()
		inNS("tc", "qdisc", "del", "dev", peerIf, "root").Run()
		inNS("nft", "delete", "table", "inet", "critline_loss").Run()
		return "none"
	}
	loss := fmt.Sprintf("%g%%", pct)
	if err := exec.Command("tc", "qdisc", "replace", "dev", n.HostIf, "root", "netem", "loss", loss).Run(); err == nil {
		n.run("ip", "netns", "exec", n.Name, "tc", "qdisc", "replace", "dev", peerIf, "root", "netem", "loss", loss)
		return "netem loss " + loss
	}
	// No sch_netem in this kernel (CONFIG_NET_SCH_NETEM): nftables.
	n.t.Cleanup(func() { inNS("nft", "delete", "table", "inet", "critline_loss").Run() })
	inNS("nft", "delete", "table", "inet", "critline_loss").Run()
	per100k := int(pct*1000 + 0.5)
	rules := fmt.Sprintf(`table inet critline_loss {
	chain in { type filter hook input priority 0; policy accept; meta l4proto udp numgen random mod 100000 < %d counter drop; }
	chain out { type filter hook output priority 0; policy accept; meta l4proto udp numgen random mod 100000 < %d counter drop; }
}
`, per100k, per100k)
	cmd := inNS("nft", "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		n.t.Fatalf("nft (no netem in this kernel, and nftables failed too): %v\n%s", err, out)
	}
	return "nftables random drop " + loss
}

// Dropped returns how many datagrams the nftables loss dropped in and out
// of the namespace (0, 0 under netem, which keeps its own counters).
func (n *NetNS) Dropped() (in, out int) {
	n.t.Helper()
	b, err := exec.Command("ip", "netns", "exec", n.Name, "nft", "list", "table", "inet", "critline_loss").Output()
	if err != nil {
		return 0, 0
	}
	chain := ""
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) >= 2 && f[0] == "chain" {
			chain = f[1]
			continue
		}
		i := strings.Index(l, "counter packets ")
		if i < 0 {
			continue
		}
		var pk int
		fmt.Sscanf(l[i+len("counter packets "):], "%d", &pk)
		if chain == "in" {
			in = pk
		} else {
			out = pk
		}
	}
	return in, out
}

// holdState is what a BadPBX holds back: everything while frozen (queued,
// to be handled in order on Thaw), and the next INVITE datagrams it is
// told to lose.
type holdState struct {
	frozen   bool
	queue    []*Msg
	loseInvs int
	lost     []*Msg
}

// held reports whether m is held back (queued or lost) instead of handled.
func (p *BadPBX) held(m *Msg) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.hold.frozen {
		p.hold.queue = append(p.hold.queue, m)
		return true
	}
	if p.hold.loseInvs > 0 && m.Method() == "INVITE" {
		p.hold.loseInvs--
		p.hold.lost = append(p.hold.lost, m)
		return true
	}
	return false
}

// Freeze makes the PBX stop answering without closing its socket: what
// arrives queues up, as in a hung process's socket buffer.
func (p *BadPBX) Freeze() {
	p.mu.Lock()
	p.hold.frozen = true
	p.mu.Unlock()
}

// Thaw handles, in order, everything that queued up while frozen (stale
// INVITEs included: a PBX that carries on after a stall), then serves as
// before.
func (p *BadPBX) Thaw() {
	for {
		p.mu.Lock()
		q := p.hold.queue
		p.hold.queue = nil
		if len(q) == 0 {
			p.hold.frozen = false
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
		for _, m := range q {
			p.handle(m)
		}
	}
}

// LoseInvites makes the next n INVITE datagrams from the appliance vanish
// on the way (a lossy link), retransmissions included; everything else
// gets through.
func (p *BadPBX) LoseInvites(n int) {
	p.mu.Lock()
	p.hold.loseInvs = n
	p.mu.Unlock()
}

// LostInvites returns the INVITE datagrams lost so far.
func (p *BadPBX) LostInvites() []*Msg {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]*Msg(nil), p.hold.lost...)
}
