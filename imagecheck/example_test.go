package imagecheck_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/guestinject/guestinject/imagecheck"
)

// A guest wrote a qcow2 header naming a host file into its raw disk. Declared
// as raw, the image is refused because its content is qcow2.
func ExampleCheck() {
	img := make([]byte, 1<<20)
	copy(img, "QFI\xfb\x00\x00\x00\x03")

	_, err := imagecheck.Check(context.Background(), bytes.NewReader(img), int64(len(img)),
		imagecheck.Raw, imagecheck.DefaultPolicy())
	fmt.Println(errors.Is(err, imagecheck.ReasonFormatMismatch))

	var rej *imagecheck.RejectionError
	if errors.As(err, &rej) {
		fmt.Println(rej.Reason)
	}
	// Output:
	// true
	// format mismatch
}

func ExampleInspect() {
	img := make([]byte, 4096)
	info, err := imagecheck.Inspect(context.Background(), bytes.NewReader(img), int64(len(img)))
	if err != nil {
		panic(err)
	}
	fmt.Println(info.Formats, info.VirtualSize)
	// Output:
	// [raw] 4096
}

// Widening the default policy is explicit: VMDK is refused until allowed.
func ExamplePolicy_WithFormats() {
	p := imagecheck.DefaultPolicy().WithFormats(imagecheck.VMDK)
	fmt.Println(p.AllowedFormats, p.MaxVirtualSize)
	// Output:
	// [raw qcow2 vmdk] 1099511627776
}
