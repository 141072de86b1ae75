package appliance

import (
	"errors"
	"fmt"
	"sync"
	"syscall"
	"time"
)

// ErrOverlayLimit is wrapped by an *OverlayLimitError.
var ErrOverlayLimit = errors.New("overlay over its limit")

// OverlayLimitError is an overlay that took more host disk space than
// WithOverlayLimit allows. The session was ended; the images are
// unchanged.
type OverlayLimitError struct {
	Image string // the image whose overlay grew
	Limit int64
	Size  int64 // the overlay's allocation when it was seen
}

func (e *OverlayLimitError) Error() string {
	return fmt.Sprintf("appliance: the overlay of %s takes %d bytes, over its limit of %d; the session was ended", e.Image, e.Size, e.Limit)
}

func (e *OverlayLimitError) Unwrap() error { return ErrOverlayLimit }

// overlayPoll is how often the overlays are measured while a command
// runs: the VM writes at most a few hundred MB/s, so the bound is
// overshot by little before the VM is killed.
const overlayPoll = 50 * time.Millisecond

// allocated returns the bytes the file at path takes on its filesystem.
func allocated(path string) (int64, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return 0, err
	}
	return st.Blocks * 512, nil
}

// checkOverlayLimit measures every writable overlay against the limit.
func (s *Session) checkOverlayLimit() error {
	if s.overlayLimit <= 0 {
		return nil
	}
	for _, d := range s.disks {
		if d.ReadOnly {
			continue
		}
		size, err := allocated(d.overlay)
		if err != nil {
			return fmt.Errorf("appliance: measuring the overlay: %w", err)
		}
		if size > s.overlayLimit {
			return &OverlayLimitError{Image: d.abs, Limit: s.overlayLimit, Size: size}
		}
	}
	return nil
}

// watchOverlays measures the overlays until stop is called, and kills the
// VM the moment one is over the limit, which ends the call in flight.
// stop returns the *OverlayLimitError, if any, after which the session
// is torn down.
func (s *Session) watchOverlays() (stop func() error) {
	if s.overlayLimit <= 0 {
		return func() error { return nil }
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	var over error
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(overlayPoll)
		defer t.Stop()
		for {
			if err := s.checkOverlayLimit(); err != nil {
				over = err
				s.killVM()
				return
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() error {
		close(done)
		wg.Wait()
		if over == nil {
			// What the command wrote last may not have been measured.
			over = s.checkOverlayLimit()
			var le *OverlayLimitError
			if !errors.As(over, &le) {
				over = nil
			}
		}
		if over != nil {
			s.mu.Lock()
			s.ended = true
			s.mu.Unlock()
			s.teardown()
		}
		return over
	}
}
