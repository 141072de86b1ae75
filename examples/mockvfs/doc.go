// Package mockvfs shows how to unit-test code that builds on inject: the
// provisioning step Bootstrap is tested against an in-memory guest
// (vfs/memfs) for its results, and through the gomock mock of vfs.FS
// (vfs/vfsmock) for what it must not do — write after a failure, or write
// at all when the guest is already provisioned. No VM or image is needed.
package mockvfs
