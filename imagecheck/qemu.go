package imagecheck

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/guestinject/guestinject/internal/qemuimg"
)

// ErrQEMUImgMissing is returned by CrossCheck when qemu-img or prlimit
// cannot be found.
var ErrQEMUImgMissing = errors.New("imagecheck: qemu-img or prlimit not found")

// QEMULimits bounds the qemu-img process CrossCheck runs.
type QEMULimits struct {
	AddressSpace int64 // bytes; RLIMIT_AS
	CPUSeconds   int   // RLIMIT_CPU
}

// DefaultQEMULimits returns limits generous for `qemu-img info` (it needs
// about 10 MiB resident) that yet stop a crafted header from exhausting
// the host.
func DefaultQEMULimits() QEMULimits { return QEMULimits{AddressSpace: 1 << 30, CPUSeconds: 10} }

// qemuInfo is the part of `qemu-img info --output=json` CrossCheck compares.
type qemuInfo struct {
	Format          string `json:"format"`
	VirtualSize     int64  `json:"virtual-size"`
	BackingFilename string `json:"backing-filename"`
	FullBacking     string `json:"full-backing-filename"`
	Encrypted       bool   `json:"encrypted"`
	FormatSpecific  struct {
		Type string `json:"type"`
		Data struct {
			DataFile   string `json:"data-file"`
			CreateType string `json:"create-type"`
			Extents    []struct {
				Filename string `json:"filename"`
			} `json:"extents"`
		} `json:"data"`
	} `json:"format-specific"`
}

// qemuFormatName maps a declared format to the driver qemu-img should use.
func qemuFormatName(f Format) string {
	if f == ISO {
		return "raw"
	}
	return string(f)
}

// neutralPath makes path absolute so qemu-img can never read it as
// "json:{...}" or "protocol:..." syntax.
func neutralPath(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	if !strings.HasPrefix(abs, "/") {
		return "", fmt.Errorf("imagecheck: cannot make %q absolute", path)
	}
	return abs, nil
}

// runQEMUImgInfo runs `qemu-img info --output=json -f declared` on path
// under lim (applied by prlimit before qemu-img starts) and parses the
// result.
func runQEMUImgInfo(ctx context.Context, path string, declared Format, lim QEMULimits) (*qemuInfo, error) {
	abs, err := neutralPath(path)
	if err != nil {
		return nil, err
	}
	cmd, err := qemuimg.Command(ctx, "qemu-img", qemuimg.Limits{AddressSpace: lim.AddressSpace, CPUSeconds: int64(lim.CPUSeconds)}, nil,
		"info", "--output=json", "-f", qemuFormatName(declared), abs)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrQEMUImgMissing, err)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("imagecheck: qemu-img info %s: %w: %s", abs, err, strings.TrimSpace(stderr.String()))
	}
	var qi qemuInfo
	if err := json.Unmarshal(stdout.Bytes(), &qi); err != nil {
		return nil, fmt.Errorf("imagecheck: parsing qemu-img info output: %w", err)
	}
	return &qi, nil
}

// CrossCheck asks qemu-img about the file at path and requires it to agree
// with info (from Check or Inspect): same format, same virtual size, no
// backing file, no data file, no extent other than the file itself. A
// failure to run qemu-img is returned as is; a disagreement is a
// *RejectionError with ReasonQEMUDisagrees.
func CrossCheck(ctx context.Context, path string, declared Format, info *Info, lim QEMULimits) error {
	qi, err := runQEMUImgInfo(ctx, path, declared, lim)
	if err != nil {
		return err
	}
	abs, _ := neutralPath(path)
	disagree := func(format string, args ...any) error {
		return &RejectionError{Reason: ReasonQEMUDisagrees, Format: declared, Path: path, Detail: fmt.Sprintf(format, args...)}
	}
	switch {
	case qi.Format != qemuFormatName(declared):
		return disagree("qemu-img format %q", qi.Format)
	case qi.VirtualSize != info.VirtualSize:
		return disagree("qemu-img virtual size %d, ours %d", qi.VirtualSize, info.VirtualSize)
	case qi.BackingFilename != "" || qi.FullBacking != "":
		return disagree("qemu-img backing file %q", qi.BackingFilename)
	case qi.FormatSpecific.Data.DataFile != "":
		return disagree("qemu-img data file %q", qi.FormatSpecific.Data.DataFile)
	case qi.Encrypted != info.Encrypted:
		return disagree("qemu-img encrypted=%v", qi.Encrypted)
	}
	for _, e := range qi.FormatSpecific.Data.Extents {
		if e.Filename != abs {
			return disagree("qemu-img extent %q", e.Filename)
		}
	}
	return nil
}
