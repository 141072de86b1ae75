package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/guestinject/guestinject/imagecheck"
)

type checkArgs struct {
	imageArgs
	allow      policyArgs
	crossCheck bool
}

func newCheckFlags(a *checkArgs) *flag.FlagSet {
	fs := newFlagSet("check")
	a.imageArgs.registerFor(fs, checkFormats)
	a.allow.register(fs)
	fs.BoolVar(&a.crossCheck, "cross-check", false, "also require qemu-img info, run under resource limits, to agree")
	return fs
}

// checkResult is check's JSON output.
type checkResult struct {
	Image     string           `json:"image"`
	Declared  string           `json:"declared_format"`
	Safe      bool             `json:"safe"`
	Rejection *rejectionResult `json:"rejection,omitempty"`
	Info      *infoResult      `json:"info,omitempty"`
}

type rejectionResult struct {
	Reason string `json:"reason"`
	Format string `json:"format,omitempty"`
	Detail string `json:"detail,omitempty"`
}

// infoResult is imagecheck.Info as check reports it.
type infoResult struct {
	Formats        []imagecheck.Format `json:"formats"`
	Format         imagecheck.Format   `json:"format,omitempty"`
	FileSize       int64               `json:"file_size"`
	VirtualSize    int64               `json:"virtual_size"`
	Version        string              `json:"version,omitempty"`
	ClusterSize    int64               `json:"cluster_size,omitempty"`
	BackingFile    string              `json:"backing_file,omitempty"`
	DataFile       string              `json:"data_file,omitempty"`
	Encrypted      bool                `json:"encrypted"`
	Features       []string            `json:"features,omitempty"`
	Snapshots      int                 `json:"snapshots,omitempty"`
	PartitionTable string              `json:"partition_table,omitempty"`
	BytesRead      int64               `json:"bytes_read"`
}

func infoFrom(in *imagecheck.Info) *infoResult {
	if in == nil {
		return nil
	}
	return &infoResult{
		Formats: in.Formats, Format: in.Format, FileSize: in.FileSize, VirtualSize: in.VirtualSize,
		Version: in.Version, ClusterSize: in.ClusterSize, BackingFile: in.BackingFile, DataFile: in.DataFile,
		Encrypted: in.Encrypted, Features: in.Features, Snapshots: in.Snapshots,
		PartitionTable: in.PartitionTable, BytesRead: in.BytesRead,
	}
}

func runCheck(ctx context.Context, args []string, io stdio) error {
	var a checkArgs
	pos, err := parseArgs(newCheckFlags(&a), args, io.out)
	if err != nil {
		return err
	}
	if err := wantPositional("check", pos, "IMAGE"); err != nil {
		return err
	}
	declared, err := a.declared()
	if err != nil {
		return err
	}
	info, err := imagecheck.CheckFile(ctx, pos[0], declared, checkPolicy(&a.imageArgs, &a.allow, declared))
	if err == nil && a.crossCheck {
		err = imagecheck.CrossCheck(ctx, pos[0], declared, info, imagecheck.DefaultQEMULimits())
		if errors.Is(err, imagecheck.ErrQEMUImgMissing) {
			return &unavailableError{msg: err.Error()}
		}
	}
	var rej *imagecheck.RejectionError
	if err != nil && !errors.As(err, &rej) {
		return err // could not read the image
	}
	res := checkResult{Image: pos[0], Declared: string(declared), Safe: rej == nil, Info: infoFrom(info)}
	if rej != nil {
		res.Rejection = &rejectionResult{Reason: string(rej.Reason), Format: string(rej.Format), Detail: rej.Detail}
	}
	if a.json {
		enc := json.NewEncoder(io.out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			return err
		}
	} else {
		printCheck(io.out, res)
	}
	if rej != nil {
		if !a.json {
			fmt.Fprintf(io.err, "guestinject: %v\n", rej)
		}
		return errRejectedPrinted
	}
	return nil
}

func printCheck(w io.Writer, r checkResult) {
	if r.Safe {
		fmt.Fprintf(w, "%s: safe as %s\n", r.Image, r.Declared)
	} else {
		fmt.Fprintf(w, "%s: REJECTED as %s: %s\n", r.Image, r.Declared, r.Rejection.Reason)
		if r.Rejection.Detail != "" {
			fmt.Fprintf(w, "  %-16s %s\n", "why", r.Rejection.Detail)
		}
	}
	in := r.Info
	if in == nil {
		return
	}
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(w, "  %-16s %s\n", k, v)
		}
	}
	row("content", joinFormats(in.Formats))
	row("version", in.Version)
	row("virtual size", humanSize(in.VirtualSize))
	row("file size", humanSize(in.FileSize))
	if in.ClusterSize > 0 {
		row("cluster size", humanSize(in.ClusterSize))
	}
	row("backing file", in.BackingFile)
	row("data file", in.DataFile)
	if in.Encrypted {
		row("encrypted", "yes")
	}
	row("features", strings.Join(in.Features, ", "))
	if in.Snapshots > 0 {
		row("snapshots", fmt.Sprint(in.Snapshots))
	}
	row("partition table", in.PartitionTable)
	row("bytes read", fmt.Sprint(in.BytesRead))
}

func joinFormats(fs []imagecheck.Format) string {
	s := make([]string, len(fs))
	for i, f := range fs {
		s[i] = string(f)
	}
	return strings.Join(s, ", ")
}

// humanSize prints n bytes in binary units, with the exact count.
func humanSize(n int64) string {
	const units = "KMGTPE"
	if n < 1024 {
		return fmt.Sprintf("%d bytes", n)
	}
	v, i := float64(n)/1024, 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	return fmt.Sprintf("%.4g %ciB (%d bytes)", v, units[i], n)
}
