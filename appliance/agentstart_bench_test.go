package appliance_test

import (
	"log/slog"
	"slices"
	"strconv"
	"strings"
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

const agentStartPrefix = "guestinject-agent: started at uptime "

// uptimeRecorder keeps the uptimes of the agent's "started at uptime"
// console lines.
type uptimeRecorder struct{ consoleRecorder }

// medianAfterFirst is the median of the uptimes but the first, that of
// benchmarkBoot's untimed warm-up.
func (u *uptimeRecorder) medianAfterFirst() (float64, bool) {
	var uptimes []float64
	for _, line := range u.lines() {
		if i := strings.Index(line, agentStartPrefix); i >= 0 {
			if v, err := strconv.ParseFloat(strings.TrimSpace(line[i+len(agentStartPrefix):]), 64); err == nil {
				uptimes = append(uptimes, v)
			}
		}
	}
	if len(uptimes) < 2 {
		return 0, false
	}
	s := slices.Sorted(slices.Values(uptimes[1:]))
	return s[len(s)/2], true
}
