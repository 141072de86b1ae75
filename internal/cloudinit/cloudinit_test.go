package cloudinit

import (
	"bytes"
	"compress/gzip"
	"errors"
	"strings"
	"testing"
)

func gz(t testing.TB, s string) []byte {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	if _, err := w.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

const mimeSeed = "Content-Type: multipart/mixed; boundary=\"XX\"\nMIME-Version: 1.0\n\n" +
	"--XX\nContent-Type: text/cloud-config\n\n#cloud-config\npackages: [vim]\n" +
	"--XX\nContent-Type: text/x-shellscript\n\n#!/bin/sh\necho hi\n--XX--\n"

func TestUserDataAccepted(t *testing.T) {
	for _, tc := range []struct {
		data string
		kind Kind
	}{
		{"", KindEmpty},
		{"\n  \n", KindEmpty},
		{"#cloud-config\n", KindCloudConfig},
		{"#cloud-config\r\nusers:\r\n- name: a\r\n", KindCloudConfig},
		{"#cloud-config\nruncmd: [ls]\n", KindCloudConfig},
		{"#!/bin/sh\necho hi\n", KindScript},
		{"#include\nhttp://example.com/a\n", KindInclude},
		{"#include-once\nhttp://example.com/a\n", KindIncludeOnce},
		{"#cloud-boothook\n#!/bin/sh\n", KindBoothook},
		{"#part-handler\ndef list_types(): pass\n", KindPartHandler},
		{"#cloud-config-archive\n- type: text/cloud-config\n  content: 'a: 1'\n", KindConfigArchive},
		{"#cloud-config-jsonp\n[{\"op\": \"add\", \"path\": \"/a\", \"value\": 1}]\n", KindConfigJSONPatch},
		{"## template: jinja\n#cloud-config\nhostname: {{ v1.instance_id }}\n", KindJinja},
		{mimeSeed, KindMIME},
		{"MIME-Version: 1.0\nContent-Type: text/cloud-config\n\na: 1\n", KindMIME},
	} {
		k, err := UserData(UserDataName, []byte(tc.data))
		if err != nil || k != tc.kind {
			t.Errorf("UserData(%q) = %q, %v; want %q", tc.data, k, err, tc.kind)
		}
	}
	if k, err := UserData(UserDataName, gz(t, "#cloud-config\na: 1\n")); err != nil || k != KindGzip {
		t.Errorf("gzip: %q, %v", k, err)
	}
}

func TestUserDataRefused(t *testing.T) {
	for _, tc := range []struct{ data, want string }{
		{"hello\n", "no user-data header"},
		{"##template: JINJA\n#!/bin/sh\n", "no user-data header"}, // cloud-init matches the prefix exactly
		{"#cloud-config\n- a\n- b\n", "list, not a mapping"},
		{"#cloud-config\njust a string\n", "not a mapping"},
		{"#cloud-config\na: [\n", "YAML"},
		{"#cloud-config\na: 1\na: 2\n", "already defined"},
		{"#cloud-config\na: 1\n---\nb: 2\n", "more than one document"},
		{"#cloud-config-archive\na: 1\n", "not a list"},
		{"## template: jinja\nhostname: x\n", "jinja template must be followed"},
		{"Content-Type: text/cloud-config\n\na: 1\n", "no user-data header"}, // no MIME-Version: not MIME to cloud-init
		{"MIME-Version: 1.0\nContent-Type: text/cloud-config\n\n- a\n", "not a mapping"},
		{"MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=XX\n\n--XX--\n", "without parts"},
		{strings.Replace(mimeSeed, "packages: [vim]", "packages: [vim", 1), "part 0"},
		{"#cloud-config\n" + strings.Repeat("a", MaxUserData), "more than"},
	} {
		_, err := UserData(UserDataName, []byte(tc.data))
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("UserData(%.40q) = %v; want ErrInvalid with %q", tc.data, err, tc.want)
		}
	}
	// A gzip bomb stops at the bound.
	bomb := gz(t, "#!/bin/sh\n"+strings.Repeat("x", MaxUserData+10))
	if len(bomb) > MaxUserData {
		t.Fatalf("bomb of %d bytes is no bomb", len(bomb))
	}
	if _, err := UserData(UserDataName, bomb); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "decompresses to more than") {
		t.Errorf("gzip bomb: %v", err)
	}
	if _, err := UserData(UserDataName, gz(t, string(gz(t, "#!/bin/sh\n")))); !errors.Is(err, ErrInvalid) {
		t.Errorf("gzip in gzip: %v", err)
	}
	if _, err := UserData(UserDataName, []byte{0x1f, 0x8b, 1, 2, 3}); !errors.Is(err, ErrInvalid) {
		t.Errorf("truncated gzip: %v", err)
	}
	// Billion laughs: aliases expanding beyond yaml's budget.
	laughs := "#cloud-config\na: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n" +
		"d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n" +
		"g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\nh: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\ni: [*h,*h,*h,*h,*h,*h,*h,*h,*h]\n"
	if _, err := UserData(UserDataName, []byte(laughs)); !errors.Is(err, ErrInvalid) {
		t.Errorf("billion laughs: %v", err)
	}
}

func TestMetaData(t *testing.T) {
	for _, ok := range []string{"", "instance-id: i-1\n", "{\"instance-id\": \"i-1\", \"local-hostname\": \"h\"}", "local-hostname: h\n", "instance-id: 42\n"} {
		if err := MetaData([]byte(ok)); err != nil {
			t.Errorf("MetaData(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"- a\n", "instance-id: ''\n", "instance-id: [a]\n", "instance_id: i-1\n", "instance-id: i-1\nlocal_hostname: h\n", "a: [\n", "x: " + strings.Repeat("a", MaxMetaData)} {
		if err := MetaData([]byte(bad)); !errors.Is(err, ErrInvalid) {
			t.Errorf("MetaData(%.40q) = %v; want ErrInvalid", bad, err)
		}
	}
}

func TestNetworkConfig(t *testing.T) {
	for _, ok := range []string{
		"version: 2\nethernets:\n  eth0:\n    dhcp4: true\n",
		"network:\n  version: 2\n  ethernets: {}\n",
		"version: 1\nconfig:\n- type: physical\n  name: eth0\n  subnets: [{type: dhcp}]\n",
	} {
		if err := NetworkConfig([]byte(ok)); err != nil {
			t.Errorf("NetworkConfig(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", "version: 3\n", "ethernets: {}\n", "version: two\n", "- version: 2\n", "version: 2\n" + strings.Repeat("#", MaxNetworkConfig)} {
		if err := NetworkConfig([]byte(bad)); !errors.Is(err, ErrInvalid) {
			t.Errorf("NetworkConfig(%.40q) = %v; want ErrInvalid", bad, err)
		}
	}
}

func FuzzUserData(f *testing.F) {
	for _, s := range []string{"#cloud-config\na: 1\n", mimeSeed, "#!/bin/sh\n", "## template: jinja\n#cloud-config\n", "#cloud-config-archive\n- a\n"} {
		f.Add([]byte(s))
	}
	f.Add(gz(f, "#cloud-config\na: 1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := UserData(UserDataName, data)
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Fatalf("error %v does not wrap ErrInvalid", err)
		}
		if err == nil && k == "" {
			t.Fatal("accepted without a kind")
		}
	})
}

func FuzzMetaData(f *testing.F) {
	f.Add([]byte("instance-id: i-1\nlocal-hostname: h\n"))
	f.Add([]byte("{}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := MetaData(data); err != nil && !errors.Is(err, ErrInvalid) {
			t.Fatalf("error %v does not wrap ErrInvalid", err)
		}
	})
}

func FuzzNetworkConfig(f *testing.F) {
	f.Add([]byte("version: 2\nethernets: {eth0: {dhcp4: true}}\n"))
	f.Add([]byte("network: {version: 1, config: []}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := NetworkConfig(data); err != nil && !errors.Is(err, ErrInvalid) {
			t.Fatalf("error %v does not wrap ErrInvalid", err)
		}
	})
}
