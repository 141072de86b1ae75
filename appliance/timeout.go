package appliance

import (
	"context"
	"fmt"
	"io/fs"
	"sync"
	"sync/atomic"
	"time"
)

// TimeoutError is a Session call that ran out of the session's default
// timeout (WithOperationTimeout, WithCommitTimeout): the VM stopped
// answering, so the session was torn down. It matches
// context.DeadlineExceeded.
type TimeoutError struct {
	After   time.Duration
	Console string // the tail of the VM's console
}

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("appliance: no answer within %v; the session was ended\nconsole tail:\n%s", e.After, lastLines(e.Console, 15))
}

func (e *TimeoutError) Unwrap() error { return context.DeadlineExceeded }

// Timeout reports true, as net.Error does.
func (e *TimeoutError) Timeout() bool { return true }

// watchdog applies the session's default timeout to calls whose context
// has no deadline: when a call runs out of it, the VM is killed, which
// ends the call at once, whatever it waits for.
type watchdog struct {
	s      *Session
	d      time.Duration
	ctx    context.Context
	cancel context.CancelFunc
	fired  atomic.Bool
}

// guard returns the context to make calls with and their watchdog; nil
// when ctx has a deadline of its own or d is not positive.
func (s *Session) guard(ctx context.Context, d time.Duration) (context.Context, *watchdog) {
	if _, ok := ctx.Deadline(); ok || d <= 0 {
		return ctx, nil
	}
	ctx, cancel := context.WithCancel(ctx)
	return ctx, &watchdog{s: s, d: d, ctx: ctx, cancel: cancel}
}

// arm starts the clock of one call; the function it returns stops it and
// turns the call's error into a *TimeoutError if the clock ran out.
func (w *watchdog) arm(op, name string) func(error) error {
	if w == nil {
		return func(err error) error { return err }
	}
	t := time.AfterFunc(w.d, func() {
		w.fired.Store(true)
		w.cancel()
		w.s.killVM()
	})
	return func(err error) error {
		t.Stop()
		if !w.fired.Load() {
			return err
		}
		w.s.teardown()
		return &fs.PathError{Op: op, Path: name, Err: &TimeoutError{After: w.d, Console: w.s.console.String()}}
	}
}

// release frees the watchdog's context.
func (w *watchdog) release() {
	if w != nil {
		w.cancel()
	}
}

// callValue is how a Session forwards a call to its wire client: f runs
// under the session's operation timeout, and running out of it ends the
// session and returns a *TimeoutError for op and name. On error the value
// is T's zero.
func callValue[T any](s *Session, ctx context.Context, op, name string, f func(context.Context) (T, error)) (T, error) {
	ctx, w := s.guard(ctx, s.opTimeout)
	defer w.release()
	done := w.arm(op, name)
	v, err := f(ctx)
	if err = done(err); err != nil {
		var zero T
		return zero, err
	}
	return v, nil
}

// call is callValue for calls that return only an error.
func call(s *Session, ctx context.Context, op, name string, f func(context.Context) error) error {
	_, err := callValue(s, ctx, op, name, func(ctx context.Context) (struct{}, error) { return struct{}{}, f(ctx) })
	return err
}

// guardedFile applies the operation timeout to each call on a file
// opened without a deadline: the context of its Open call serves every
// read.
type guardedFile struct {
	fs.File
	w    *watchdog
	name string
	once sync.Once
}

func (f *guardedFile) Read(p []byte) (int, error) {
	done := f.w.arm("read", f.name)
	n, err := f.File.Read(p)
	return n, done(err)
}

func (f *guardedFile) Close() error {
	done := f.w.arm("close", f.name)
	err := done(f.File.Close())
	f.once.Do(f.w.release)
	return err
}
