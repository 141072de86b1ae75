// Package vfstest is the conformance suite of the vfs contract: every
// guestinject backend runs it from its own tests.
//
// Run builds a fresh backend for each case through a Harness, from a
// Layout written in a compact text form (see ParseLayout), and checks
// reads, every write policy, metadata changes, the optional capabilities,
// errors and context handling, then a hostile section: symlinks to host
// paths, ".." climbs, loops, FIFOs, device nodes and a giant sparse file.
// A host canary directory, which hostile layouts aim at, sits next to
// each guest tree; after every case the suite asserts that nothing outside
// the guest tree changed (SnapshotHost). Cases needing a capability the
// Harness does not declare in Caps are skipped, naming it.
//
//	func TestConformance(t *testing.T) {
//		vfstest.Run(t, vfstest.Harness{
//			New: func(t *testing.T, dir string, layout vfstest.Layout) vfs.FS {
//				if err := layout.WriteDir(dir); err != nil {
//					t.Fatal(err)
//				}
//				return openMyBackend(t, dir)
//			},
//			Caps: vfstest.Caps{Symlinks: true},
//		})
//	}
//
// RunSession is the section for image backends, whose Open returns a
// vfs.Session: through a SessionHarness it builds an image from a small
// tree and opens several sessions on it in turn, checking that Commit
// keeps every kind of change, that Close without Commit discards them and
// leaves the image's files byte-for-byte as they were, and that a session
// that ended refuses every call, a second Commit included. Both suites
// prove themselves in their own tests on deliberately broken backends.
package vfstest
