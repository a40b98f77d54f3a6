package control

import (
	"context"
	"net"
	"net/http"
	"time"
)

// Limits on every control connection: a client that connects and says
// nothing, sends a request slowly, or keeps an idle connection open is cut
// off, so connections cannot pile up in the daemon.
const (
	HeaderTimeout = 5 * time.Second  // to send a request's headers
	ReadTimeout   = 60 * time.Second // to send a whole request, body included
)

// NewServer is the HTTP server for the control socket: h behind the limits
// above, with idle keep-alive connections closed after idle. base is the
// context of every request (streams end when it does). Responses have no
// time limit: `sim watch` and `sim listen` stream for as long as asked.
func NewServer(h http.Handler, idle time.Duration, base context.Context) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: HeaderTimeout,
		ReadTimeout:       ReadTimeout,
		IdleTimeout:       idle,
		BaseContext:       func(net.Listener) context.Context { return base },
	}
}
