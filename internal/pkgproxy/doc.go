// Package pkgproxy is the host side of the appliance's opt-in package
// network: an HTTP forward proxy that serves the requests a guest's package
// manager sends through QEMU's restricted user network, and forwards only
// those addressed to the caller's package mirrors.
//
// QEMU's user network reaches every service on the host's loopback through
// its gateway address; with restrict=on it reaches nothing, and a guestfwd
// rule hands the guest's connections to one proxy address to a single host
// stream. [Proxy.ServeStream] serves that stream as one persistent HTTP/1.1
// connection: GET and HEAD requests in absolute form (as a client sends to a
// proxy) for a mirror's host and port are forwarded, every other request is
// answered 403 and reaches nothing. Redirects are passed back to the guest
// and not followed, so a redirected request is checked again. Header sizes,
// response sizes and time are bounded.
package pkgproxy
