package guest

import "time"

// SetPayloadWait sets how long p waits for its disk.
func SetPayloadWait(p *Payload, d time.Duration) { p.wait = d }

// WriteWarmupDisk writes the warm-up disk into f.
var WriteWarmupDisk = writeWarmupDisk
