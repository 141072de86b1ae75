package main

import (
	"strings"
	"testing"

	"github.com/guestinject/guestinject/inject"
)

// TestSELinuxRelabelOptions: --selinux-relabel asks for the whole
// filesystem (and is enough on its own), --no-selinux-relabel for
// nothing, the default for the created files; both at once are refused.
func TestSELinuxRelabelOptions(t *testing.T) {
	for _, c := range []struct {
		args []string
		want inject.SELinuxRelabel
		err  string
	}{
		{args: []string{"--mkdir", "/srv"}, want: inject.RelabelChanged},
		{args: []string{"--selinux-relabel"}, want: inject.RelabelAll},
		{args: []string{"--mkdir", "/srv", "--no-selinux-relabel"}, want: inject.RelabelNone},
		{args: []string{"--no-selinux-relabel"}, err: "nothing to inject"},
		{args: []string{"--selinux-relabel", "--no-selinux-relabel"}, err: "exclude each other"},
	} {
		var a injectArgs
		if err := newInjectFlags(&a).Parse(c.args); err != nil {
			t.Fatal(err)
		}
		spec, _, err := a.buildSpec(strings.NewReader(""))
		switch {
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%q: error %v, want %q", c.args, err, c.err)
		case c.err == "" && err != nil:
			t.Errorf("%q: %v", c.args, err)
		case c.err == "" && spec.SELinux != c.want:
			t.Errorf("%q: SELinux %d, want %d", c.args, spec.SELinux, c.want)
		}
	}
}
