package control

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type fakeDaemon struct{}

func (fakeDaemon) Status() Status {
	return Status{Mode: "normal", Ports: []Port{{ID: 1, Hook: "on", State: "idle", Relay: "board"}}}
}
func (fakeDaemon) Version() Version { return Version{Version: "test", Board: "sim"} }

// fakeSim records what it is asked; it is the logic *below* the handler.
type fakeSim struct{ calls []string }

func (s *fakeSim) port(p int) error {
	if p != 1 {
		return fmt.Errorf("no port %d: %w", p, ErrNotFound)
	}
	return nil
}
func (s *fakeSim) Hook(p int, off bool) error {
	s.calls = append(s.calls, fmt.Sprintf("hook %d %v", p, off))
	return s.port(p)
}
func (s *fakeSim) Power(m, l bool) error {
	s.calls = append(s.calls, fmt.Sprintf("power %v %v", m, l))
	return nil
}
func (s *fakeSim) Link(up bool) error {
	s.calls = append(s.calls, fmt.Sprintf("link %v", up))
	return nil
}
func (s *fakeSim) Dial(p int, d string, pulse bool) (time.Duration, error) {
	s.calls = append(s.calls, fmt.Sprintf("dial %d %s %v", p, d, pulse))
	return time.Second, s.port(p)
}
func (s *fakeSim) Flash(p int) (time.Duration, error) {
	s.calls = append(s.calls, fmt.Sprintf("flash %d", p))
	return 0, s.port(p)
}
func (s *fakeSim) Play(p int, x []int16) (time.Duration, error) {
	s.calls = append(s.calls, fmt.Sprintf("play %d %v", p, x))
	return 0, s.port(p)
}
func (s *fakeSim) Listen(ctx context.Context, p int, n int) ([]int16, error) {
	out := make([]int16, n)
	for i := range out {
		out[i] = int16(-i)
	}
	return out, s.port(p)
}
func (s *fakeSim) Watch(ctx context.Context, p int, emit func(any) error) error {
	for i := range 3 {
		if err := emit(map[string]int{"n": i}); err != nil {
			return err
		}
	}
	return nil
}
func (s *fakeSim) Trunk(name string, args []string) (string, error) {
	if name != "lte" {
		return "", fmt.Errorf("no trunk %q: %w", name, ErrNotFound)
	}
	return "ok " + strings.Join(args, " "), nil
}

func serve(t *testing.T, sim Sim) *Client {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "c.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: NewHandler(fakeDaemon{}, sim, slog.New(slog.DiscardHandler))}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return NewClient(sock)
}

func TestClientServerRoundTrip(t *testing.T) {
	sim := &fakeSim{}
	c := serve(t, sim)
	ctx := context.Background()
	st, err := c.Status(ctx)
	if err != nil || st.Mode != "normal" || st.Ports[0].Hook != "on" {
		t.Fatalf("status %+v %v", st, err)
	}
	if _, err := c.Post(ctx, "/v1/sim/hook", HookRequest{Port: 1, State: "off"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Post(ctx, "/v1/sim/power", PowerRequest{State: "battery-low"}); err != nil {
		t.Fatal(err)
	}
	if r, err := c.Post(ctx, "/v1/sim/dial", DialRequest{Port: 1, Digits: "999"}); err != nil || r.Seconds != 1 {
		t.Fatalf("dial %+v %v", r, err)
	}
	if _, err := c.Play(ctx, 1, []int16{1, -2, 300}); err != nil {
		t.Fatal(err)
	}
	rec, err := c.Listen(ctx, 1, 2*time.Millisecond)
	if err != nil || len(rec) != 16 || rec[15] != -15 {
		t.Fatalf("listen %v %v", rec, err)
	}
	var lines int
	if err := c.Watch(ctx, 1, func([]byte) error { lines++; return nil }); err != nil || lines != 3 {
		t.Fatalf("watch %d %v", lines, err)
	}
	if r, err := c.Post(ctx, "/v1/sim/trunk", TrunkRequest{Trunk: "lte", Args: []string{"ring", "0123"}}); err != nil || r.Message != "ok ring 0123" {
		t.Fatalf("trunk %+v %v", r, err)
	}
	want := "hook 1 true|power false true|dial 1 999 false|play 1 [1 -2 300]"
	if got := strings.Join(sim.calls, "|"); got != want {
		t.Fatalf("calls %q", got)
	}
}

func TestBadRequestsChangeNothing(t *testing.T) {
	sim := &fakeSim{}
	h := NewHandler(fakeDaemon{}, sim, slog.New(slog.DiscardHandler))
	cases := []struct {
		method, path, body string
		code               int
		msg                string
	}{
		{"POST", "/v1/sim/hook", `{"port":1,"state":"off"`, 400, "bad JSON"},
		{"POST", "/v1/sim/hook", `{"port":1,"state":"off","x":1}`, 400, "unknown field"},
		{"POST", "/v1/sim/hook", `{"port":1,"state":"sideways"}`, 400, "use off"},
		{"POST", "/v1/sim/hook", `{"port":1,"state":"off"} {}`, 400, "more than one"},
		{"POST", "/v1/sim/hook", ``, 400, "empty request body"},
		{"POST", "/v1/sim/hook", `{"port":"1","state":"off"}`, 400, "bad JSON"},
		{"POST", "/v1/sim/hook", `{"port":1,"state":"` + strings.Repeat("a", MaxJSONBody) + `"}`, 400, "larger than"},
		{"POST", "/v1/sim/power", `{"state":"nuclear"}`, 400, "mains, battery or battery-low"},
		{"POST", "/v1/sim/dial", `{"port":1,"digits":""}`, 400, "digits"},
		{"POST", "/v1/sim/play?port=1", "abc", 400, "even"},
		{"GET", "/v1/sim/listen?port=1&seconds=9999", "", 400, "seconds"},
		{"GET", "/v1/sim/listen?port=x&seconds=1", "", 400, "port"},
		{"POST", "/v1/sim/trunk", `{"trunk":"lte","args":[]}`, 400, "give a verb"},
		{"DELETE", "/v1/status", "", 405, "not allowed"},
		{"GET", "/v1/sim/hook", "", 405, "not allowed"},
		{"GET", "/v2/nothing", "", 404, "no such endpoint"},
	}
	for _, c := range cases {
		rr := httptest.NewRecorder()
		h.ServeHTTP(rr, httptest.NewRequest(c.method, c.path, strings.NewReader(c.body)))
		body, _ := io.ReadAll(rr.Body)
		if rr.Code != c.code || !strings.Contains(string(body), c.msg) {
			t.Errorf("%s %s %.40q: got %d %s, want %d %q", c.method, c.path, c.body, rr.Code, body, c.code, c.msg)
		}
	}
	if len(sim.calls) != 0 {
		t.Fatalf("bad requests reached the board: %v", sim.calls)
	}
	// Unknown port: 404 from the layer below.
	rr := httptest.NewRecorder()
	h.ServeHTTP(rr, httptest.NewRequest("POST", "/v1/sim/hook", strings.NewReader(`{"port":7,"state":"off"}`)))
	if rr.Code != 404 {
		t.Fatalf("unknown port: %d %s", rr.Code, rr.Body)
	}
}

func TestSimVerbsRefusedOnRealHardware(t *testing.T) {
	h := NewHandler(fakeDaemon{}, nil, slog.New(slog.DiscardHandler))
	rr := httptest.NewRecorder()
	h.ServeHTTP(rr, httptest.NewRequest("POST", "/v1/sim/hook", strings.NewReader(`{"port":1,"state":"off"}`)))
	if rr.Code != 409 || !strings.Contains(rr.Body.String(), "real hardware") {
		t.Fatalf("got %d %s", rr.Code, rr.Body)
	}
}

func TestNotRunning(t *testing.T) {
	c := NewClient(filepath.Join(t.TempDir(), "none.sock"))
	_, err := c.Status(context.Background())
	var nr *NotRunningError
	if !errors.As(err, &nr) || !strings.Contains(err.Error(), "systemctl status critlined") || !strings.Contains(err.Error(), "no socket there") {
		t.Fatalf("got %v", err)
	}
}

func FuzzHandler(f *testing.F) {
	f.Add("POST", "/v1/sim/hook", []byte(`{"port":1,"state":"off"}`))
	f.Add("POST", "/v1/sim/dial", []byte(`{"port":1,"digits":"999","pulse":true}`))
	f.Add("POST", "/v1/sim/play?port=1", []byte{1, 2, 3, 4})
	f.Add("POST", "/v1/sim/trunk", []byte(`{"trunk":"lte","args":["ring","1"]}`))
	f.Add("GET", "/v1/sim/listen?port=1&seconds=0.01", []byte(nil))
	f.Add("POST", "/v1/sim/power", []byte(`[]`))
	h := NewHandler(fakeDaemon{}, &fakeSim{}, slog.New(slog.DiscardHandler))
	f.Fuzz(func(t *testing.T, method, path string, body []byte) {
		if !strings.HasPrefix(path, "/") || strings.ContainsAny(path, " \r\n\t#") || strings.ContainsAny(method, " \r\n\t/") || method == "" {
			return
		}
		req, err := http.NewRequest(method, "http://x"+path, strings.NewReader(string(body)))
		if err != nil {
			return
		}
		rr := httptest.NewRecorder()
		h.ServeHTTP(rr, req)
		if rr.Code >= 500 {
			t.Fatalf("%s %s -> %d", method, path, rr.Code)
		}
	})
}

// fwdDaemon also takes forwarding verbs.
type fwdDaemon struct {
	fakeDaemon
	got []ForwardRequest
}

func (d *fwdDaemon) Forward(r ForwardRequest) (string, error) {
	if r.Port != 1 {
		return "", fmt.Errorf("no port %d: %w", r.Port, ErrNotFound)
	}
	d.got = append(d.got, r)
	return "forwarded", nil
}
func (d *fwdDaemon) Unlock(UnlockRequest) (string, error) { return "1 lockout(s) lifted", nil }

func TestForwardVerbs(t *testing.T) {
	d := &fwdDaemon{}
	h := NewHandler(d, nil, slog.New(slog.DiscardHandler))
	for _, c := range []struct {
		path, body string
		code       int
	}{
		{"/v1/forward", `{"port":1,"kind":"busy","number":"07700900555"}`, 200},
		{"/v1/forward", `{"port":7,"kind":"busy","number":"07700900555"}`, 404},
		{"/v1/forward", `{"port":1,"kind":"busy","nmber":"1"}`, 400},
		{"/v1/forward/unlock", `{}`, 200},
		{"/v1/forward/unlock", `{"kind":1}`, 400},
	} {
		rr := httptest.NewRecorder()
		h.ServeHTTP(rr, httptest.NewRequest("POST", c.path, strings.NewReader(c.body)))
		if rr.Code != c.code {
			t.Errorf("%s %s: %d %s, want %d", c.path, c.body, rr.Code, rr.Body, c.code)
		}
	}
	if len(d.got) != 1 || d.got[0].Number != "07700900555" {
		t.Fatalf("forward requests reaching the daemon: %+v", d.got)
	}
}

// ptDaemon also tests its paths.
type ptDaemon struct {
	fakeDaemon
	got [][]string
}

func (d *ptDaemon) TestPaths(ctx context.Context, req PathTestRequest) (PathReport, error) {
	for _, p := range req.Paths {
		if p != "trunk:lte" {
			return PathReport{}, fmt.Errorf("no path %q: %w", p, ErrNotFound)
		}
	}
	d.got = append(d.got, req.Paths)
	v := -8.1
	return PathReport{Board: "sim", Paths: []PathTest{{Path: "trunk:lte", Result: "ok", SetupSeconds: 1.8, AudioDBm0: &v}}}, nil
}

// copperSim can also cut its copper lines.
type copperSim struct{ fakeSim }

func (s *copperSim) Copper(p int, live bool) error {
	s.calls = append(s.calls, fmt.Sprintf("copper %d %v", p, live))
	return s.port(p)
}

func TestPathTestVerb(t *testing.T) {
	d := &ptDaemon{}
	h := NewHandler(d, &copperSim{}, slog.New(slog.DiscardHandler))
	for _, c := range []struct {
		path, body string
		code       int
		has        string
	}{
		{"/v1/test/paths", `{}`, 200, `"setup_seconds": 1.8`},
		{"/v1/test/paths", `{"paths":["trunk:lte"]}`, 200, `"result": "ok"`},
		{"/v1/test/paths", `{"paths":["trunk:nope"]}`, 404, `no path`},
		{"/v1/test/paths", `{"path":"x"}`, 400, `unknown field`},
		{"/v1/sim/copper", `{"port":1,"state":"dead"}`, 200, `copper line dead`},
		{"/v1/sim/copper", `{"port":1,"state":"cut"}`, 400, `use live`},
		{"/v1/sim/copper", `{"port":7,"state":"live"}`, 404, `no port 7`},
	} {
		rr := httptest.NewRecorder()
		h.ServeHTTP(rr, httptest.NewRequest("POST", c.path, strings.NewReader(c.body)))
		if rr.Code != c.code || !strings.Contains(rr.Body.String(), c.has) {
			t.Errorf("%s %s: %d %s, want %d with %q", c.path, c.body, rr.Code, rr.Body, c.code, c.has)
		}
	}
	if len(d.got) != 2 {
		t.Fatalf("path test requests reaching the daemon: %+v", d.got)
	}
	// Without a daemon that tests paths there is no such endpoint; a sim
	// board that cannot cut its lines says so.
	h = NewHandler(fakeDaemon{}, &fakeSim{}, slog.New(slog.DiscardHandler))
	for path, code := range map[string]int{"/v1/test/paths": 404, "/v1/sim/copper": 409} {
		rr := httptest.NewRecorder()
		h.ServeHTTP(rr, httptest.NewRequest("POST", path, strings.NewReader(`{"port":1,"state":"live"}`)))
		if rr.Code != code {
			t.Errorf("%s: %d %s, want %d", path, rr.Code, rr.Body, code)
		}
	}
}
