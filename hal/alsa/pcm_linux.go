//go:build linux

package alsa

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/critline/critline/hal"
	"golang.org/x/sys/unix"
)

// Option configures Open.
type Option func(*options)

type options struct {
	rate     int
	periods  int
	prefill  int
	stall    time.Duration
	log      *slog.Logger
	procRoot string
}

// WithRate forces the device rate (a multiple of 8000 Hz); by default 8 kHz
// is tried first, then 16, 24, 32, 48 and 96 kHz.
func WithRate(hz int) Option { return func(o *options) { o.rate = hz } }

// WithPeriods sets the device buffer in 20 ms periods (default 6).
func WithPeriods(n int) Option { return func(o *options) { o.periods = n } }

// WithPrefill sets how many periods of silence playback is primed with at
// start and after an underrun (default 3): the playback latency, and the
// headroom a late writer has (prefill-1 periods).
func WithPrefill(n int) Option { return func(o *options) { o.prefill = n } }

// WithStallTimeout sets how long ReadFrame waits for the device before
// reporting that its clock has stopped (default 2 s).
func WithStallTimeout(d time.Duration) Option { return func(o *options) { o.stall = d } }

// WithLogger sets where xruns are logged.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// Stats counts a PCM's frames and mishaps.
type Stats struct {
	Read, Written uint64 // frames moved
	Overruns      uint64 // capture xruns recovered from
	Underruns     uint64 // playback xruns recovered from
	Dropped       uint64 // playback frames dropped because the device buffer was full
	Trimmed       uint64 // playback frames dropped to bring the latency back to the prefill
	Pauses        uint64 // times Pause stopped the device
}

// Config is what the device agreed to.
type Config struct {
	Device       string // the capture node, e.g. /dev/snd/pcmC1D0c
	Rate         int    // device rate, Hz
	Channels     int    // device channels (the left one is used)
	PeriodFrames int    // device frames per 20 ms period
	BufferFrames int    // device frames in the ring buffer
}

// PCM is a full-duplex ALSA device. Open returns it as a hal.PCM; type-assert
// to *PCM for Stats, Config and Delay.
type PCM struct {
	o    options
	log  *slog.Logger
	cfg  Config
	cap  *stream
	play *stream
	wake int // eventfd: Close wakes a ReadFrame waiting in poll

	rmu, wmu sync.Mutex
	startMu  sync.Mutex
	started  bool
	paused   bool
	closed   atomic.Bool
	once     sync.Once

	dec    *decimator
	interp *interpolator
	rbuf   []int16 // one device period, interleaved
	wbuf   []int16
	mono   []int16 // one device period, one channel
	silent []int16 // prefill

	read, written, overruns, underruns, dropped, trimmed, pauses atomic.Uint64
}

var _ hal.Pausable = (*PCM)(nil)

type stream struct {
	name string
	fd   int
}

// Open opens device ("hw:1,0", "hw:Loopback,0", "/dev/snd/pcmC1D0") for
// capture and playback at 8 kHz mono with 20 ms periods, or at the nearest
// rate and channel count the device offers, converting. Both directions start
// together at the first ReadFrame or WriteFrame, playback primed with silence.
func Open(device string, opts ...Option) (hal.PCM, error) {
	o := options{periods: 6, prefill: 3, stall: 2 * time.Second, procRoot: "/proc/asound"}
	for _, opt := range opts {
		opt(&o)
	}
	if o.log == nil {
		o.log = slog.New(slog.DiscardHandler)
	}
	if o.periods < 2 {
		o.periods = 2
	}
	if o.prefill < 1 || o.prefill >= o.periods {
		o.prefill = o.periods / 2
	}
	if o.rate != 0 && (o.rate%hal.SampleRate != 0 || o.rate <= 0) {
		return nil, fmt.Errorf("alsa: rate %d Hz: only multiples of %d Hz can be resampled", o.rate, hal.SampleRate)
	}
	d, err := parseDevice(device)
	if err != nil {
		return nil, err
	}
	base, err := nodeBase(d, o.procRoot)
	if err != nil {
		return nil, fmt.Errorf("alsa: %s: %w", device, err)
	}
	p := &PCM{o: o, log: o.log, wake: -1}
	p.cap, err = openStream(base + "c")
	if err != nil {
		return nil, err
	}
	p.play, err = openStream(base + "p")
	if err != nil {
		p.cap.close()
		return nil, err
	}
	if p.wake, err = unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK); err != nil {
		p.closeFDs()
		return nil, fmt.Errorf("alsa: eventfd: %w", err)
	}
	if err := p.setup(); err != nil {
		p.closeFDs()
		return nil, err
	}
	return p, nil
}

// nodeBase resolves a parsed name to /dev/snd/pcmC<n>D<d> (no p/c suffix).
func nodeBase(d deviceName, procRoot string) (string, error) {
	if d.path != "" {
		return d.path, nil
	}
	card := d.card
	if _, err := strconv.Atoi(card); err != nil {
		// /proc/asound/<id> is a symlink to card<n>.
		target, err := os.Readlink(filepath.Join(procRoot, card))
		if err != nil || !strings.HasPrefix(filepath.Base(target), "card") {
			cards, _ := os.ReadFile(filepath.Join(procRoot, "cards"))
			return "", fmt.Errorf("no sound card with id %q; cards present:\n%s", card, strings.TrimSpace(string(cards)))
		}
		card = strings.TrimPrefix(filepath.Base(target), "card")
	}
	return fmt.Sprintf("/dev/snd/pcmC%sD%d", card, d.device), nil
}

func openStream(path string) (*stream, error) {
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	switch {
	case err == nil:
		return &stream{name: path, fd: fd}, nil
	case errors.Is(err, unix.ENOENT):
		return nil, fmt.Errorf("alsa: %s does not exist: check the card and device number (/proc/asound/pcm lists them)", path)
	case errors.Is(err, unix.EBUSY):
		return nil, fmt.Errorf("alsa: %s is busy: another program holds it (a sound server, or a second critline)", path)
	case errors.Is(err, unix.EACCES):
		return nil, fmt.Errorf("alsa: %s: permission denied: run as a member of the audio group", path)
	}
	return nil, fmt.Errorf("alsa: opening %s: %w", path, err)
}

func (s *stream) close() { _ = unix.Close(s.fd) }

func (s *stream) do(req uintptr, what string) error {
	if err := ioctl(s.fd, req, nil); err != nil {
		return fmt.Errorf("alsa: %s %s: %w", what, s.name, err)
	}
	return nil
}

// negotiate sets hw_params for interleaved S16_LE with 20 ms periods at the
// first rate and channel count the device accepts.
func (s *stream) negotiate(rates []int, periods int) (Config, error) {
	for _, rate := range rates {
		for _, ch := range []uint32{1, 2} {
			for _, per := range [][2]uint32{{uint32(periods), uint32(periods)}, {2, 16}} {
				p := anyParams()
				p.setMask(paramAccess, accessRWInterleaved)
				p.setMask(paramFormat, formatS16LE)
				p.setMask(paramSubformat, subformatStd)
				p.setInterval(paramChannels, ch, ch)
				p.setInterval(paramRate, uint32(rate), uint32(rate))
				p.setInterval(paramPeriodSize, uint32(rate/50), uint32(rate/50))
				p.setInterval(paramPeriods, per[0], per[1])
				if err := ioctl(s.fd, ioctlHwParams, unsafe.Pointer(p)); err != nil {
					continue
				}
				r, _ := p.get(paramRate)
				c, _ := p.get(paramChannels)
				ps, _ := p.get(paramPeriodSize)
				bs, _ := p.get(paramBufferSize)
				return Config{Rate: int(r), Channels: int(c), PeriodFrames: int(ps), BufferFrames: int(bs)}, nil
			}
		}
	}
	// Say what the device can do.
	p := anyParams()
	p.setMask(paramAccess, accessRWInterleaved)
	if err := ioctl(s.fd, ioctlHwRefine, unsafe.Pointer(p)); err != nil {
		return Config{}, fmt.Errorf("alsa: %s does not do interleaved read/write access: %w", s.name, err)
	}
	rlo, rhi := p.get(paramRate)
	clo, chi := p.get(paramChannels)
	plo, phi := p.get(paramPeriodSize)
	s16 := p.masks[paramFormat][0]&(1<<formatS16LE) != 0
	return Config{}, fmt.Errorf("alsa: %s cannot do 20 ms periods of S16_LE at %v Hz with 1 or 2 channels (it offers %d-%d Hz, %d-%d channels, periods of %d-%d frames, S16_LE %v)",
		s.name, rates, rlo, rhi, clo, chi, plo, phi, s16)
}

func (p *PCM) setup() error {
	rates := []int{8000, 16000, 24000, 32000, 48000, 96000}
	if p.o.rate != 0 {
		rates = []int{p.o.rate}
	}
	cc, err := p.cap.negotiate(rates, p.o.periods)
	if err != nil {
		return err
	}
	pc, err := p.play.negotiate([]int{cc.Rate}, p.o.periods)
	if err != nil {
		return err
	}
	if pc.Channels != cc.Channels || pc.PeriodFrames != cc.PeriodFrames {
		return fmt.Errorf("alsa: %s: capture and playback disagree (%+v vs %+v)", p.cap.name, cc, pc)
	}
	cc.Device = p.cap.name
	p.cfg = cc
	k := cc.Rate / hal.SampleRate
	if cc.Rate%hal.SampleRate != 0 || cc.PeriodFrames != k*hal.FrameSamples {
		return fmt.Errorf("alsa: %s settled on %d Hz with %d-frame periods; critline needs a multiple of 8 kHz with 20 ms periods", p.cap.name, cc.Rate, cc.PeriodFrames)
	}
	if k > 1 {
		p.dec, p.interp = newDecimator(k), newInterpolator(k)
	}
	p.rbuf = make([]int16, cc.PeriodFrames*cc.Channels)
	p.wbuf = make([]int16, cc.PeriodFrames*cc.Channels)
	p.mono = make([]int16, cc.PeriodFrames)
	p.silent = make([]int16, p.o.prefill*cc.PeriodFrames*cc.Channels)
	// Capture and playback are prepared now and started together by the
	// first ReadFrame or WriteFrame, so the stream starts when the pump does.
	if err := p.cap.do(ioctlPrepare, "prepare"); err != nil {
		return err
	}
	return p.play.do(ioctlPrepare, "prepare")
}

// start starts capture and primes playback with prefill periods of silence,
// once, on the first ReadFrame or WriteFrame (after Open, or after a Pause
// without Resume).
func (p *PCM) start() error {
	p.startMu.Lock()
	defer p.startMu.Unlock()
	return p.startLocked(p.o.prefill)
}

func (p *PCM) startLocked(prime int) error {
	if p.started {
		return nil
	}
	p.started, p.paused = true, false
	if err := p.cap.do(ioctlStart, "start"); err != nil {
		return err
	}
	return p.prime(prime)
}

// Pause stops both directions (hal.Pausable). They are dropped and prepared
// again: the device stays open and configured, but nothing runs (no period
// interrupts; on snd-aloop, no kernel timer), so a resting port costs
// nothing. Stopping the streams was chosen over closing the device: it keeps
// the device ours (no EBUSY if something else opens it meanwhile) and
// Resume needs no hw_params renegotiation, which costs more (see the
// FIGURE line of TestVMPauseResume).
func (p *PCM) Pause() error {
	p.rmu.Lock()
	defer p.rmu.Unlock()
	p.wmu.Lock()
	defer p.wmu.Unlock()
	p.startMu.Lock()
	defer p.startMu.Unlock()
	if p.closed.Load() {
		return hal.ErrClosed
	}
	if p.paused {
		return nil
	}
	for _, s := range []*stream{p.cap, p.play} {
		if err := s.do(ioctlDrop, "drop"); err != nil {
			return err
		}
		if err := s.do(ioctlPrepare, "prepare"); err != nil {
			return err
		}
	}
	p.started, p.paused = false, true
	p.pauses.Add(1)
	return nil
}

// Resume starts both directions again (hal.Pausable). Playback is primed one
// period short of the prefill: the frame the consumer writes next completes
// it, so the playback latency is what it was at the start.
func (p *PCM) Resume() error {
	p.rmu.Lock()
	defer p.rmu.Unlock()
	p.wmu.Lock()
	defer p.wmu.Unlock()
	p.startMu.Lock()
	defer p.startMu.Unlock()
	if p.closed.Load() {
		return hal.ErrClosed
	}
	if !p.paused {
		return nil
	}
	return p.startLocked(p.o.prefill - 1)
}

// Config reports what the device agreed to.
func (p *PCM) Config() Config { return p.cfg }

// Stats returns the frame and xrun counters.
func (p *PCM) Stats() Stats {
	return Stats{Read: p.read.Load(), Written: p.written.Load(), Overruns: p.overruns.Load(), Underruns: p.underruns.Load(), Dropped: p.dropped.Load(), Trimmed: p.trimmed.Load(), Pauses: p.pauses.Load()}
}

// Delay is the playback latency: how long a frame written now takes to be
// played, by the device's own count.
func (p *PCM) Delay() (time.Duration, error) {
	var n int
	if err := ioctl(p.play.fd, ioctlDelay, unsafe.Pointer(&n)); err != nil {
		return 0, fmt.Errorf("alsa: delay %s: %w", p.play.name, err)
	}
	return time.Duration(n) * time.Second / time.Duration(p.cfg.Rate), nil
}

// CaptureDelay is how much audio the device has captured that ReadFrame has
// not yet returned, by the device's own count.
func (p *PCM) CaptureDelay() (time.Duration, error) {
	var n int
	if err := ioctl(p.cap.fd, ioctlDelay, unsafe.Pointer(&n)); err != nil {
		return 0, fmt.Errorf("alsa: delay %s: %w", p.cap.name, err)
	}
	return time.Duration(n) * time.Second / time.Duration(p.cfg.Rate), nil
}

func (p *PCM) startCapture() error {
	if err := p.cap.do(ioctlPrepare, "prepare"); err != nil {
		return err
	}
	return p.cap.do(ioctlStart, "start")
}

// prime queues n periods of silence on the prepared playback stream, which
// starts it.
func (p *PCM) prime(n int) error {
	if n < 1 {
		return nil
	}
	frames := n * p.cfg.PeriodFrames
	if _, err := xfer(p.play.fd, ioctlWriteI, p.silent, frames); err != nil {
		return fmt.Errorf("alsa: priming %s: %w", p.play.name, err)
	}
	return nil
}

// recover brings a stream back after an xrun (EPIPE), a suspend (ESTRPIPE)
// or a stop (EBADFD).
func (p *PCM) recover(s *stream, cause error) error {
	if errors.Is(cause, unix.ESTRPIPE) {
		for i := 0; i < 100; i++ {
			err := ioctl(s.fd, ioctlResume, nil)
			if err == nil {
				return nil
			}
			if !errors.Is(err, unix.EAGAIN) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if s == p.cap {
		return p.startCapture()
	}
	// Re-prime one period short: the frame being written completes the
	// prefill, so the playback latency is what it was at the start.
	if err := p.play.do(ioctlPrepare, "prepare"); err != nil {
		return err
	}
	return p.prime(p.o.prefill - 1)
}

// ReadFrame blocks until the device has captured the next 20 ms.
func (p *PCM) ReadFrame(f *hal.Frame) error {
	p.rmu.Lock()
	defer p.rmu.Unlock()
	if err := p.start(); err != nil {
		return err
	}
	want := p.cfg.PeriodFrames
	got := 0
	for got < want {
		if p.closed.Load() {
			return hal.ErrClosed
		}
		n, err := xfer(p.cap.fd, ioctlReadI, p.rbuf[got*p.cfg.Channels:], want-got)
		switch {
		case err == nil:
			got += n
		case errors.Is(err, unix.EAGAIN):
			if err := p.wait(); err != nil {
				return err
			}
		case errors.Is(err, unix.EPIPE), errors.Is(err, unix.ESTRPIPE), errors.Is(err, unix.EBADFD):
			if p.closed.Load() {
				return hal.ErrClosed
			}
			p.overruns.Add(1)
			p.log.Warn("alsa: capture overrun, restarting", "device", p.cap.name, "cause", err)
			got = 0
			if rerr := p.recover(p.cap, err); rerr != nil {
				return rerr
			}
		default:
			return fmt.Errorf("alsa: reading %s: %w", p.cap.name, err)
		}
	}
	p.read.Add(1)
	src := p.rbuf
	if p.cfg.Channels > 1 {
		for i := range p.mono {
			p.mono[i] = p.rbuf[i*p.cfg.Channels]
		}
		src = p.mono
	}
	if p.dec != nil {
		p.dec.process(src, f)
	} else {
		copy(f[:], src)
	}
	return nil
}

// wait polls the capture stream until a period is ready, Close is called or
// the stall timeout passes.
func (p *PCM) wait() error {
	fds := []unix.PollFd{{Fd: int32(p.cap.fd), Events: unix.POLLIN}, {Fd: int32(p.wake), Events: unix.POLLIN}}
	n, err := unix.Poll(fds, int(p.o.stall/time.Millisecond))
	switch {
	case errors.Is(err, unix.EINTR):
		return nil
	case err != nil:
		return fmt.Errorf("alsa: poll %s: %w", p.cap.name, err)
	case p.closed.Load():
		return hal.ErrClosed
	case n == 0:
		return fmt.Errorf("alsa: %s delivered nothing for %v: the device clock has stopped", p.cap.name, p.o.stall)
	}
	return nil // ready, or an error state the next read reports
}

// WriteFrame queues f for playback without blocking: if the device buffer is
// full, or more than one period above the prefill is queued, the frame is
// dropped and counted; after an underrun playback is re-primed with silence.
func (p *PCM) WriteFrame(f *hal.Frame) error {
	p.wmu.Lock()
	defer p.wmu.Unlock()
	if p.closed.Load() {
		return hal.ErrClosed
	}
	if err := p.start(); err != nil {
		return err
	}
	// After the reader was held up, the capture backlog is read in a burst and
	// each frame written back: the playback queue grows and would keep the
	// extra latency for the rest of the call. Drop a frame whenever more than
	// one period above the prefill is queued.
	var queued int
	if err := ioctl(p.play.fd, ioctlDelay, unsafe.Pointer(&queued)); err == nil && queued > (p.o.prefill+1)*p.cfg.PeriodFrames {
		p.trimmed.Add(1)
		return nil
	}
	src := p.mono
	if p.interp != nil {
		p.interp.process(f, p.mono)
	} else {
		copy(p.mono, f[:])
	}
	if p.cfg.Channels > 1 {
		for i, v := range src {
			for c := 0; c < p.cfg.Channels; c++ {
				p.wbuf[i*p.cfg.Channels+c] = v
			}
		}
	} else {
		copy(p.wbuf, src)
	}
	for attempt := 0; ; attempt++ {
		n, err := xfer(p.play.fd, ioctlWriteI, p.wbuf, p.cfg.PeriodFrames)
		switch {
		case err == nil:
			if n < p.cfg.PeriodFrames {
				p.dropped.Add(1) // a partial frame went out; the rest is lost
			}
			p.written.Add(1)
			return nil
		case errors.Is(err, unix.EAGAIN):
			p.dropped.Add(1)
			return nil
		case (errors.Is(err, unix.EPIPE) || errors.Is(err, unix.ESTRPIPE) || errors.Is(err, unix.EBADFD)) && attempt == 0:
			if p.closed.Load() {
				return hal.ErrClosed
			}
			p.underruns.Add(1)
			p.log.Warn("alsa: playback underrun, re-priming", "device", p.play.name, "cause", err)
			if rerr := p.recover(p.play, err); rerr != nil {
				return rerr
			}
		default:
			return fmt.Errorf("alsa: writing %s: %w", p.play.name, err)
		}
	}
}

// Close stops both directions and releases the device; a ReadFrame waiting
// for the device returns hal.ErrClosed.
func (p *PCM) Close() error {
	p.once.Do(func() {
		p.closed.Store(true)
		one := [8]byte{1}
		_, _ = unix.Write(p.wake, one[:])
		_ = ioctl(p.cap.fd, ioctlDrop, nil)
		_ = ioctl(p.play.fd, ioctlDrop, nil)
		p.rmu.Lock()
		p.wmu.Lock()
		p.closeFDs()
		p.wmu.Unlock()
		p.rmu.Unlock()
	})
	return nil
}

func (p *PCM) closeFDs() {
	for _, s := range []*stream{p.cap, p.play} {
		if s != nil {
			_ = ioctl(s.fd, ioctlHwFree, nil)
			s.close()
		}
	}
	if p.wake >= 0 {
		_ = unix.Close(p.wake)
	}
}
