package wire

import (
	"context"
	"errors"
	"io/fs"
	"testing"
)

// FuzzClientLstatMany feeds the client's LstatMany any answer: it either
// fails, or returns one result per name, each an info that passes the
// checks of an Lstat answer or an *fs.PathError naming that name.
func FuzzClientLstatMany(f *testing.F) {
	f.Add(frameBytes(FrameResponse, 1, []byte(`{"lstats":[{"info":`+goodInfo+`},{"err":{"code":2,"msg":"no"}}]}`)))
	f.Add(frameBytes(FrameResponse, 1, []byte(`{"lstats":[{"info":`+goodInfo+`}]}`)))
	f.Add(frameBytes(FrameResponse, 1, []byte(`{"lstats":[{},{"info":`+goodInfo+`,"err":{"code":2}}]}`)))
	f.Add(frameBytes(FrameResponse, 1, []byte(`{"err":{"code":4,"msg":"m"}}`)))
	names := []string{"/etc/hostname", "/missing"}
	f.Fuzz(func(t *testing.T, script []byte) {
		ctx := context.Background()
		c := scriptedClient(t, script)
		got, err := c.LstatMany(ctx, names)
		if err != nil {
			var pe *fs.PathError
			if !errors.As(err, &pe) {
				t.Fatalf("error is not an *fs.PathError: %v", err)
			}
			return
		}
		if len(got) != len(names) {
			t.Fatalf("%d results for %d names", len(got), len(names))
		}
		for i, r := range got {
			switch {
			case (r.Info == nil) == (r.Err == nil):
				t.Fatalf("result %d has neither or both: %+v", i, r)
			case r.Err != nil:
				var pe *fs.PathError
				if !errors.As(r.Err, &pe) || pe.Path != names[i] {
					t.Fatalf("result %d's error does not name %s: %v", i, names[i], r.Err)
				}
			default:
				if fi := InfoFrom(r.Info); fi.Check(false) != nil {
					t.Fatalf("result %d: a bad info %+v", i, fi)
				}
			}
		}
	})
}
