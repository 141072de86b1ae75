package wire

import (
	"io/fs"

	"github.com/guestinject/guestinject/vfs"
)

// WriteRequest returns the request of a WriteFile of name with opts; the
// agent reads the options back with Request.WriteOptions. These two are
// the only place the fields of vfs.WriteOptions meet the wire.
func WriteRequest(name string, opts vfs.WriteOptions) *Request {
	return &Request{Op: OpWriteFile, Name: name, Mode: uint32(opts.Perm), UID: opts.UID, GID: opts.GID,
		Policy: int(opts.Policy), Inherit: opts.Inherit, MaxSize: opts.MaxSize}
}

// WriteOptions returns the options of a WriteFile request, as
// WriteRequest put them. They are the peer's: the backend that writes
// checks them.
func (r *Request) WriteOptions() vfs.WriteOptions {
	return vfs.WriteOptions{Policy: vfs.WritePolicy(r.Policy), Perm: fs.FileMode(r.Mode),
		UID: r.UID, GID: r.GID, Inherit: r.Inherit, MaxSize: r.MaxSize}
}
