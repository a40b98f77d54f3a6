package firmware

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// ProgressPrinter renders Progress: a redrawn bar with rate and time left on
// a terminal, or one plain line per tenth of the work otherwise (logs, pipes,
// serial consoles).
type ProgressPrinter struct {
	w        io.Writer
	tty      bool
	now      func() time.Time
	phase    string
	start    time.Time
	lastDraw time.Time
	lastTen  int64
	drawn    bool
}

// NewProgressPrinter prints to w; tty selects the bar; now is the clock
// (time.Now when nil).
func NewProgressPrinter(w io.Writer, tty bool, now func() time.Time) *ProgressPrinter {
	if now == nil {
		now = time.Now
	}
	return &ProgressPrinter{w: w, tty: tty, now: now}
}

func phaseLabel(phase string) string {
	switch phase {
	case "write":
		return "writing"
	case "verify":
		return "verifying"
	}
	return phase
}

// Update takes one progress report.
func (p *ProgressPrinter) Update(pr Progress) {
	t := p.now()
	if pr.Phase != p.phase {
		p.finishLine()
		p.phase, p.start, p.lastTen = pr.Phase, t, -1
		p.lastDraw = time.Time{}
	}
	complete := pr.Total > 0 && pr.Done >= pr.Total
	label := phaseLabel(pr.Phase)
	if p.tty {
		if !complete && !p.lastDraw.IsZero() && t.Sub(p.lastDraw) < 100*time.Millisecond {
			return
		}
		p.lastDraw = t
		fmt.Fprintf(p.w, "\r%-9s %s %s\x1b[K", label, bar(pr.Done, pr.Total, 30), p.figures(pr, t))
		p.drawn = true
		if complete {
			p.finishLine()
		}
		return
	}
	ten := int64(0)
	if pr.Total > 0 {
		ten = pr.Done * 10 / pr.Total
	}
	if ten == p.lastTen {
		return
	}
	p.lastTen = ten
	fmt.Fprintf(p.w, "%s: %s\n", label, p.figures(pr, t))
}

// Done ends a bar left open.
func (p *ProgressPrinter) Done() { p.finishLine() }

func (p *ProgressPrinter) finishLine() {
	if p.tty && p.drawn {
		fmt.Fprintln(p.w)
		p.drawn = false
	}
}

func (p *ProgressPrinter) figures(pr Progress, t time.Time) string {
	pct := 0.0
	if pr.Total > 0 {
		pct = float64(pr.Done) * 100 / float64(pr.Total)
	}
	s := fmt.Sprintf("%3.0f%% %s/%s", pct, mib(pr.Done), mib(pr.Total))
	el := t.Sub(p.start).Seconds()
	if el <= 0 || pr.Done == 0 {
		return s
	}
	rate := float64(pr.Done) / el
	s += fmt.Sprintf("  %s/s", mib(int64(rate)))
	if pr.Total > pr.Done {
		left := time.Duration(float64(pr.Total-pr.Done) / rate * float64(time.Second))
		s += "  " + clock(left) + " left"
	} else {
		s += "  in " + clock(t.Sub(p.start))
	}
	return s
}

func bar(done, total int64, width int) string {
	n := 0
	if total > 0 {
		n = int(done * int64(width) / total)
	}
	n = max(0, min(n, width))
	return "[" + strings.Repeat("#", n) + strings.Repeat(".", width-n) + "]"
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

func clock(d time.Duration) string {
	s := int64(d.Round(time.Second) / time.Second)
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}
