package imagecheck

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"
)

const benchConvertSize = 256 << 20

// benchConvert times conv on a 256 MiB monolithicSparse vmdk whose every
// cluster holds data, converting to qcow2, a new output per iteration.
func benchConvert(b *testing.B, conv func(src, dst string) error) {
	needConvertTools(b)
	dir := b.TempDir()
	src := filepath.Join(dir, "data.vmdk")
	run(b, dir, "qemu-img", "create", "-q", "-f", "vmdk", src, fmt.Sprint(benchConvertSize))
	qemuIO(b, VMDK, src, fmt.Sprintf("write -P 0x6b 0 %d", benchConvertSize))
	b.SetBytes(benchConvertSize)
	i := 0
	for b.Loop() {
		i++
		if err := conv(src, filepath.Join(dir, fmt.Sprintf("out%d.qcow2", i))); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkConvert is Convert: both checks, prlimit, the descriptors.
func BenchmarkConvert(b *testing.B) {
	benchConvert(b, func(src, dst string) error {
		_, err := Convert(bg, src, VMDK, dst, QCOW2, convertPolicy)
		return err
	})
}

// BenchmarkConvertBare is `qemu-img convert -f vmdk -O qcow2 SRC DST` on
// the same image, for Convert's overhead in BENCHMARKS.md.
func BenchmarkConvertBare(b *testing.B) {
	benchConvert(b, func(src, dst string) error {
		if out, err := exec.Command("qemu-img", "convert", "-f", "vmdk", "-O", "qcow2", src, dst).CombinedOutput(); err != nil {
			return fmt.Errorf("%w: %s", err, out)
		}
		return nil
	})
}
