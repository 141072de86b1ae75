package vfs

import "context"

// Session is a guest filesystem opened for one set of changes: what every
// image backend's Open returns. It has one meaning whatever the backend:
//
//   - Commit makes every change made through the session durable in the
//     image and ends the session. A failed Commit leaves the image as it
//     was unless the backend's documentation says otherwise for the merge
//     itself.
//   - Close without Commit ends the session and discards every change:
//     the image is byte-for-byte as it was before Open. Close after
//     Commit only releases what is left.
//   - After either, every call fails with ErrClosed, a second Commit
//     included.
//
// Writing an image in place, where nothing can be discarded, is a
// separate choice with its own type that is not a Session.
type Session interface {
	FS
	Commit(ctx context.Context) error
}
