package appliance_test

import (
	"context"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/guestinject/guestinject/appliance"
)

// BenchmarkBootAgentStart is BenchmarkBoot with the agent's debug output
// on, reporting the median kernel uptime at which the agent started
// (agent-start-s): the part of a boot the kernel spends before /init,
// unpacking the initramfs included.
func BenchmarkBootAgentStart(b *testing.B) {
	needE2E(b)
	starts := &uptimeRecorder{}
	benchmarkBoot(b, bootImage(b), appliance.WithLogger(slog.New(starts)))
	if m, ok := starts.medianAfterFirst(); ok {
		b.ReportMetric(m, "agent-start-s")
	}
}

// uptimeRecorder is a slog handler that keeps the uptimes of the
// agent's "started at uptime" console lines.
type uptimeRecorder struct {
	mu      sync.Mutex
	uptimes []float64
}

const agentStartPrefix = "guestinject-agent: started at uptime "

func (u *uptimeRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (u *uptimeRecorder) WithAttrs([]slog.Attr) slog.Handler       { return u }
func (u *uptimeRecorder) WithGroup(string) slog.Handler            { return u }

func (u *uptimeRecorder) Handle(_ context.Context, r slog.Record) error {
	r.Attrs(func(a slog.Attr) bool {
		line := a.Value.String()
		if i := strings.Index(line, agentStartPrefix); a.Key == "line" && i >= 0 {
			if v, err := strconv.ParseFloat(strings.TrimSpace(line[i+len(agentStartPrefix):]), 64); err == nil {
				u.mu.Lock()
				u.uptimes = append(u.uptimes, v)
				u.mu.Unlock()
			}
		}
		return true
	})
	return nil
}

// medianAfterFirst is the median of the uptimes but the first, that of
// benchmarkBoot's untimed warm-up.
func (u *uptimeRecorder) medianAfterFirst() (float64, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.uptimes) < 2 {
		return 0, false
	}
	s := slices.Sorted(slices.Values(u.uptimes[1:]))
	return s[len(s)/2], true
}
