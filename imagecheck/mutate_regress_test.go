package imagecheck

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/guestinject/guestinject/internal/testsupport/testimage"
)

// mutationRegression is a header mutation on which the checker and QEMU
// once disagreed, or which reading QEMU's drivers showed they would.
type mutationRegression struct {
	mutation
	// qemu is a fragment of qemu-img info's error; "" means qemu-img opens
	// the image (the checker is deliberately stricter, see why).
	qemu string
	// want is the checker's verdict now; "" means accepted.
	want Reason
	why  string
}

var mutationRegressions = []mutationRegression{
	// Found by the mutator (GUESTINJECT_MUTATE=long, seeds 14 and 7).
	{mutation{"disk.luks", "slot[0].key_offset", 0x4, ""}, "overlapping with the LUKS header", ReasonCorrupt,
		"key material starts at sector 8 (QCRYPTO_BLOCK_LUKS_KEY_SLOT_OFFSET), not after the 592-byte header"},
	{mutation{"disk.luks", "slot[0].key_offset", 0x7, ""}, "overlapping with the LUKS header", ReasonCorrupt, ""},
	{mutation{"dyn.vhd", "dyn.table_offset", 0x0, ""}, "free_data_block_offset points after the end of file", ReasonTruncated,
		"vpc_open refuses blocks of the BAT that end past the end of the file"},
	{mutation{"dyn.vhd", "dyn.table_offset", 0x1, ""}, "free_data_block_offset points after the end of file", ReasonTruncated, ""},
	{mutation{"dyn.vhd", "dyn.table_offset", 0x300, ""}, "free_data_block_offset points after the end of file", ReasonTruncated, ""},
	{mutation{"dyn.vhd", "dyn.table_offset", 0x5ff, ""}, "free_data_block_offset points after the end of file", ReasonTruncated, ""},
	{mutation{"bitmap.qcow2", "size", 0x1, ""}, "Could not read bitmap", ReasonCorrupt,
		"a bitmap table must have exactly the clusters the virtual size needs (load_bitmap_data)"},
	{mutation{"disk.luks", "mk_digest_iter", 0x7fffffff, ""}, "", ReasonCorrupt,
		"qemu-img opens it; unlocking for a read runs 2^31 PBKDF2 rounds and qemu-io is killed by the CPU limit"},
	{mutation{"enc.qcow2", "nb_snapshots", 0x200, ""}, "", ReasonCorrupt,
		"512 snapshots read from the header cluster (snapshot table offset 0); qemu-img opens it, but aborted on it under DefaultQEMULimits before the QEMU tools ran with one malloc arena"},
	{mutation{"v2.qcow2", "crypt_method", 0x1, ""}, "", ReasonUnsupportedVersion,
		"AES-CBC: qemu-img opens it, QEMU's system emulators refuse it"},
	{mutation{"conv.vhdx", "bat[0]", 0x100000c, ""}, "", ReasonCorrupt,
		"payload block state 4: qemu-img opens it, every read of the block fails"},
	{mutation{"conv.vhdx", "bat[0]", 0x800007, ""}, "", ReasonCorrupt,
		"payload block partially present without a parent: reads fail"},
	{mutation{"conv.vhdx", "bat[0]", 0xffffffffffffffff, ""}, "", ReasonCorrupt, ""},
	{mutation{"convstream.vmdk", "flags", 0x10003, ""}, "", ReasonCorrupt,
		"compressed grains without markers: qemu-img opens it, reads fail"},
	{mutation{"convstream.vmdk", "granularity", 0x7f, ""}, "", ReasonCorrupt,
		"a grain size that is not a power of two: qemu-img opens it, reads of compressed grains fail"},

	// From reading the drivers (qcow2_do_open, bdrv_qed_do_open, vpc_open,
	// qcrypto_block_luks_parse_header); the first version of the checker
	// accepted each of them.
	{mutation{"v3.qcow2", "incompatible_features", 0x8, ""}, "Compression type incompatible feature bit must not be set", ReasonCorrupt,
		"the compression-type bit with zlib compression"},
	{mutation{"zstd.qcow2", "incompatible_features", 0x0, ""}, "Compression type incompatible feature bit must be set", ReasonCorrupt,
		"zstd compression without the compression-type bit"},
	{mutation{"v3.qcow2", "compression_type", 0x2, ""}, "unknown compression type", ReasonUnknownFeature, ""},
	{mutation{"v3.qcow2", "snapshots_offset", 0x1, ""}, "Snapshot table offset invalid", ReasonCorrupt,
		"the snapshot table offset is validated even with no snapshots"},
	{mutation{"snap.qcow2", "snapshot[0].extra_data_size", 0x401, ""}, "Too much extra metadata", ReasonCorrupt, ""},
	{mutation{"plain.qed", "table_size", 0x1, ""}, "table offset is invalid", ReasonCorrupt,
		"qed_check_table_offset's overflow test refuses one-cluster tables"},
	{mutation{"plain.qed", "l1_table_offset", 0x10000000, ""}, "table offset is invalid", ReasonCorrupt,
		"the L1 table must lie inside the file"},
	{mutation{"dyn.vhd", "dyn.max_table_entries", 0x20000000, ""}, "Max Table Entries too large", ReasonCorrupt,
		"more than INT_MAX/4 BAT entries: the checker allowed exactly 2^29"},
	{mutation{"disk.luks", "cipher_name", 0, "des"}, "not supported", ReasonUnsupportedVersion, ""},
	{mutation{"disk.luks", "cipher_mode", 0, "cbc-essiv:sha1"}, "with key size 64 bytes not supported", ReasonUnsupportedVersion,
		"outside XTS mode the 64-byte key is one AES key, which does not exist"},
	{mutation{"disk.luks", "hash_spec", 0, "whirlpool"}, "not supported", ReasonUnsupportedVersion, ""},
	{mutation{"disk.luks", "slot[7].stripes", 0x1, ""}, "stripes 1 != 4000", ReasonCorrupt,
		"unused key slots are checked too"},
	{mutation{"footer.vmdk", "footer.gd_offset", 0xffffffffffffffff, ""}, "Could not read l1 table", ReasonCorrupt,
		"a footer that defers the grain directory to itself"},
}

// TestMutationRegressions replays every recorded disagreement: the checker
// must give the recorded verdict and, with qemu-img installed, QEMU must
// still behave as recorded, so the table stays true.
func TestMutationRegressions(t *testing.T) {
	testimage.NeedTools(t, "qemu-img", "prlimit")
	bases := mutantBases(t)
	baseOf := map[string]mutBase{}
	for _, b := range mutBases {
		baseOf[b.image] = b
	}
	dir := t.TempDir()
	for i, r := range mutationRegressions {
		t.Run(r.String(), func(t *testing.T) {
			b, ok := baseOf[r.base]
			if !ok {
				t.Fatalf("no base image %s", r.base)
			}
			img := r.apply(bases[r.base], b.fields(bases[r.base]))
			if img == nil {
				t.Fatalf("%s has no field %s", r.base, r.field)
			}
			p := Policy{AllowedFormats: []Format{b.format}, AllowEncryption: true}
			_, err := Check(bg, bytes.NewReader(img), int64(len(img)), b.format, p)
			if r.want == "" {
				if err != nil {
					t.Errorf("checker refuses: %v", err)
				}
			} else if !errors.Is(err, r.want) {
				t.Errorf("checker: want %q, got %v", r.want, err)
			}
			path := filepath.Join(dir, "m"+string(rune('a'+i%26))+"."+string(b.format))
			if err := os.WriteFile(path, img, 0o600); err != nil {
				t.Fatal(err)
			}
			_, qerr := runQEMUImgInfo(bg, path, b.format, DefaultQEMULimits())
			switch {
			case r.qemu == "" && qerr != nil:
				t.Errorf("recorded as opened by qemu-img, which now says: %v", qerr)
			case r.qemu != "" && qerr == nil:
				t.Errorf("recorded as refused by qemu-img (%q), which now opens it", r.qemu)
			case r.qemu != "" && !strings.Contains(qerr.Error(), r.qemu):
				t.Errorf("qemu-img refuses with %v, recorded %q", qerr, r.qemu)
			}
		})
	}
}
