package wire

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/guestinject/guestinject/vfs"
)

// TestClientRefusesCommandLies: a command result the agent could not
// have produced breaks the connection.
func TestClientRefusesCommandLies(t *testing.T) {
	ctx := context.Background()
	big := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte("x"), 101))
	for name, body := range map[string]string{
		"no result":                  `{}`,
		"more output than asked for": `{"command":{"exit":0,"output":"` + big + `","duration_ms":1}}`,
		"exit status out of range":   `{"command":{"exit":256,"duration_ms":1}}`,
		"negative exit status":       `{"command":{"exit":-2,"duration_ms":1}}`,
		"signal out of range":        `{"command":{"exit":-1,"signal":65,"duration_ms":1}}`,
		"killed with an exit status": `{"command":{"exit":0,"timed_out":true,"duration_ms":1}}`,
		"negative dropped count":     `{"command":{"exit":0,"dropped":-1,"duration_ms":1}}`,
		"negative duration":          `{"command":{"exit":0,"duration_ms":-5}}`,
		"overflowing duration":       `{"command":{"exit":0,"duration_ms":9223372036854775807}}`,
		"unknown field":              `{"command":{"exit":0,"duration_ms":1,"pid":7}}`,
	} {
		t.Run(name, func(t *testing.T) {
			script := frameBytes(FrameResponse, 1, []byte(body))
			c, err := NewClient(ctx, &scriptedConn{r: io.MultiReader(bytes.NewReader(helloBytes()), bytes.NewReader(script))})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			res, err := c.RunCommand(ctx, vfs.Command{Shell: "true", MaxOutput: 100})
			if !errors.Is(err, vfs.ErrIO) {
				t.Fatalf("got %+v, %v; want vfs.ErrIO", res, err)
			}
			if err := c.Chmod(ctx, "/y", 0o600); !errors.Is(err, vfs.ErrIO) {
				t.Errorf("call after a protocol violation: %v", err)
			}
		})
	}
}

func TestClientCommandResult(t *testing.T) {
	ctx := context.Background()
	body := `{"command":{"exit":-1,"signal":9,"output":"` + base64.StdEncoding.EncodeToString([]byte("out")) + `","dropped":12,"duration_ms":1500}}`
	c, err := NewClient(ctx, &scriptedConn{r: io.MultiReader(bytes.NewReader(helloBytes()), bytes.NewReader(frameBytes(FrameResponse, 1, []byte(body))))})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	res, err := c.RunCommand(ctx, vfs.Command{Shell: "true"})
	if err != nil {
		t.Fatal(err)
	}
	want := vfs.CommandResult{ExitStatus: -1, Signal: 9, Output: []byte("out"), Dropped: 12, Duration: 1500 * time.Millisecond}
	if res.ExitStatus != want.ExitStatus || res.Signal != want.Signal || string(res.Output) != "out" || res.Dropped != 12 || res.Duration != want.Duration || res.Success() {
		t.Errorf("got %+v, want %+v", res, want)
	}
}

// TestCommandLimits: the host never sends a command without bounds, and
// the agent refuses one that comes without them.
func TestCommandLimits(t *testing.T) {
	for _, c := range []vfs.Command{
		{}, {Shell: "x", Script: []byte("y")}, {Shell: "x", Timeout: -1}, {Shell: "x", Timeout: 2 * vfs.MaxCommandTimeout},
		{Shell: "x", MaxOutput: vfs.MaxCommandOutput + 1}, {Shell: "x", MaxProcs: -1},
		{Script: bytes.Repeat([]byte("#"), vfs.MaxScriptSize+1)}, {Shell: strings.Repeat("#", vfs.MaxScriptSize+1)},
	} {
		if _, err := c.WithDefaults(); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	c, err := vfs.Command{Shell: "true"}.WithDefaults()
	if err != nil || c.Timeout != vfs.DefaultCommandTimeout || c.MaxOutput != vfs.DefaultCommandOutput || c.MaxProcs != vfs.DefaultCommandProcs {
		t.Errorf("defaults: %+v, %v", c, err)
	}
	if _, err := (&Command{Shell: "true"}).VFS(); !errors.Is(err, ErrProtocol) {
		t.Errorf("a command without limits: %v", err)
	}
	if got, err := CommandFrom(c).VFS(); err != nil || got.Shell != "true" || got.Timeout != c.Timeout {
		t.Errorf("round trip: %+v, %v", got, err)
	}
}

// FuzzClientCommand plays any bytes back as the agent's answer to a
// command: the client returns a result within the bounds asked for, or
// an error, and never panics.
func FuzzClientCommand(f *testing.F) {
	f.Add(frameBytes(FrameResponse, 1, []byte(`{"command":{"exit":0,"output":"aGk=","dropped":3,"duration_ms":5}}`)))
	f.Add(frameBytes(FrameResponse, 1, []byte(`{"command":{"exit":-1,"timed_out":true,"duration_ms":5}}`)))
	f.Add(frameBytes(FrameResponse, 1, []byte(`{"err":{"code":22,"msg":"no /bin/sh"}}`)))
	f.Fuzz(func(t *testing.T, script []byte) {
		ctx := context.Background()
		c := scriptedClient(t, script)
		res, err := c.RunCommand(ctx, vfs.Command{Shell: "true", MaxOutput: 16})
		if err != nil {
			return
		}
		if len(res.Output) > 16 || res.Dropped < 0 || res.ExitStatus < -1 || res.ExitStatus > 255 || res.Duration < 0 {
			t.Fatalf("result out of bounds: %+v", res)
		}
	})
}
