package pkgproxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Bounds a Proxy applies unless its fields set others.
const (
	DefaultMaxHeaderBytes   = 64 << 10
	DefaultMaxResponseBytes = 2 << 30
	DefaultRequestTimeout   = 10 * time.Minute
	maxRefusalsKept         = 64
)

// ErrNotAllowed is wrapped by the error [New] returns for a mirror URL the
// proxy cannot serve (not plain http, userinfo, no host).
var ErrNotAllowed = errors.New("pkgproxy: mirror not allowed")

// ErrStream is wrapped by the error [Proxy.ServeStream] returns when the
// guest's stream cannot be served further: a malformed or oversized request
// head, or a response over the size bound.
var ErrStream = errors.New("pkgproxy: guest stream unusable")

// Proxy forwards a guest's package-manager requests to an allow-list of
// mirror hosts. Its zero value allows nothing; use [New].
type Proxy struct {
	// MaxHeaderBytes bounds the bytes read for one request head.
	MaxHeaderBytes int64
	// MaxResponseBytes bounds one response body relayed to the guest.
	MaxResponseBytes int64
	// RequestTimeout bounds one forwarded request, body included.
	RequestTimeout time.Duration

	allowed   map[string]bool
	transport *http.Transport

	mu       sync.Mutex
	refusals []string
}

// New returns a Proxy that forwards to the hosts and ports of mirrors, each
// an http:// URL (https mirrors would need a CONNECT tunnel, which a single
// guest stream cannot carry beside other requests). A mirror on the host's
// loopback is reachable only when it is listed here explicitly.
func New(mirrors []string) (*Proxy, error) {
	p := &Proxy{
		MaxHeaderBytes:   DefaultMaxHeaderBytes,
		MaxResponseBytes: DefaultMaxResponseBytes,
		RequestTimeout:   DefaultRequestTimeout,
		allowed:          map[string]bool{},
	}
	for _, m := range mirrors {
		addr, err := MirrorAddr(m)
		if err != nil {
			return nil, err
		}
		p.allowed[addr] = true
	}
	dialer := &net.Dialer{Timeout: 30 * time.Second}
	p.transport = &http.Transport{
		// The host's own proxy settings are not the guest's to use.
		Proxy: nil,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if !p.allowed[addr] {
				return nil, fmt.Errorf("%w: dial %s", ErrNotAllowed, addr)
			}
			return dialer.DialContext(ctx, network, addr)
		},
		MaxResponseHeaderBytes: DefaultMaxHeaderBytes,
		ResponseHeaderTimeout:  2 * time.Minute,
		DisableCompression:     true,
		MaxIdleConnsPerHost:    2,
	}
	return p, nil
}

// MirrorAddr returns the host:port a mirror URL is reached at, the form the
// allow-list holds.
func MirrorAddr(mirror string) (string, error) {
	u, err := url.Parse(mirror)
	if err != nil {
		return "", fmt.Errorf("%w: %q: %v", ErrNotAllowed, mirror, err)
	}
	if u.Scheme != "http" || u.Host == "" || u.User != nil || u.Opaque != "" {
		return "", fmt.Errorf("%w: %q: want http://host[:port]/path", ErrNotAllowed, mirror)
	}
	return hostPort(u)
}

func hostPort(u *url.URL) (string, error) {
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if host == "" {
		return "", fmt.Errorf("%w: %q has no host", ErrNotAllowed, u.String())
	}
	if port == "" {
		port = "80"
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("%w: %q: bad port", ErrNotAllowed, u.String())
	}
	return net.JoinHostPort(host, port), nil
}

// Refusals returns the first requests refused, as "METHOD target", for a
// report of what the guest tried.
func (p *Proxy) Refusals() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.refusals...)
}

// Close drops the idle upstream connections.
func (p *Proxy) Close() {
	if p.transport != nil {
		p.transport.CloseIdleConnections()
	}
}

// ServeStream serves stream as one persistent HTTP/1.1 client connection
// until the guest closes it, ctx ends, or the stream becomes unusable (an
// error wrapping [ErrStream]). A clean end of stream returns nil.
func (p *Proxy) ServeStream(ctx context.Context, stream io.ReadWriter) error {
	head := &limitedReader{r: stream}
	br := bufio.NewReaderSize(head, 4096)
	bw := bufio.NewWriter(stream)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		head.reset(p.maxHeaderBytes())
		req, err := http.ReadRequest(br)
		if err != nil {
			if errors.Is(err, io.EOF) && br.Buffered() == 0 && head.n == 0 {
				return nil
			}
			status := http.StatusBadRequest
			if head.exceeded {
				status = http.StatusRequestHeaderFieldsTooLarge
			}
			_ = writeRefusal(bw, status, "malformed or oversized request")
			_ = bw.Flush()
			return fmt.Errorf("%w: %v", ErrStream, err)
		}
		if err := p.serveOne(ctx, req, bw); err != nil {
			return err
		}
		if err := bw.Flush(); err != nil {
			return err
		}
	}
}

func (p *Proxy) maxHeaderBytes() int64 {
	if p.MaxHeaderBytes > 0 {
		return p.MaxHeaderBytes
	}
	return DefaultMaxHeaderBytes
}

func (p *Proxy) serveOne(ctx context.Context, req *http.Request, bw *bufio.Writer) error {
	target := req.Method + " " + req.RequestURI
	reason := p.check(req)
	if reason != "" {
		p.refuse(target)
		// A request body is never read: a request that has one cannot be
		// followed on the same stream.
		if req.ContentLength != 0 || len(req.TransferEncoding) > 0 {
			_ = writeRefusal(bw, http.StatusForbidden, reason)
			_ = bw.Flush()
			return fmt.Errorf("%w: request with a body", ErrStream)
		}
		return writeRefusal(bw, http.StatusForbidden, reason)
	}
	timeout := p.RequestTimeout
	if timeout <= 0 {
		timeout = DefaultRequestTimeout
	}
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	out, err := http.NewRequestWithContext(rctx, req.Method, req.URL.String(), nil)
	if err != nil {
		return writeRefusal(bw, http.StatusBadRequest, "bad request URL")
	}
	for k, vs := range req.Header {
		if hopByHop(k) {
			continue
		}
		out.Header[k] = vs
	}
	resp, err := p.transport.RoundTrip(out)
	if err != nil {
		return writeRefusal(bw, http.StatusBadGateway, "mirror unreachable")
	}
	defer resp.Body.Close()
	limit := p.MaxResponseBytes
	if limit <= 0 {
		limit = DefaultMaxResponseBytes
	}
	if resp.ContentLength > limit {
		return writeRefusal(bw, http.StatusBadGateway, "response over the size bound")
	}
	for k := range resp.Header {
		if hopByHop(k) {
			resp.Header.Del(k)
		}
	}
	body := &limitedReader{r: resp.Body}
	body.reset(limit)
	relay := &http.Response{
		Status:        resp.Status,
		StatusCode:    resp.StatusCode,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        resp.Header,
		Body:          io.NopCloser(body),
		ContentLength: resp.ContentLength,
		Request:       req,
	}
	if req.Method == http.MethodHead {
		relay.Body = http.NoBody
	} else if resp.ContentLength < 0 {
		relay.TransferEncoding = []string{"chunked"}
	}
	if err := relay.Write(bw); err != nil {
		return fmt.Errorf("%w: relaying %s: %v", ErrStream, target, err)
	}
	if body.exceeded {
		return fmt.Errorf("%w: response to %s over %d bytes", ErrStream, target, limit)
	}
	return nil
}

// check returns why req is refused, or "" when it may be forwarded.
func (p *Proxy) check(req *http.Request) string {
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		return "only GET and HEAD are forwarded"
	}
	if req.URL == nil || req.URL.Scheme != "http" || req.URL.User != nil || req.URL.Opaque != "" {
		return "only absolute http:// URLs are forwarded"
	}
	addr, err := hostPort(req.URL)
	if err != nil || !p.allowed[addr] {
		return "host not in the package mirror allow-list"
	}
	return ""
}

func (p *Proxy) refuse(target string) {
	if len(target) > 256 {
		target = target[:256]
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.refusals) < maxRefusalsKept {
		p.refusals = append(p.refusals, strconv.QuoteToASCII(target))
	}
}

func writeRefusal(w *bufio.Writer, status int, reason string) error {
	body := "guestinject package proxy: " + reason + "\n"
	_, err := fmt.Fprintf(w, "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s",
		status, http.StatusText(status), len(body), body)
	return err
}

// hopByHop reports the headers that describe one connection and are not
// passed on (RFC 9110 section 7.6.1), with the proxy's own.
func hopByHop(name string) bool {
	switch http.CanonicalHeaderKey(name) {
	case "Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate",
		"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade":
		return true
	}
	return false
}

// limitedReader reads at most n bytes from r after each reset and records
// that the bound was reached.
type limitedReader struct {
	r        io.Reader
	left, n  int64
	exceeded bool
}

func (l *limitedReader) reset(max int64) { l.left, l.n, l.exceeded = max, 0, false }

func (l *limitedReader) Read(b []byte) (int, error) {
	if l.left <= 0 {
		l.exceeded = true
		return 0, errors.New("bound reached")
	}
	if int64(len(b)) > l.left {
		b = b[:l.left]
	}
	n, err := l.r.Read(b)
	l.left -= int64(n)
	l.n += int64(n)
	return n, err
}
