package wire

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"io/fs"
	"strconv"
	"strings"
	"testing"

	"github.com/guestinject/guestinject/internal/guestabi"
	"github.com/guestinject/guestinject/vfs"
)

func frameBytes(t FrameType, id uint32, payload []byte) []byte {
	var b bytes.Buffer
	if err := NewWriter(&b).Write(t, id, payload); err != nil {
		panic(err)
	}
	return b.Bytes()
}

func rawFrame(n uint32, t FrameType, id uint32, payload []byte) []byte {
	hdr := make([]byte, headerSize)
	binary.BigEndian.PutUint32(hdr, n)
	hdr[4] = byte(t)
	binary.BigEndian.PutUint32(hdr[5:], id)
	return append(hdr, payload...)
}

func TestFrameRoundTrip(t *testing.T) {
	var b bytes.Buffer
	w := NewWriter(&b)
	for i, p := range [][]byte{nil, []byte("x"), bytes.Repeat([]byte("y"), ChunkSize)} {
		if err := w.Write(FrameData, uint32(i), p); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Write(FrameData, 9, make([]byte, ChunkSize+1)); err == nil {
		t.Error("writer sent a data frame over ChunkSize")
	}
	r := NewReader(&b)
	for i, want := range []int{0, 1, ChunkSize} {
		f, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		if f.Type != FrameData || f.ID != uint32(i) || len(f.Payload) != want {
			t.Errorf("frame %d: %s id %d len %d", i, f.Type, f.ID, len(f.Payload))
		}
	}
	if _, err := r.Next(); err != io.EOF {
		t.Errorf("after the last frame: %v, want io.EOF", err)
	}
}

func TestReaderRefusesHostileFrames(t *testing.T) {
	for name, input := range map[string][]byte{
		"huge length":          rawFrame(1<<31, FrameResponse, 1, nil),
		"over max payload":     rawFrame(MaxPayload+1, FrameResponse, 1, nil),
		"data over chunk size": rawFrame(ChunkSize+1, FrameData, 1, nil),
		"unknown type":         rawFrame(0, 99, 1, nil),
		"type zero":            rawFrame(0, 0, 1, nil),
		"cancel with payload":  rawFrame(1, FrameCancel, 1, []byte("x")),
		"truncated header":     {0, 0, 0},
		"truncated payload":    rawFrame(10, FrameResponse, 1, []byte("abc")),
	} {
		_, err := NewReader(bytes.NewReader(input)).Next()
		if !errors.Is(err, ErrProtocol) {
			t.Errorf("%s: got %v, want ErrProtocol", name, err)
		}
	}
}

func TestDecodeStrict(t *testing.T) {
	var req Request
	for _, p := range []string{`{"op":"stat","evil":1}`, `{"op":"stat"} {}`, `[1]`, `{"op":`, `{"mode":-1}`} {
		if err := Decode([]byte(p), &req); !errors.Is(err, ErrProtocol) {
			t.Errorf("Decode(%s) = %v, want ErrProtocol", p, err)
		}
	}
	if err := Decode([]byte(`{"op":"stat","name":"/etc"}`), &req); err != nil || req.Op != OpStat || req.Name != "/etc" {
		t.Errorf("Decode of a good request: %v %+v", err, req)
	}
}

func TestErrorTransit(t *testing.T) {
	for _, sentinel := range []error{vfs.ErrIsSymlink, vfs.ErrNotRegular, fs.ErrNotExist, context.Canceled, vfs.ErrTooLarge} {
		sent := ErrorFrom(&fs.PathError{Op: "open", Path: "/guest/x", Err: sentinel})
		got := sent.PathError("open", "/etc/x")
		var pe *fs.PathError
		if !errors.As(got, &pe) || pe.Path != "/etc/x" || pe.Op != "open" {
			t.Errorf("%v: not a PathError for the caller's name: %v", sentinel, got)
		}
		if !errors.Is(got, sentinel) {
			t.Errorf("%v: lost its identity: %v", sentinel, got)
		}
	}
	other := ErrorFrom(errors.New(strings.Repeat("é", 2*guestabi.MaxText))).PathError("stat", "/x")
	if !errors.Is(other, vfs.ErrIO) || len(other.Error()) > 2*guestabi.MaxText {
		t.Errorf("unknown error from agent: %v", other)
	}
	forged := (&Error{Code: 9999, Msg: "\xff\xfe"}).PathError("stat", "/x")
	if !errors.Is(forged, vfs.ErrIO) || strings.Contains(forged.Error(), "\xff") {
		t.Errorf("unknown code from agent: %q", forged.Error())
	}
}

func TestFileInfoCheck(t *testing.T) {
	good := FileInfo{Name: "passwd", Mode: 0o644, Size: 3}
	if err := good.Check(false); err != nil {
		t.Errorf("good info refused: %v", err)
	}
	for name, fi := range map[string]FileInfo{
		"slash in name":  {Name: "a/b"},
		"dot dot":        {Name: ".."},
		"empty":          {Name: ""},
		"root not root":  {Name: "/"},
		"NUL":            {Name: "a\x00"},
		"negative size":  {Name: "a", Size: -1},
		"two types":      {Name: "a", Mode: uint32(fs.ModeDir | fs.ModeSymlink)},
		"unknown bits":   {Name: "a", Mode: uint32(fs.ModeTemporary)},
		"too long name":  {Name: strings.Repeat("a", 256)},
		"char w/o dev":   {Name: "a", Mode: uint32(fs.ModeCharDevice)},
		"irregular bits": {Name: "a", Mode: uint32(fs.ModeIrregular)},
	} {
		if err := fi.Check(false); !errors.Is(err, ErrProtocol) {
			t.Errorf("%s: Check = %v, want ErrProtocol", name, err)
		}
	}
}

// scriptedConn is an agent that answers hello and then plays back bytes.
type scriptedConn struct {
	r io.Reader
}

func (c *scriptedConn) Read(p []byte) (int, error)  { return c.r.Read(p) }
func (c *scriptedConn) Write(p []byte) (int, error) { return len(p), nil }
func (c *scriptedConn) Close() error                { return nil }

// scriptedClient is a client of a scriptedConn that plays script back
// after the hello; it is closed when t ends.
func scriptedClient(t *testing.T, script []byte) *Client {
	t.Helper()
	c, err := NewClient(context.Background(), &scriptedConn{r: io.MultiReader(bytes.NewReader(helloBytes()), bytes.NewReader(script))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func helloBytes() []byte {
	var b bytes.Buffer
	if err := NewWriter(&b).WriteJSON(FrameHello, 0, Hello{Version: Version}); err != nil {
		panic(err)
	}
	return b.Bytes()
}

func TestClientRefusesLies(t *testing.T) {
	ctx := context.Background()
	resp := func(id uint32, body string) []byte { return frameBytes(FrameResponse, id, []byte(body)) }
	for name, tc := range map[string]struct {
		script []byte
		call   func(c *Client) error
	}{
		"info naming another dir": {resp(1, `{"info":{"name":"../x","size":1,"mode":420,"mtime":0,"uid":0,"gid":0}}`),
			func(c *Client) error { _, err := c.Stat(ctx, "/etc/x"); return err }},
		"answer for another request": {resp(7, `{}`),
			func(c *Client) error { return c.Chmod(ctx, "/x", 0o644) }},
		"unsorted readdir": {resp(1, `{"entries":[{"name":"b","size":0,"mode":420,"mtime":0,"uid":0,"gid":0},{"name":"a","size":0,"mode":420,"mtime":0,"uid":0,"gid":0}]}`),
			func(c *Client) error { _, err := c.ReadDir(ctx, "/"); return err }},
		"open of a fifo": {resp(1, `{"handle":1,"info":{"name":"f","size":0,"mode":`+strconv.FormatUint(uint64(fs.ModeNamedPipe|0o644), 10)+`,"mtime":0,"uid":0,"gid":0}}`),
			func(c *Client) error { _, err := c.Open(ctx, "/f"); return err }},
		"data without asking": {append(frameBytes(FrameData, 1, []byte("x")), resp(1, `{}`)...),
			func(c *Client) error { return c.Remove(ctx, "/x") }},
		"hangs up": {nil,
			func(c *Client) error { return c.Remove(ctx, "/x") }},
		"garbage": {[]byte("\x00\x00\x00\x05\x03\x00\x00\x00\x01{]}}}"),
			func(c *Client) error { return c.Remove(ctx, "/x") }},
	} {
		t.Run(name, func(t *testing.T) {
			c, err := NewClient(ctx, &scriptedConn{r: io.MultiReader(bytes.NewReader(helloBytes()), bytes.NewReader(tc.script))})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			err = tc.call(c)
			if !errors.Is(err, vfs.ErrIO) {
				t.Fatalf("got %v, want vfs.ErrIO", err)
			}
			// The connection is given up: later calls fail at once.
			if err := c.Chmod(ctx, "/y", 0o600); !errors.Is(err, vfs.ErrIO) {
				t.Errorf("call after a protocol violation: %v", err)
			}
		})
	}
}

func FuzzReader(f *testing.F) {
	f.Add(helloBytes())
	f.Add(frameBytes(FrameResponse, 1, []byte(`{"info":{"name":"a","size":1,"mode":420,"mtime":0,"uid":0,"gid":0}}`)))
	f.Add(rawFrame(MaxPayload+1, FrameData, 1, nil))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReader(bytes.NewReader(data))
		for range 100 {
			fr, err := r.Next()
			if err != nil {
				return
			}
			if len(fr.Payload) > MaxPayload || (fr.Type == FrameData && len(fr.Payload) > ChunkSize) {
				t.Fatalf("oversized %s frame accepted", fr.Type)
			}
		}
	})
}

// FuzzClient feeds the host client arbitrary agent output: it must never
// panic, and anything it returns must satisfy the contract's checks.
func FuzzClient(f *testing.F) {
	f.Add(frameBytes(FrameResponse, 1, []byte(`{"info":{"name":"a","size":1,"mode":420,"mtime":0,"uid":0,"gid":0}}`)))
	f.Add(frameBytes(FrameResponse, 1, []byte(`{"entries":[{"name":"a","size":0,"mode":2147484141,"mtime":0,"uid":0,"gid":0}]}`)))
	f.Add(append(frameBytes(FrameResponse, 1, []byte(`{"handle":1,"info":{"name":"a","size":3,"mode":420,"mtime":0,"uid":0,"gid":0}}`)),
		append(frameBytes(FrameData, 2, []byte("abc")), frameBytes(FrameResponse, 2, []byte(`{"eof":true}`))...)...))
	// Stat, ReadDir, then an Open answered with the whole file.
	f.Add(append(append(frameBytes(FrameResponse, 1, []byte(`{"info":{"name":"a","size":1,"mode":420,"mtime":0,"uid":0,"gid":0}}`)),
		frameBytes(FrameResponse, 2, []byte(`{"entries":[]}`))...),
		append(frameBytes(FrameData, 3, []byte("abc")), frameBytes(FrameResponse, 3, []byte(`{"eof":true,"info":{"name":"a","size":3,"mode":420,"mtime":0,"uid":0,"gid":0}}`))...)...))
	f.Add(frameBytes(FrameResponse, 1, []byte(`{"err":{"code":4,"op":"x","path":"/y","msg":"m"}}`)))
	f.Add(frameBytes(FrameResponse, 1, []byte(`{"inspection":{"root":0,"os":{"id":"debian","pretty_name":"Debian 12"},`+
		`"filesystems":[{"device":"/dev/vda2","disk":0,"partition":2,"type":"ext4","mount_point":"/"},{"device":"/dev/vda3","disk":0,"partition":3,"mount_point":"/home"}],`+
		`"fstab":[{"line":2,"source":"UUID=x","mount_point":"/home","type":"ext4","device":"/dev/vda3","mounted":true}]}}`)))
	f.Add(frameBytes(FrameResponse, 1, []byte(`{"inspection":{"problem":"ambiguous-root","message":"two","root":-1,"os":{},`+
		`"filesystems":[{"device":"/dev/vda","disk":0,"candidate":true,"os_name":"A"},{"device":"/dev/vdb","disk":1,"candidate":true}]}}`)))
	for _, seed := range hostileSeeds() {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, script []byte) {
		ctx := context.Background()
		c := scriptedClient(t, script)
		if info, err := c.Stat(ctx, "/a"); err == nil {
			if fi := InfoFrom(info); fi.Check(false) != nil {
				t.Fatalf("stat returned a bad info %+v", fi)
			}
		} else {
			var pe *fs.PathError
			if !errors.As(err, &pe) || pe.Path != "/a" {
				t.Fatalf("stat error is not a PathError for /a: %v", err)
			}
		}
		if entries, err := c.ReadDir(ctx, "/"); err == nil {
			for _, d := range entries {
				if d.Name() == "" || strings.ContainsAny(d.Name(), "/\x00") || d.Name() == ".." {
					t.Fatalf("readdir returned entry %q", d.Name())
				}
			}
		}
		if file, err := c.Open(ctx, "/a"); err == nil {
			info, err := file.Stat()
			if err != nil || !info.Mode().IsRegular() || info.Size() < 0 {
				t.Fatalf("open returned a file with info %v, %v", info, err)
			}
			if _, err := io.ReadAll(io.LimitReader(file, 1<<20)); err != nil {
				var pe *fs.PathError
				if !errors.As(err, &pe) || pe.Path != "/a" {
					t.Fatalf("read error is not a PathError for /a: %v", err)
				}
			}
			file.Close()
		}
		if in, err := c.Inspect(ctx); err == nil {
			if in.Check() != nil || (in.Problem == "" && (in.Root < 0 || in.Root >= len(in.Filesystems))) {
				t.Fatalf("inspect returned a bad inspection %+v", in)
			}
		}
	})
}

func TestInspectionCheck(t *testing.T) {
	good := func() Inspection {
		return Inspection{Root: 0, OS: OSInfo{ID: "debian", PrettyName: "Debian GNU/Linux 12"},
			Filesystems: []Filesystem{{Device: "/dev/vda2", Partition: 2, Type: "ext4", MountPoint: "/"}, {Device: "/dev/vda3", Partition: 3, MountPoint: "/home"}},
			Fstab:       []FstabLine{{Line: 1, Source: "UUID=x", MountPoint: "/home", Device: "/dev/vda3", Mounted: true}},
			Issues:      []Issue{{Code: guestabi.IssueNoLVMTools, Message: "LVM physical volumes /dev/vdb1: no lvm"}}}
	}
	in := good()
	if err := in.Check(); err != nil {
		t.Fatalf("good inspection refused: %v", err)
	}
	for name, spoil := range map[string]func(*Inspection){
		"root out of range":     func(in *Inspection) { in.Root = 2 },
		"no root, no problem":   func(in *Inspection) { in.Root = -1 },
		"problem and root":      func(in *Inspection) { in.Problem = guestabi.ProblemNoRoot },
		"unknown problem":       func(in *Inspection) { in.Problem, in.Root = "weird", -1 },
		"device outside /dev":   func(in *Inspection) { in.Filesystems[1].Device = "/etc/passwd" },
		"negative disk":         func(in *Inspection) { in.Filesystems[1].Disk = -1 },
		"relative mount point":  func(in *Inspection) { in.Filesystems[1].MountPoint = "home" },
		"control character":     func(in *Inspection) { in.OS.PrettyName = "Debian\x1b[2J" },
		"invalid UTF-8":         func(in *Inspection) { in.Filesystems[0].Label = "\xff" },
		"long label":            func(in *Inspection) { in.Filesystems[0].Label = strings.Repeat("a", 1000) },
		"too many filesystems":  func(in *Inspection) { in.Filesystems = make([]Filesystem, MaxFilesystems+1) },
		"fstab device outside":  func(in *Inspection) { in.Fstab[0].Device = "vda3" },
		"negative fstab line":   func(in *Inspection) { in.Fstab[0].Line = -1 },
		"newline in fstab note": func(in *Inspection) { in.Fstab[0].Note = "a\nb" },
		"unknown issue":         func(in *Inspection) { in.Issues[0].Code = "lvm-ok" },
		"newline in issue":      func(in *Inspection) { in.Issues[0].Message = "a\nb" },
		"long issue":            func(in *Inspection) { in.Issues[0].Message = strings.Repeat("a", guestabi.MaxText+10) },
		"too many issues":       func(in *Inspection) { in.Issues = make([]Issue, MaxIssues+1) },
	} {
		in := good()
		spoil(&in)
		if err := in.Check(); !errors.Is(err, ErrProtocol) {
			t.Errorf("%s: Check = %v, want ErrProtocol", name, err)
		}
	}
}
