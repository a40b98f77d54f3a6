package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/critline/critline/hal"
)

// Daemon is what every appliance answers.
type Daemon interface {
	Status() Status
	Version() Version
}

// Lifeliner is implemented by a daemon whose operator can put a port on the
// PSTN line by hand.
type Lifeliner interface {
	SetLifeline(port int, on bool) error
}

// Forwarder is implemented by a daemon with call forwarding.
type Forwarder interface {
	Forward(req ForwardRequest) (string, error)
	Unlock(req UnlockRequest) (string, error)
}

// PathTester is implemented by a daemon that proves its fallback paths
// (issue 17): TestPaths runs the path tests now and returns the
// commissioning report. An unknown path in the request is an error
// wrapping ErrNotFound.
type PathTester interface {
	TestPaths(ctx context.Context, req PathTestRequest) (PathReport, error)
}

// CopperSim is implemented by a simulated board whose copper lines (behind
// the relays) can be cut and restored.
type CopperSim interface {
	Copper(port int, live bool) error
}

// Sim is what the simulated board answers; nil on real hardware.
type Sim interface {
	Hook(port int, off bool) error
	Power(mains, batteryLow bool) error
	Link(up bool) error
	Dial(port int, digits string, pulse bool) (time.Duration, error)
	// Flash sends a recall; the duration is how long until the port has
	// taken it (keys pressed after it are heard as after the recall).
	Flash(port int) (time.Duration, error)
	Play(port int, samples []int16) (time.Duration, error)
	Listen(ctx context.Context, port int, samples int) ([]int16, error)
	// Watch calls emit for each change until ctx ends or emit fails.
	Watch(ctx context.Context, port int, emit func(any) error) error
	Trunk(name string, args []string) (string, error)
}

// Limits on request bodies.
const (
	MaxJSONBody  = 64 << 10
	MaxAudioBody = 10 * 60 * hal.SampleRate * 2 // ten minutes of s16le
	MaxListen    = 600                          // seconds
)

// ErrNotFound marks a request naming something that does not exist (a port,
// a trunk); the handler answers 404.
var ErrNotFound = errors.New("not found")

// Handler is the control API.
type Handler struct {
	d   Daemon
	sim Sim
	log *slog.Logger
	mux *http.ServeMux
}

// NewHandler serves d, and the sim verbs when sim is not nil.
func NewHandler(d Daemon, sim Sim, log *slog.Logger) *Handler {
	h := &Handler{d: d, sim: sim, log: log, mux: http.NewServeMux()}
	h.mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, h.d.Status()) })
	h.mux.HandleFunc("GET /v1/version", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, h.d.Version()) })
	if l, ok := d.(Lifeliner); ok {
		h.mux.HandleFunc("POST /v1/lifeline", func(w http.ResponseWriter, r *http.Request) { h.lifeline(w, r, l) })
	}
	if f, ok := d.(Forwarder); ok {
		h.mux.HandleFunc("POST /v1/forward", action(h, f.Forward))
		h.mux.HandleFunc("POST /v1/forward/unlock", action(h, f.Unlock))
	}
	if pt, ok := d.(PathTester); ok {
		h.mux.HandleFunc("POST /v1/test/paths", exchange(h, pt.TestPaths))
	}
	h.mux.HandleFunc("POST /v1/sim/copper", h.simCopper)
	h.mux.HandleFunc("POST /v1/sim/hook", h.simHook)
	h.mux.HandleFunc("POST /v1/sim/power", h.simPower)
	h.mux.HandleFunc("POST /v1/sim/link", h.simLink)
	h.mux.HandleFunc("POST /v1/sim/dial", h.simDial)
	h.mux.HandleFunc("POST /v1/sim/flash", h.simFlash)
	h.mux.HandleFunc("POST /v1/sim/play", h.simPlay)
	h.mux.HandleFunc("GET /v1/sim/listen", h.simListen)
	h.mux.HandleFunc("GET /v1/sim/watch", h.simWatch)
	h.mux.HandleFunc("POST /v1/sim/trunk", h.simTrunk)
	return h
}

// Handle adds another endpoint (e.g. the survivability layer's verbs).
func (h *Handler) Handle(pattern string, handler http.Handler) { h.mux.Handle(pattern, handler) }

// ServeHTTP answers unknown paths and wrong methods with a JSON error.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, pattern := h.mux.Handler(r)
	if pattern == "" {
		// Let the mux decide between 404 and 405, but answer in JSON.
		rec := &statusOnly{}
		h.mux.ServeHTTP(rec, r)
		msg := fmt.Sprintf("no such endpoint %s %s: see `critlinectl --help`", r.Method, r.URL.Path)
		if rec.code == http.StatusMethodNotAllowed {
			msg = fmt.Sprintf("%s is not allowed on %s (allowed: %s)", r.Method, r.URL.Path, rec.header.Get("Allow"))
			w.Header().Set("Allow", rec.header.Get("Allow"))
		}
		writeError(w, rec.code, msg)
		return
	}
	h.mux.ServeHTTP(w, r)
}

type statusOnly struct {
	code   int
	header http.Header
}

func (s *statusOnly) Header() http.Header {
	if s.header == nil {
		s.header = http.Header{}
	}
	return s.header
}
func (s *statusOnly) Write(b []byte) (int, error) { return len(b), nil }
func (s *statusOnly) WriteHeader(code int)        { s.code = code }

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, Error{Error: msg})
}

// Decode reads exactly one JSON object of type T from a body of at most
// MaxJSONBody bytes, refusing unknown fields and trailing data.
func Decode[T any](body io.Reader) (T, error) {
	var v T
	lr := &io.LimitedReader{R: body, N: MaxJSONBody + 1}
	dec := json.NewDecoder(lr)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		if lr.N <= 0 {
			return v, fmt.Errorf("request body larger than %d bytes", MaxJSONBody)
		}
		if errors.Is(err, io.EOF) {
			return v, errors.New("empty request body: send a JSON object")
		}
		return v, fmt.Errorf("bad JSON: %v", err)
	}
	if dec.More() {
		return v, errors.New("bad JSON: more than one value in the body")
	}
	var extra json.RawMessage
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return v, errors.New("bad JSON: trailing data after the object")
	}
	return v, nil
}

// action serves a verb that decodes a T and answers with do's message.
func action[T any](h *Handler, do func(T) (string, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		req, err := Decode[T](r.Body)
		if err != nil {
			writeError(w, 400, err.Error())
			return
		}
		msg, err := do(req)
		h.answer(w, msg, 0, err)
	}
}

// exchange serves a verb that decodes a T and answers with do's R as JSON
// (the request's context ends do when the client goes away).
func exchange[T, R any](h *Handler, do func(context.Context, T) (R, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		req, err := Decode[T](r.Body)
		if err != nil {
			writeError(w, 400, err.Error())
			return
		}
		out, err := do(r.Context(), req)
		if err != nil {
			code := http.StatusBadRequest
			if errors.Is(err, ErrNotFound) {
				code = http.StatusNotFound
			}
			writeError(w, code, err.Error())
			return
		}
		writeJSON(w, 200, out)
	}
}

func (h *Handler) needSim(w http.ResponseWriter) bool {
	if h.sim == nil {
		writeError(w, http.StatusConflict, "this appliance runs on real hardware, not the sim board: sim verbs are not available")
		return false
	}
	return true
}

// decodeSim checks the board is simulated, then decodes the body.
func decodeSim[T any](h *Handler, w http.ResponseWriter, r *http.Request) (T, bool) {
	var zero T
	if !h.needSim(w) {
		return zero, false
	}
	v, err := Decode[T](r.Body)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return zero, false
	}
	return v, true
}

// answer maps an action's error to a status code.
func (h *Handler) answer(w http.ResponseWriter, what string, d time.Duration, err error) {
	if err != nil {
		code := http.StatusBadRequest
		if errors.Is(err, ErrNotFound) {
			code = http.StatusNotFound
		}
		writeError(w, code, err.Error())
		return
	}
	h.log.Info("control", "action", what)
	writeJSON(w, 200, Result{OK: true, Message: what, Seconds: d.Seconds()})
}

func (h *Handler) lifeline(w http.ResponseWriter, r *http.Request, l Lifeliner) {
	req, err := Decode[LifelineRequest](r.Body)
	if err != nil {
		writeError(w, 400, err.Error())
		return
	}
	if req.State != "on" && req.State != "off" {
		writeError(w, 400, fmt.Sprintf("lifeline state %q: use on (handset to the PSTN line) or off (automatic)", req.State))
		return
	}
	if err := l.SetLifeline(req.Port, req.State == "on"); err != nil {
		// Unknown port (ErrNotFound: 404) or a change refused because it
		// could not be saved (400): either way not done, and the tool says
		// why.
		code := http.StatusBadRequest
		if errors.Is(err, ErrNotFound) {
			code = http.StatusNotFound
		}
		writeError(w, code, fmt.Sprintf("port %d: %v", req.Port, err))
		return
	}
	msg := fmt.Sprintf("port %d lifeline %s", req.Port, req.State)
	if req.State == "on" {
		msg += " (the relay moves as soon as no call can be cut)"
	}
	h.answer(w, msg, 0, nil)
}

func (h *Handler) simHook(w http.ResponseWriter, r *http.Request) {
	req, ok := decodeSim[HookRequest](h, w, r)
	if !ok {
		return
	}
	var off bool
	switch req.State {
	case "off":
		off = true
	case "on":
	default:
		writeError(w, 400, fmt.Sprintf("hook state %q: use off (lift the handset) or on (replace it)", req.State))
		return
	}
	h.answer(w, fmt.Sprintf("port %d %s-hook", req.Port, req.State), 0, h.sim.Hook(req.Port, off))
}

func (h *Handler) simCopper(w http.ResponseWriter, r *http.Request) {
	req, ok := decodeSim[CopperRequest](h, w, r)
	if !ok {
		return
	}
	cs, ok := h.sim.(CopperSim)
	if !ok {
		writeError(w, http.StatusConflict, "this simulated board cannot cut its copper lines")
		return
	}
	if req.State != "live" && req.State != "dead" {
		writeError(w, 400, fmt.Sprintf("copper state %q: use live (the line behind the relay works) or dead (cut at the exchange)", req.State))
		return
	}
	h.answer(w, fmt.Sprintf("port %d copper line %s", req.Port, req.State), 0, cs.Copper(req.Port, req.State == "live"))
}

func (h *Handler) simPower(w http.ResponseWriter, r *http.Request) {
	req, ok := decodeSim[PowerRequest](h, w, r)
	if !ok {
		return
	}
	var mains, low bool
	switch req.State {
	case "mains":
		mains = true
	case "battery":
	case "battery-low":
		low = true
	default:
		writeError(w, 400, fmt.Sprintf("power state %q: use mains, battery or battery-low", req.State))
		return
	}
	h.answer(w, "power "+req.State, 0, h.sim.Power(mains, low))
}

func (h *Handler) simLink(w http.ResponseWriter, r *http.Request) {
	req, ok := decodeSim[LinkRequest](h, w, r)
	if !ok {
		return
	}
	if req.State != "up" && req.State != "down" {
		writeError(w, 400, fmt.Sprintf("link state %q: use up or down", req.State))
		return
	}
	h.answer(w, "link "+req.State, 0, h.sim.Link(req.State == "up"))
}

func (h *Handler) simDial(w http.ResponseWriter, r *http.Request) {
	req, ok := decodeSim[DialRequest](h, w, r)
	if !ok {
		return
	}
	if req.Digits == "" || len(req.Digits) > 64 {
		writeError(w, 400, "digits: give 1 to 64 digits (0-9, *, #, A-D)")
		return
	}
	d, err := h.sim.Dial(req.Port, req.Digits, req.Pulse)
	how := "DTMF"
	if req.Pulse {
		how = "pulse"
	}
	h.answer(w, fmt.Sprintf("port %d dialling %s (%s)", req.Port, req.Digits, how), d, err)
}

func (h *Handler) simFlash(w http.ResponseWriter, r *http.Request) {
	req, ok := decodeSim[FlashRequest](h, w, r)
	if !ok {
		return
	}
	d, err := h.sim.Flash(req.Port)
	h.answer(w, fmt.Sprintf("port %d recall", req.Port), d, err)
}

func queryPort(r *http.Request) (int, error) {
	s := r.URL.Query().Get("port")
	p, err := strconv.Atoi(s)
	if err != nil || p < 1 {
		return 0, fmt.Errorf("port %q: give a port id, e.g. ?port=1", s)
	}
	return p, nil
}

// simPlay takes raw s16le 8 kHz mono audio as the body.
func (h *Handler) simPlay(w http.ResponseWriter, r *http.Request) {
	if !h.needSim(w) {
		return
	}
	port, err := queryPort(r)
	if err != nil {
		writeError(w, 400, err.Error())
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxAudioBody+1))
	switch {
	case err != nil:
		writeError(w, 400, "reading audio: "+err.Error())
		return
	case len(body) > MaxAudioBody:
		writeError(w, http.StatusRequestEntityTooLarge, "audio longer than ten minutes: send less")
		return
	case len(body) == 0 || len(body)%2 != 0:
		writeError(w, 400, "audio must be raw signed 16-bit little-endian samples (an even, non-zero number of bytes)")
		return
	}
	samples := make([]int16, len(body)/2)
	for i := range samples {
		samples[i] = int16(uint16(body[2*i]) | uint16(body[2*i+1])<<8)
	}
	d, err := h.sim.Play(port, samples)
	h.answer(w, fmt.Sprintf("port %d playing %.2f s of audio", port, float64(len(samples))/hal.SampleRate), d, err)
}

// simListen answers with raw s16le audio.
func (h *Handler) simListen(w http.ResponseWriter, r *http.Request) {
	if !h.needSim(w) {
		return
	}
	port, err := queryPort(r)
	if err != nil {
		writeError(w, 400, err.Error())
		return
	}
	secs, err := strconv.ParseFloat(r.URL.Query().Get("seconds"), 64)
	if err != nil || secs <= 0 || secs > MaxListen {
		writeError(w, 400, fmt.Sprintf("seconds: give a length from 0 to %d, e.g. ?seconds=5", MaxListen))
		return
	}
	samples, err := h.sim.Listen(r.Context(), port, int(secs*hal.SampleRate))
	if err != nil {
		code := 400
		if errors.Is(err, ErrNotFound) {
			code = 404
		}
		writeError(w, code, err.Error())
		return
	}
	out := make([]byte, 2*len(samples))
	for i, s := range samples {
		out[2*i], out[2*i+1] = byte(s), byte(uint16(s)>>8)
	}
	w.Header().Set("Content-Type", "audio/L16; rate=8000; channels=1; endianness=little")
	w.WriteHeader(200)
	_, _ = w.Write(out)
}

// simWatch streams JSON lines until the client goes away.
func (h *Handler) simWatch(w http.ResponseWriter, r *http.Request) {
	if !h.needSim(w) {
		return
	}
	port := 0
	if r.URL.Query().Has("port") {
		var err error
		if port, err = queryPort(r); err != nil {
			writeError(w, 400, err.Error())
			return
		}
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	fl, _ := w.(http.Flusher)
	enc := json.NewEncoder(w)
	started := false
	err := h.sim.Watch(r.Context(), port, func(v any) error {
		if !started {
			w.WriteHeader(200)
			started = true
		}
		if err := enc.Encode(v); err != nil {
			return err
		}
		if fl != nil {
			fl.Flush()
		}
		return nil
	})
	if err != nil && !started {
		code := 400
		if errors.Is(err, ErrNotFound) {
			code = 404
		}
		writeError(w, code, err.Error())
	}
}

func (h *Handler) simTrunk(w http.ResponseWriter, r *http.Request) {
	req, ok := decodeSim[TrunkRequest](h, w, r)
	if !ok {
		return
	}
	if len(req.Args) == 0 {
		writeError(w, 400, "args: give a verb for the simulated modem, e.g. [\"ring\", \"07700900123\"]")
		return
	}
	msg, err := h.sim.Trunk(req.Trunk, req.Args)
	h.answer(w, msg, 0, err)
}
