package guest_test

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/guestinject/guestinject/internal/agent/guest"
	"github.com/guestinject/guestinject/internal/blkid"
	"github.com/guestinject/guestinject/internal/parttable"
	"github.com/guestinject/guestinject/internal/testsupport/testimage"
)

var updateWarmup = flag.Bool("update-warmup", false, "rebuild the warm-up disk's extents in warmup/")

// warmupFiles are the warm-up filesystem's files: what a session's setup
// reads first.
var warmupFiles = map[string]string{
	"etc/hostname":   "warmup\n",
	"etc/os-release": "ID=guestinject-warmup\nNAME=\"guestinject warm-up\"\nVERSION_ID=1\n",
	"etc/fstab":      "# the appliance's warm-up filesystem\nLABEL=warmup / ext4 defaults 0 1\n",
	"root/":          "",
}

// TestWarmupDisk checks the embedded warm-up disk with the real tools: a
// GPT disk whose one partition holds a clean ext4 with 4 KiB blocks and a
// journal, as most guest images have, labelled warmup, with the files of
// warmupFiles. With -update-warmup it first rebuilds the extents.
func TestWarmupDisk(t *testing.T) {
	testimage.NeedTools(t, "sfdisk", "mkfs.ext4", "e2fsck", "dumpe2fs", "debugfs")
	if *updateWarmup {
		buildWarmupDisk(t)
		// The test binary embeds the extents it was built with.
		t.Log("warmup/ rebuilt: run the test again to check it")
		return
	}
	dir := t.TempDir()
	img := filepath.Join(dir, "disk.img")
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := guest.WriteWarmupDisk(f); err != nil {
		t.Fatal(err)
	}
	if fi, err := f.Stat(); err != nil || fi.Size() != guest.WarmupDiskSize {
		t.Fatalf("disk: %v, %v; want %d bytes", fi, err, guest.WarmupDiskSize)
	}
	table, err := parttable.Read(f, guest.WarmupDiskSize)
	if err != nil {
		t.Fatal(err)
	}
	if table.Kind != "gpt" || len(table.Partitions) != 1 || table.Partitions[0].Name != "root" {
		t.Fatalf("partition table: %+v; want GPT with one partition named root", table)
	}
	p := table.Partitions[0]
	part := filepath.Join(dir, "part.img")
	out, err := os.Create(part)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, io.NewSectionReader(f, p.Offset, p.Size)); err != nil {
		t.Fatal(err)
	}
	out.Close()
	info, err := blkid.Probe(io.NewSectionReader(f, p.Offset, p.Size))
	if err != nil || info.Type != blkid.Ext4 || info.Label != "warmup" {
		t.Fatalf("partition: %+v, %v; want ext4 labelled warmup", info, err)
	}
	testimage.Run(t, "e2fsck", "-fn", part)
	header := testimage.Run(t, "dumpe2fs", "-h", part)
	for _, want := range []string{"has_journal", "extent", "metadata_csum"} {
		if !strings.Contains(header, want) {
			t.Errorf("dumpe2fs: no %s", want)
		}
	}
	if !strings.Contains(header, "Block size:               4096") {
		t.Errorf("dumpe2fs: block size is not 4096")
	}
	for name, want := range warmupFiles {
		if strings.HasSuffix(name, "/") {
			continue
		}
		if got := testimage.Run(t, "debugfs", "-R", "cat /"+name, part); got != want {
			t.Errorf("/%s = %q; want %q", name, got, want)
		}
	}
	entries, _ := guest.ParseFstab([]byte(warmupFiles["etc/fstab"]))
	if len(entries) != 1 || entries[0].Target != "/" {
		t.Errorf("fstab: %+v; want the root", entries)
	}
}

// buildWarmupDisk rebuilds warmup/: the disk made with sfdisk and
// mkfs.ext4, kept as its runs of non-zero 4 KiB blocks, each a file named
// by its byte offset.
func buildWarmupDisk(t *testing.T) {
	dir := t.TempDir()
	tree := filepath.Join(dir, "tree")
	testimage.WriteTree(t, tree, warmupFiles)
	img := filepath.Join(dir, "disk.img")
	testimage.Sparse(t, img, guest.WarmupDiskSize)
	testimage.RunIn(t, "label: gpt\nstart=2048, type=linux, name=root\n", "sfdisk", "-q", img)
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	table, err := parttable.Read(f, guest.WarmupDiskSize)
	if err != nil || len(table.Partitions) != 1 {
		t.Fatalf("partition table: %+v, %v", table, err)
	}
	p := table.Partitions[0]
	testimage.Run(t, "mkfs.ext4", "-q", "-F", "-b", "4096", "-L", "warmup", "-d", tree,
		"-E", fmt.Sprintf("offset=%d,root_owner=0:0", p.Offset), img, strconv.FormatInt(p.Size>>10, 10)+"k")
	disk, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll("warmup"); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir("warmup", 0o755); err != nil {
		t.Fatal(err)
	}
	const block = 4096
	zero := make([]byte, block)
	for start := 0; start < len(disk); {
		if bytes.Equal(disk[start:start+block], zero) {
			start += block
			continue
		}
		end := start + block
		for end < len(disk) && !bytes.Equal(disk[end:end+block], zero) {
			end += block
		}
		if err := os.WriteFile(filepath.Join("warmup", strconv.Itoa(start)), disk[start:end], 0o644); err != nil {
			t.Fatal(err)
		}
		start = end
	}
}
