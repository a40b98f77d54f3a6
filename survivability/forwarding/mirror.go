package forwarding

import (
	"context"
	"sync"
)

// mirrorQueue sends the latest wanted state of each kind to the network
// from one goroutine, so a slow or failing modem never holds up a change
// and quick successive changes collapse into the last one.
type mirrorQueue struct {
	m       *Manager
	mu      sync.Mutex
	pending map[Kind]*string // nil entry: nothing to do
	wake    chan struct{}
	quit    chan struct{}
	done    chan struct{}
	once    sync.Once
}

func (q *mirrorQueue) start(m *Manager) {
	q.m = m
	q.pending = map[Kind]*string{}
	q.wake = make(chan struct{}, 1)
	q.quit = make(chan struct{})
	q.done = make(chan struct{})
	go q.run()
}

func (q *mirrorQueue) push(k Kind, number string) {
	q.mu.Lock()
	q.pending[k] = &number
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *mirrorQueue) stop() {
	q.once.Do(func() { close(q.quit) })
	<-q.done
}

func (q *mirrorQueue) run() {
	defer close(q.done)
	for {
		select {
		case <-q.wake:
			q.drain()
		case <-q.quit:
			q.drain()
			return
		}
	}
}

func (q *mirrorQueue) drain() {
	for {
		q.mu.Lock()
		var kind Kind
		var number *string
		for _, k := range Kinds() {
			if n := q.pending[k]; n != nil {
				kind, number = k, n
				delete(q.pending, k)
				break
			}
		}
		q.mu.Unlock()
		if number == nil {
			return
		}
		q.send(kind, *number)
	}
}

func (q *mirrorQueue) send(k Kind, number string) {
	ctx, cancel := context.WithTimeout(context.Background(), q.m.cfg.MirrorTimeout)
	defer cancel()
	var err error
	if number == "" {
		err = q.m.network.ClearForwarding(ctx, string(k))
	} else {
		err = q.m.network.SetForwarding(ctx, string(k), number)
	}
	if err != nil {
		q.m.m.mirrorFail.Inc()
		q.m.log.Warn("call forwarding not mirrored into the mobile network; the local setting stands", "kind", k, "number", number, "err", err)
		return
	}
	q.m.log.Info("call forwarding mirrored into the mobile network", "kind", k, "number", number)
}
