package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"time"

	"github.com/guestinject/guestinject/imagecheck"
)

// convertFormats are the upload formats convert accepts.
var convertFormats = []imagecheck.Format{
	imagecheck.Raw, imagecheck.QCOW2, imagecheck.QED, imagecheck.VMDK, imagecheck.VPC, imagecheck.VHDX, imagecheck.VDI,
}

type convertArgs struct {
	imageArgs
	to string
}

func newConvertFlags(a *convertArgs) *flag.FlagSet {
	fs := newFlagSet("convert")
	fs.StringVar(&a.format, "format", "", "declare the upload's format `F`: raw, qcow2, qed, vmdk, vhd, vhdx or vdi (required: a format is never guessed)")
	fs.StringVar(&a.to, "to", "", "write OUT as `F`: raw or qcow2 (required)")
	fs.Var(&a.maxSize, "max-size", "refuse uploads whose virtual size exceeds `S` bytes; units K, M, G, T (default 1T)")
	fs.BoolVar(&a.json, "json", false, "print the result as JSON on standard output")
	fs.BoolVar(&a.quiet, "quiet", false, "print no progress on standard error")
	return fs
}

// convertResult is convert's JSON output.
type convertResult struct {
	Source    string           `json:"source"`
	Declared  string           `json:"declared_format"`
	Output    string           `json:"output"`
	Format    string           `json:"format"`
	Converted bool             `json:"converted"`
	Rejection *rejectionResult `json:"rejection,omitempty"`
	// Info is what the check of the output found.
	Info    *infoResult `json:"info,omitempty"`
	Seconds float64     `json:"seconds,omitempty"`
}

func (a *convertArgs) formats() (declared, to imagecheck.Format, err error) {
	if a.format == "" {
		return "", "", usagef("--format is required: declare the upload's format (raw, qcow2, qed, vmdk, vhd, vhdx or vdi); it is never guessed")
	}
	if declared, err = imagecheck.ParseFormat(a.format); err != nil {
		return "", "", usagef("--format: %v", err)
	}
	if a.to == "" {
		return "", "", usagef("--to is required: raw or qcow2")
	}
	to, err = imagecheck.ParseFormat(a.to)
	if err != nil || (to != imagecheck.Raw && to != imagecheck.QCOW2) {
		return "", "", usagef("--to %s: convert writes raw or qcow2", a.to)
	}
	return declared, to, nil
}

func runConvert(ctx context.Context, args []string, io stdio) error {
	var a convertArgs
	pos, err := parseArgs(newConvertFlags(&a), args, io.out)
	if err != nil {
		return err
	}
	if err := wantPositional("convert", pos, "IN", "OUT"); err != nil {
		return err
	}
	declared, to, err := a.formats()
	if err != nil {
		return err
	}
	in, out := pos[0], pos[1]
	p := a.policy()
	p.AllowedFormats = convertFormats

	prog := newProgress(&a.imageArgs, io.err)
	var opts []imagecheck.ConvertOption
	if prog.w != nil {
		opts = append(opts, imagecheck.WithProgress(tenths(prog.w)))
	}
	start := time.Now()
	done := prog.step(fmt.Sprintf("checking %s as %s, converting it to %s as %s", in, declared, out, to))
	info, err := imagecheck.Convert(ctx, in, declared, out, to, p, opts...)
	res := convertResult{Source: in, Declared: string(declared), Output: out, Format: string(to), Converted: err == nil, Info: infoFrom(info)}
	var rej *imagecheck.RejectionError
	switch {
	case err == nil:
		done()
		res.Seconds = time.Since(start).Seconds()
	case errors.As(err, &rej):
		res.Rejection = &rejectionResult{Reason: string(rej.Reason), Format: string(rej.Format), Detail: rej.Detail}
	case errors.Is(err, imagecheck.ErrQEMUImgMissing):
		return &unavailableError{msg: err.Error()}
	case errors.Is(err, fs.ErrExist):
		return fmt.Errorf("%s exists: convert writes a new file and never replaces one", out)
	default:
		return err
	}
	if a.json {
		enc := json.NewEncoder(io.out)
		enc.SetIndent("", "  ")
		if jerr := enc.Encode(res); jerr != nil {
			return jerr
		}
	} else if err == nil {
		fmt.Fprintf(io.out, "%s: %s, virtual size %s, %s on disk; converted from %s (%s) and checked\n",
			out, to, humanSize(info.VirtualSize), humanSize(info.FileSize), in, declared)
	}
	return err
}

// tenths prints qemu-img's progress on w every 10 %.
func tenths(w io.Writer) func(float64) {
	next := 10.0
	return func(p float64) {
		if p < next {
			return
		}
		fmt.Fprintf(w, "guestinject: converting: %3.0f%%\n", p)
		for next <= p {
			next += 10
		}
	}
}
