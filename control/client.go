package control

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// Client talks to the daemon's control socket.
type Client struct {
	Socket string
	http   *http.Client
}

// NewClient returns a client for the socket at path.
func NewClient(path string) *Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
	}
	return &Client{Socket: path, http: &http.Client{Transport: tr}}
}

// NotRunningError says the daemon could not be reached, and how to find out why.
type NotRunningError struct {
	Socket string
	Err    error
}

func (e *NotRunningError) Error() string {
	if what := notASocket(e.Socket); what != "" {
		return fmt.Sprintf("%s is %s, not a control socket: pass --socket with the path of the daemon's socket (its [control] socket, by default %s)",
			e.Socket, what, defaultSocketHint)
	}
	why := "cannot connect"
	switch {
	case errors.Is(e.Err, os.ErrNotExist) || errors.Is(e.Err, syscall.ENOENT):
		why = "no socket there"
	case errors.Is(e.Err, syscall.ECONNREFUSED):
		why = "socket present but nobody listening (the daemon died?)"
	case errors.Is(e.Err, os.ErrPermission) || errors.Is(e.Err, syscall.EACCES):
		why = "permission denied: run as root or a member of the socket's group (critline)"
	}
	return fmt.Sprintf("critlined is not reachable at %s (%s).\n"+
		"  Is it running?  systemctl status critlined ; journalctl -u critlined -n 50\n"+
		"  Another socket? pass --socket PATH (the daemon's [control] socket)", e.Socket, why)
}

// defaultSocketHint is the daemon's default socket (config.DefaultSocket;
// control does not import config).
const defaultSocketHint = "/run/critline/control.sock"

// notASocket describes what is at path when it exists and is not a socket
// ("a directory (it holds control.sock: try that)", "a regular file"), and
// returns "" otherwise.
func notASocket(path string) string {
	st, err := os.Stat(path)
	if err != nil || st.Mode().Type() == os.ModeSocket {
		return ""
	}
	switch {
	case st.IsDir():
		if in, err := os.Stat(filepath.Join(path, "control.sock")); err == nil && in.Mode().Type() == os.ModeSocket {
			return "a directory (it holds control.sock: try --socket " + filepath.Join(path, "control.sock") + ")"
		}
		return "a directory"
	case st.Mode().IsRegular():
		return "a regular file"
	}
	return "a " + st.Mode().Type().String() + " file"
}

// APIError is a 4xx/5xx answer from the daemon.
type APIError struct {
	Code    int
	Message string
}

func (e *APIError) Error() string { return e.Message }

func (c *Client) do(ctx context.Context, method, path string, q url.Values, body io.Reader, ctype string) (*http.Response, error) {
	u := "http://critlined" + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, err
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" {
			return nil, &NotRunningError{Socket: c.Socket, Err: op.Err}
		}
		return nil, err
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		var e Error
		b, _ := io.ReadAll(io.LimitReader(resp.Body, MaxJSONBody))
		if json.Unmarshal(b, &e) != nil || e.Error == "" {
			e.Error = fmt.Sprintf("daemon answered %s", resp.Status)
		}
		return nil, &APIError{Code: resp.StatusCode, Message: e.Error}
	}
	return resp, nil
}

func (c *Client) getJSON(ctx context.Context, path string, out any) error {
	resp, err := c.do(ctx, "GET", path, nil, nil, "")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(out)
}

func (c *Client) post(ctx context.Context, path string, in any) (Result, error) {
	b, err := json.Marshal(in)
	if err != nil {
		return Result{}, err
	}
	resp, err := c.do(ctx, "POST", path, nil, bytes.NewReader(b), "application/json")
	if err != nil {
		return Result{}, err
	}
	defer resp.Body.Close()
	var r Result
	return r, json.NewDecoder(resp.Body).Decode(&r)
}

// Status fetches the appliance's status.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var s Status
	return s, c.getJSON(ctx, "/v1/status", &s)
}

// Version fetches the daemon's build.
func (c *Client) Version(ctx context.Context) (Version, error) {
	var v Version
	return v, c.getJSON(ctx, "/v1/version", &v)
}

// Post sends a JSON request to a path (the sim verbs and others).
func (c *Client) Post(ctx context.Context, path string, in any) (Result, error) {
	return c.post(ctx, path, in)
}

// TestPaths runs the path tests now and returns the commissioning report
// (it takes as long as the tests: up to 20 s each).
func (c *Client) TestPaths(ctx context.Context, req PathTestRequest) (PathReport, error) {
	var rep PathReport
	b, err := json.Marshal(req)
	if err != nil {
		return rep, err
	}
	resp, err := c.do(ctx, "POST", "/v1/test/paths", nil, bytes.NewReader(b), "application/json")
	if err != nil {
		return rep, err
	}
	defer resp.Body.Close()
	return rep, json.NewDecoder(resp.Body).Decode(&rep)
}

// Play sends raw s16le audio into a port's microphone.
func (c *Client) Play(ctx context.Context, port int, samples []int16) (Result, error) {
	b := make([]byte, 2*len(samples))
	for i, s := range samples {
		b[2*i], b[2*i+1] = byte(s), byte(uint16(s)>>8)
	}
	resp, err := c.do(ctx, "POST", "/v1/sim/play", url.Values{"port": {strconv.Itoa(port)}}, bytes.NewReader(b), "application/octet-stream")
	if err != nil {
		return Result{}, err
	}
	defer resp.Body.Close()
	var r Result
	return r, json.NewDecoder(resp.Body).Decode(&r)
}

// Listen records a port's earpiece for d.
func (c *Client) Listen(ctx context.Context, port int, d time.Duration) ([]int16, error) {
	q := url.Values{"port": {strconv.Itoa(port)}, "seconds": {strconv.FormatFloat(d.Seconds(), 'f', -1, 64)}}
	resp, err := c.do(ctx, "GET", "/v1/sim/listen", q, nil, "")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	out := make([]int16, len(b)/2)
	for i := range out {
		out[i] = int16(uint16(b[2*i]) | uint16(b[2*i+1])<<8)
	}
	return out, nil
}

// Watch streams the board's changes as raw JSON lines to emit until ctx ends.
func (c *Client) Watch(ctx context.Context, port int, emit func(line []byte) error) error {
	q := url.Values{}
	if port > 0 {
		q.Set("port", strconv.Itoa(port))
	}
	resp, err := c.do(ctx, "GET", "/v1/sim/watch", q, nil, "")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(resp.Body)
	for {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			if ctx.Err() != nil || errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if err := emit(raw); err != nil {
			return err
		}
	}
}
