package guestetc

import (
	"bytes"
	"strings"
)

// HostnameAddr is the loopback address Debian-style systems give the
// machine's own name in /etc/hosts; it is loopback everywhere.
const HostnameAddr = "127.0.1.1"

// SetHostsName returns /etc/hosts content in which hostname resolves to a
// loopback address. When a loopback line already names it, data is returned
// unchanged; otherwise an existing HostnameAddr line is replaced, or one is
// appended. Every other line is kept byte for byte.
func SetHostsName(data []byte, hostname string) []byte {
	replaceAt, replaceEnd := -1, -1
	offset := 0
	for line := range bytes.Lines(data) {
		start := offset
		offset += len(line)
		content := line
		if i := bytes.IndexByte(content, '#'); i >= 0 {
			content = content[:i]
		}
		fields := strings.Fields(string(content))
		if len(fields) < 2 {
			continue
		}
		if isLoopback(fields[0]) {
			for _, n := range fields[1:] {
				if strings.EqualFold(n, hostname) {
					return data
				}
			}
		}
		if fields[0] == HostnameAddr && replaceAt < 0 {
			replaceAt, replaceEnd = start, start+len(bytes.TrimRight(line, "\r\n"))
		}
	}
	entry := HostnameAddr + "\t" + hostname
	if replaceAt >= 0 {
		out := append([]byte{}, data[:replaceAt]...)
		out = append(out, entry...)
		return append(out, data[replaceEnd:]...)
	}
	out := append([]byte{}, data...)
	if len(out) > 0 && out[len(out)-1] != '\n' {
		out = append(out, '\n')
	}
	return append(out, entry+"\n"...)
}

func isLoopback(addr string) bool {
	return strings.HasPrefix(addr, "127.") || addr == "::1"
}
