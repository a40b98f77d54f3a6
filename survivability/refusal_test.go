package survivability

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"

	"github.com/critline/critline/fxs"
	"github.com/critline/critline/sip"
	"github.com/prometheus/client_golang/prometheus"
)

// One row per SIP final response an outbound call may get: only a timeout
// (408) and a 5xx let the next rung try (DESIGN); every refusal keeps the
// call off the trunk and picks the porter's tone.
func TestSIPCodeTable(t *testing.T) {
	const (
		cong   = fxs.FailCongestion
		busy   = fxs.FailBusy
		unobt  = fxs.FailUnobtainable
		retry  = true
		refuse = false
	)
	for _, row := range []struct {
		code   int
		retry  bool
		reason fxs.FailReason
	}{
		{300, refuse, cong}, {301, refuse, cong}, {302, refuse, cong}, {305, refuse, cong}, {380, refuse, cong},
		{400, refuse, cong}, {401, refuse, cong}, {402, refuse, cong}, {403, refuse, unobt}, {404, refuse, unobt},
		{405, refuse, cong}, {406, refuse, cong}, {407, refuse, cong}, {408, retry, cong}, {410, refuse, unobt},
		{413, refuse, cong}, {414, refuse, cong}, {415, refuse, cong}, {416, refuse, cong}, {420, refuse, cong},
		{421, refuse, cong}, {423, refuse, cong}, {480, refuse, cong}, {481, refuse, cong}, {482, refuse, cong},
		{483, refuse, cong}, {484, refuse, unobt}, {485, refuse, unobt}, {486, refuse, busy}, {487, refuse, cong},
		{488, refuse, cong}, {491, refuse, cong}, {493, refuse, cong},
		{500, retry, cong}, {501, retry, cong}, {502, retry, cong}, {503, retry, cong}, {504, retry, cong},
		{505, retry, cong}, {513, retry, cong}, {580, retry, cong},
		{600, refuse, busy}, {603, refuse, busy}, {604, refuse, unobt}, {606, refuse, cong},
	} {
		err := fmt.Errorf("dial: %w", &sip.StatusError{Code: row.code, Registrar: "pbx"})
		if r, reason := classifySIPErr(err); r != row.retry || reason != row.reason {
			t.Errorf("%d: retry %v, tone %s; want retry %v, tone %s", row.code, r, reason, row.retry, row.reason)
		}
	}
	for _, row := range []struct {
		err   error
		retry bool
	}{
		{sip.ErrTimeout, retry}, {sip.ErrTransport, retry}, {sip.ErrNoRegistrar, retry}, {sip.ErrCanceled, refuse},
	} {
		if r, _ := classifySIPErr(fmt.Errorf("x: %w", row.err)); r != row.retry {
			t.Errorf("%v: retry %v", row.err, r)
		}
	}
}

// fakeRung is a rung that refuses or records.
type fakeRung struct {
	nm     string
	err    error
	mu     sync.Mutex
	placed int
}

func (f *fakeRung) name() string   { return f.nm }
func (f *fakeRung) kind() RungKind { return RungTrunk }
func (f *fakeRung) place(ctx context.Context, port int, number string, at *attempt) (fxs.Call, error) {
	f.mu.Lock()
	f.placed++
	f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	return nopCall{}, nil
}

type nopCall struct{}

func (nopCall) Hangup() error { return nil }

type progressLog struct {
	mu  sync.Mutex
	got []fxs.CallUpdate
}

func (p *progressLog) Update(u fxs.CallUpdate) { p.mu.Lock(); p.got = append(p.got, u); p.mu.Unlock() }

func testAppliance(t *testing.T) *Appliance {
	m, err := newMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	return &Appliance{log: slog.New(slog.DiscardHandler), m: m, ports: map[int]*port{}}
}

// A refusal ends an ordinary call on its rung; an emergency call goes on
// to the next rung whatever the refusal.
func TestRefusalStopsTheLadderExceptForEmergencies(t *testing.T) {
	a := testAppliance(t)
	refusal := &attemptError{retry: false, reason: fxs.FailUnobtainable, err: errors.New("403 Forbidden")}
	for _, emerg := range []bool{false, true} {
		first, second := &fakeRung{nm: "pbx", err: refusal}, &fakeRung{nm: "lte"}
		ctx, cancel := context.WithCancel(context.Background())
		lc := &ladderCall{r: &router{a: a, port: 1}, port: 1, number: "07700900123", emerg: emerg,
			progress: &progressLog{}, rungs: []rung{first, second}, ctx: ctx, cancel: cancel}
		err := lc.tryNext()
		cancel()
		switch {
		case !emerg && (second.placed != 0 || err == nil):
			t.Errorf("ordinary call: the refusal went on to the next rung (placed %d, err %v)", second.placed, err)
		case !emerg:
			var ce *fxs.CallError
			if !errors.As(err, &ce) || ce.Reason != fxs.FailUnobtainable {
				t.Errorf("ordinary call: %v, want the unobtainable tone", err)
			}
		case second.placed != 1 || err != nil:
			t.Errorf("emergency call: the next rung was not tried (placed %d, err %v)", second.placed, err)
		}
	}
	// A retryable failure goes on for everyone.
	first, second := &fakeRung{nm: "pbx", err: &attemptError{retry: true, err: sip.ErrTimeout}}, &fakeRung{nm: "lte"}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	lc := &ladderCall{r: &router{a: a, port: 1}, port: 1, number: "07700900123", progress: &progressLog{},
		rungs: []rung{first, second}, ctx: ctx, cancel: cancel}
	if err := lc.tryNext(); err != nil || second.placed != 1 {
		t.Errorf("a timeout did not move to the next rung: %v", err)
	}
}

// blockingRung waits in place until its context ends, as a Dial to a PBX
// that said 100 Trying and died would without its own deadlines.
type blockingRung struct{ entered chan struct{} }

func (b *blockingRung) name() string   { return "pbx" }
func (b *blockingRung) kind() RungKind { return RungRegistrar }
func (b *blockingRung) place(ctx context.Context, port int, number string, at *attempt) (fxs.Call, error) {
	close(b.entered)
	<-ctx.Done()
	return nil, &attemptError{retry: false, err: fmt.Errorf("%w: %v", sip.ErrCanceled, ctx.Err())}
}

// The porter hanging up while a rung is placing the call cancels that
// attempt at once (the ladder's context used to be the background's).
func TestHangupCancelsTheAttemptInProgress(t *testing.T) {
	a := testAppliance(t)
	br := &blockingRung{entered: make(chan struct{})}
	next := &fakeRung{nm: "lte"}
	ctx, cancel := context.WithCancel(context.Background())
	pl := &progressLog{}
	lc := &ladderCall{r: &router{a: a, port: 1}, port: 1, number: "999", emerg: true, progress: pl,
		rungs: []rung{br, next}, ctx: ctx, cancel: cancel}
	done := make(chan error, 1)
	go func() { done <- lc.tryNext() }()
	<-br.entered
	if err := lc.Hangup(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, errCleared) {
		t.Fatalf("tryNext after hang-up: %v, want errCleared", err)
	}
	if next.placed != 0 {
		t.Error("the call went on to the next rung after the porter hung up")
	}
	pl.mu.Lock()
	defer pl.mu.Unlock()
	if len(pl.got) != 0 {
		t.Errorf("progress after the porter hung up: %+v", pl.got)
	}
}
