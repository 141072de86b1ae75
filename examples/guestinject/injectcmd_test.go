package main

import (
	"bytes"
	"encoding/json"
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
