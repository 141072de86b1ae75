// Package ownerdir names private session directories after the process
// that owns them, so that whoever comes next can tell the remains of a
// crashed process from a live session without trusting anything inside.
//
// A directory is called <prefix><pid>-<start>-<random>, where start is the
// owner's start time in clock ticks since boot (the pair names one process
// for the life of the system, even when pids are reused), and its owner
// holds an exclusive flock on it for as long as the session lasts; the
// kernel drops the lock when the owner dies. Stale finds the directories
// whose owner is gone and whose lock nobody holds, and hands each to a
// cleanup function with the lock held, so two sweepers never clean the
// same directory and a live session is never touched.
//
// The mount backend and the appliance share it.
package ownerdir
