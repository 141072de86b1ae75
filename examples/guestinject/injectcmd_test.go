package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/guestinject/guestinject/inject"
)

// TestPrintChanges checks both forms of inject's output: the text keeps the
// item as "[passwords[0] (root)]", the JSON carries it as an object.
func TestPrintChanges(t *testing.T) {
	changes := []inject.Change{
		{Item: inject.Item{Field: inject.FieldPasswords, Index: 0, User: "root"}, Path: "/etc/shadow", Action: inject.ActionReplace, Mode: 0o640, GID: 42, Size: 10, Detail: "password fields updated"},
		{Item: inject.Item{Field: inject.FieldHostname, Index: -1}, Path: "/etc/hostname", Action: inject.ActionKeep, Mode: 0o644, Detail: "already as wanted"},
	}
	var text bytes.Buffer
	if err := printChanges(&text, changes, false, false, ""); err != nil {
		t.Fatal(err)
	}
	want := "replace /etc/shadow                              0640 0:42  (password fields updated)  [passwords[0] (root)]\n" +
		"keep    /etc/hostname                            0644 0:0  (already as wanted)  [hostname]\n"
	if text.String() != want {
		t.Errorf("text output:\n%s\nwant:\n%s", text.String(), want)
	}

	var out bytes.Buffer
	if err := printChanges(&out, changes, true, false, "tcg"); err != nil {
		t.Fatal(err)
	}
	var got struct {
		DryRun      bool   `json:"dry_run"`
		Accelerator string `json:"accelerator"`
		Changes     []struct {
			Item inject.Item `json:"item"`
			Path string      `json:"path"`
		} `json:"changes"`
	}
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if got.DryRun || got.Accelerator != "tcg" || len(got.Changes) != 2 ||
		got.Changes[0].Item != changes[0].Item || got.Changes[1].Item != changes[1].Item || got.Changes[1].Path != "/etc/hostname" {
		t.Errorf("JSON output read back as %+v:\n%s", got, out.String())
	}
	var raw struct {
		Changes []map[string]any `json:"changes"`
	}
	if err := json.Unmarshal(out.Bytes(), &raw); err != nil {
		t.Fatal(err)
	}
	if item, ok := raw.Changes[0]["item"].(map[string]any); !ok || item["field"] != "passwords" || item["index"] != 0.0 || item["user"] != "root" {
		t.Errorf("the first item in the JSON output is %#v, want an object", raw.Changes[0]["item"])
	}
}

// TestPrintFailure checks what inject says after a failed Apply: the JSON
// names the failed spec item first in not_made, the text says it on
// standard error.
func TestPrintFailure(t *testing.T) {
	files := func(i int) inject.Item { return inject.Item{Field: inject.FieldFiles, Index: i} }
	r := &inject.Report{
		Changes: []inject.Change{{Item: files(0), Path: "/etc/first", Action: inject.ActionCreate}},
		NotMade: []inject.Change{{Item: files(1), Path: "/etc/second", Action: inject.ActionCreate}, {Item: files(2), Path: "/etc/third", Action: inject.ActionCreate}},
	}
	boom := errors.New("source failed")
	var out, errOut bytes.Buffer
	printFailure(stdio{out: &out, err: &errOut}, r, boom, true, "tcg")
	var got struct {
		Changes []struct {
			Item inject.Item `json:"item"`
		} `json:"changes"`
		NotMade []struct {
			Item inject.Item `json:"item"`
			Path string      `json:"path"`
		} `json:"not_made"`
		Error     string `json:"error"`
		Unchanged bool   `json:"image_unchanged"`
	}
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if len(got.Changes) != 1 || len(got.NotMade) != 2 || got.NotMade[0].Item != files(1) || got.NotMade[0].Path != "/etc/second" ||
		got.Error != "source failed" || !got.Unchanged {
		t.Errorf("JSON after a failure read back as %+v:\n%s", got, out.String())
	}
	out.Reset()
	printFailure(stdio{out: &out, err: &errOut}, r, boom, false, "")
	for _, want := range []string{"1 changes made and discarded, 2 not made; the image is unchanged", "failed: create /etc/second [files[1]]", "not made: create /etc/third [files[2]]"} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("text after a failure lacks %q:\n%s", want, errOut.String())
		}
	}
	if out.Len() != 0 {
		t.Errorf("text mode wrote to standard output: %q", out.String())
	}
}
