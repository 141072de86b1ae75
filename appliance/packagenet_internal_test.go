package appliance

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/guestinject/guestinject/internal/pkgproxy"
)

// A guest that garbles the proxy stream gets no more answers, but what it
// writes is still read, so QEMU never blocks on it; teardown then ends the
// proxy.
func TestPackageProxyDrainsAGarbledStream(t *testing.T) {
	proxy, err := pkgproxy.New([]string{"http://127.0.0.1:1/"})
	if err != nil {
		t.Fatal(err)
	}
	s := &Session{log: slog.New(slog.DiscardHandler)}
	guestEnd, err := s.servePackageProxy(proxy)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.FileConn(guestEnd)
	guestEnd.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(20 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(conn, "NOT HTTP\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	var answer [12]byte
	if _, err := io.ReadFull(conn, answer[:]); err != nil || !strings.HasPrefix(string(answer[:]), "HTTP/1.1 400") {
		t.Fatalf("answer %q, %v", answer, err)
	}
	// Far more than a socket buffer holds.
	if _, err := conn.Write(bytes.Repeat([]byte("x"), 8<<20)); err != nil {
		t.Fatalf("writing after the stream broke: %v", err)
	}
	done := make(chan struct{})
	go func() { s.proxyStop(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("teardown did not end the proxy")
	}
}
