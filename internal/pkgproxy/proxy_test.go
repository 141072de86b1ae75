package pkgproxy

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// serveProxy listens on loopback and serves every connection with p, as the
// appliance's host process serves the guest's forwarded stream.
func serveProxy(t *testing.T, p *Proxy) *http.Client {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); ln.Close(); p.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _ = p.ServeStream(ctx, c) }()
		}
	}()
	proxyURL := &url.URL{Scheme: "http", Host: ln.Addr().String()}
	tr := &http.Transport{Proxy: http.ProxyURL(proxyURL)}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       30 * time.Second,
	}
}

// loopbackService is a host service the guest must never reach.
func loopbackService(t *testing.T) (*httptest.Server, *atomic.Int64) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		io.WriteString(w, "secret")
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

func get(t *testing.T, c *http.Client, method, u string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: body: %v", method, u, err)
	}
	return resp.StatusCode, string(b)
}

func TestProxyForwardsOnlyToMirrors(t *testing.T) {
	secret, secretHits := loopbackService(t)
	mirror := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/debian/Packages":
			io.WriteString(w, "Package: thepkg\n")
		case "/debian/redirect":
			http.Redirect(w, r, secret.URL+"/", http.StatusFound)
		case "/debian/chunked":
			w.(http.Flusher).Flush()
			io.WriteString(w, strings.Repeat("x", 100000))
		default:
			http.NotFound(w, r)
		}
	}))
	defer mirror.Close()
	p, err := New([]string{mirror.URL + "/debian"})
	if err != nil {
		t.Fatal(err)
	}
	c := serveProxy(t, p)

	if code, body := get(t, c, "GET", mirror.URL+"/debian/Packages"); code != 200 || body != "Package: thepkg\n" {
		t.Errorf("mirror GET = %d %q", code, body)
	}
	if code, body := get(t, c, "GET", mirror.URL+"/debian/chunked"); code != 200 || len(body) != 100000 {
		t.Errorf("chunked mirror GET = %d, %d bytes", code, len(body))
	}
	if code, body := get(t, c, "HEAD", mirror.URL+"/debian/Packages"); code != 200 || body != "" {
		t.Errorf("mirror HEAD = %d %q", code, body)
	}
	if code, _ := get(t, c, "GET", mirror.URL+"/debian/missing"); code != 404 {
		t.Errorf("missing file = %d, want the mirror's 404", code)
	}
	// The redirect reaches the guest as it is; following it is a new
	// request, checked again.
	if code, _ := get(t, c, "GET", mirror.URL+"/debian/redirect"); code != http.StatusFound {
		t.Errorf("redirect = %d, want 302 passed back", code)
	}
	for _, u := range []string{
		secret.URL + "/",
		"http://localhost:" + secret.URL[strings.LastIndex(secret.URL, ":")+1:] + "/",
		"http://example.invalid/",
	} {
		if code, body := get(t, c, "GET", u); code != http.StatusForbidden || strings.Contains(body, "secret") {
			t.Errorf("GET %s = %d %q, want 403", u, code, body)
		}
	}
	if code, _ := get(t, c, "POST", mirror.URL+"/debian/Packages"); code != http.StatusForbidden {
		t.Errorf("POST to the mirror = %d, want 403", code)
	}
	if n := secretHits.Load(); n != 0 {
		t.Errorf("the loopback service was reached %d times", n)
	}
	if got := p.Refusals(); len(got) != 4 {
		t.Errorf("Refusals() = %q, want 4", got)
	}
}

func TestProxyRefusesConnect(t *testing.T) {
	secret, hits := loopbackService(t)
	p, err := New([]string{secret.URL}) // even an allowed host is not tunnelled
	if err != nil {
		t.Fatal(err)
	}
	in := "CONNECT " + strings.TrimPrefix(secret.URL, "http://") + " HTTP/1.1\r\nHost: x\r\n\r\n"
	out := roundTripRaw(t, p, in)
	if !strings.HasPrefix(out, "HTTP/1.1 403") || hits.Load() != 0 {
		t.Errorf("CONNECT answered %q, %d hits", out, hits.Load())
	}
}

// roundTripRaw serves the raw bytes in as one guest stream and returns what
// the proxy wrote back.
func roundTripRaw(t *testing.T, p *Proxy, in string) string {
	t.Helper()
	var out strings.Builder
	rw := struct {
		io.Reader
		io.Writer
	}{strings.NewReader(in), &out}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = p.ServeStream(ctx, rw)
	return out.String()
}

func TestProxyPipelinedRequestsOnOneStream(t *testing.T) {
	mirror := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "file "+r.URL.Path)
	}))
	defer mirror.Close()
	p, err := New([]string{mirror.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	host := strings.TrimPrefix(mirror.URL, "http://")
	in := "GET " + mirror.URL + "/a HTTP/1.1\r\nHost: " + host + "\r\n\r\n" +
		"GET http://127.0.0.2:1/ HTTP/1.1\r\nHost: 127.0.0.2:1\r\n\r\n" +
		"GET " + mirror.URL + "/b HTTP/1.1\r\nHost: " + host + "\r\n\r\n"
	out := roundTripRaw(t, p, in)
	br := bufio.NewReader(strings.NewReader(out))
	want := []struct {
		code int
		body string
	}{{200, "file /a"}, {403, ""}, {200, "file /b"}}
	for i, w := range want {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("response %d: %v (stream %q)", i, err, out)
		}
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != w.code || (w.body != "" && string(b) != w.body) {
			t.Errorf("response %d = %d %q, want %d %q", i, resp.StatusCode, b, w.code, w.body)
		}
	}
}

func TestProxyBounds(t *testing.T) {
	big := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/sized" {
			w.Header().Set("Content-Length", "5000")
		} else {
			w.(http.Flusher).Flush() // unknown length
		}
		io.WriteString(w, strings.Repeat("y", 5000))
	}))
	defer big.Close()
	p, err := New([]string{big.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	p.MaxResponseBytes = 1000
	p.MaxHeaderBytes = 512
	host := strings.TrimPrefix(big.URL, "http://")

	ctx := context.Background()
	serve := func(in string) (string, error) {
		var out strings.Builder
		err := p.ServeStream(ctx, struct {
			io.Reader
			io.Writer
		}{strings.NewReader(in), &out})
		return out.String(), err
	}
	out, err := serve("GET " + big.URL + "/sized HTTP/1.1\r\nHost: " + host + "\r\n\r\n")
	if err != nil || !strings.HasPrefix(out, "HTTP/1.1 502") {
		t.Errorf("sized response over the bound: %q, %v; want 502 and the stream kept", out, err)
	}
	if _, err := serve("GET " + big.URL + "/stream HTTP/1.1\r\nHost: " + host + "\r\n\r\n"); !errors.Is(err, ErrStream) {
		t.Errorf("streamed response over the bound: err %v, want ErrStream", err)
	}
	out, err = serve("GET " + big.URL + "/ HTTP/1.1\r\nHost: " + host + "\r\nX: " + strings.Repeat("h", 4096) + "\r\n\r\n")
	if !errors.Is(err, ErrStream) || !strings.HasPrefix(out, "HTTP/1.1 431") {
		t.Errorf("oversized head: %q, %v; want 431 and ErrStream", out, err)
	}
	// A body cannot be skipped safely on a shared stream: refused and ended.
	if _, err := serve("PUT " + big.URL + "/ HTTP/1.1\r\nHost: " + host + "\r\nContent-Length: 3\r\n\r\nabcGET / HTTP/1.1\r\n\r\n"); !errors.Is(err, ErrStream) {
		t.Errorf("request with a body: %v, want ErrStream", err)
	}
}

func TestMirrorAddr(t *testing.T) {
	for in, want := range map[string]string{
		"http://deb.debian.org/debian":  "deb.debian.org:80",
		"http://Mirror.Example:8080/x/": "mirror.example:8080",
		"http://127.0.0.1:3142":         "127.0.0.1:3142",
		"http://[::1]:99/":              "[::1]:99",
	} {
		if got, err := MirrorAddr(in); err != nil || got != want {
			t.Errorf("MirrorAddr(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"https://deb.debian.org/", "ftp://x/", "http://u:p@x/", "http:///x", "http://x:0/", "http://x:99999/", "deb.debian.org"} {
		if _, err := MirrorAddr(in); !errors.Is(err, ErrNotAllowed) {
			t.Errorf("MirrorAddr(%q) err = %v, want ErrNotAllowed", in, err)
		}
	}
}

// FuzzServeStream feeds arbitrary guest bytes to a proxy whose only mirror
// is unreachable: it must end without panicking or dialling anything else.
func FuzzServeStream(f *testing.F) {
	f.Add("GET http://127.0.0.1:1/x HTTP/1.1\r\nHost: 127.0.0.1:1\r\n\r\n")
	f.Add("GET http://10.0.0.1/ HTTP/1.1\r\n\r\nHEAD / HTTP/1.0\r\n\r\n")
	f.Add("CONNECT a:1 HTTP/1.1\r\n\r\n")
	f.Add("POST http://127.0.0.1:1/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
	f.Fuzz(func(t *testing.T, in string) {
		p, err := New([]string{"http://127.0.0.1:1/"})
		if err != nil {
			t.Fatal(err)
		}
		p.transport.DialContext = func(_ context.Context, _, addr string) (net.Conn, error) {
			if addr != "127.0.0.1:1" {
				t.Errorf("dialled %s", addr)
			}
			return nil, errors.New("no network in the fuzzer")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = p.ServeStream(ctx, struct {
			io.Reader
			io.Writer
		}{strings.NewReader(in), io.Discard})
	})
}
