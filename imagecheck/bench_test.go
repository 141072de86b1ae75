package imagecheck

import (
	"os/exec"
	"testing"
)

// benchImages picks one image per format (and subformat) from the corpus.
var benchImages = []string{
	"raw.img", "gpt.img", "cd.iso", "v3.qcow2", "v2.qcow2", "enc.qcow2", "plain.qed",
	"sparse.vmdk", "stream.vmdk", "dyn.vhd", "fixed.vhd", "dyn.vhdx", "dyn.vdi", "disk.luks",
}

func benchCorpus(b *testing.B) map[string]testImage {
	imgs := map[string]testImage{}
	for _, img := range corpus(b) {
		imgs[img.Name] = img
	}
	return imgs
}

// BenchmarkInspect measures InspectFile per image; B/image is the bytes read.
func BenchmarkInspect(b *testing.B) {
	imgs := benchCorpus(b)
	for _, name := range benchImages {
		img := imgs[name]
		b.Run(name, func(b *testing.B) {
			var read int64
			for b.Loop() {
				info, err := InspectFile(bg, img.Path)
				if err != nil {
					b.Fatal(err)
				}
				read = info.BytesRead
			}
			b.ReportMetric(float64(read), "B/image")
		})
	}
}

// BenchmarkQEMUImgInfo runs `qemu-img info --output=json -f <format>` on
// the same images, one process per iteration, for the ratio in
// BENCHMARKS.md.
func BenchmarkQEMUImgInfo(b *testing.B) {
	imgs := benchCorpus(b)
	for _, name := range benchImages {
		img := imgs[name]
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				if out, err := exec.Command("qemu-img", "info", "--output=json", "-f", qemuFormatName(img.Format), img.Path).CombinedOutput(); err != nil {
					b.Fatalf("%v: %s", err, out)
				}
			}
		})
	}
}
