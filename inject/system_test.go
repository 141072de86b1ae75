package inject

import (
	"context"
	"errors"
	"io/fs"
	"strings"
	"testing"

	"github.com/guestinject/guestinject/vfs"
)

// zoneinfoLayout is a guest tz database with a legacy name that is a link
// inside zoneinfo, as Debian ships them.
const zoneinfoLayout = `
d /usr/share/zoneinfo/Europe
f /usr/share/zoneinfo/Europe/Berlin data="TZif2-berlin"
f /usr/share/zoneinfo/UTC data="TZif2-utc"
l /usr/share/zoneinfo/Etc/UTC target=../UTC
l /usr/share/zoneinfo/Universal target=/usr/share/zoneinfo/UTC
`

// fedoraLayout is a small Fedora-like guest: no /etc/timezone, an
// /etc/localtime that is a link already, a vconsole.conf with a font.
const fedoraLayout = `
d /etc mode=0755
f /etc/os-release data="NAME=\"Fedora Linux\"\nID=fedora\nVERSION_ID=40\n"
f /etc/passwd mode=0644 data="root:x:0:0:root:/root:/bin/bash\nfedora:x:1000:1000::/home/fedora:/bin/bash\n"
f /etc/group mode=0644 data="root:x:0:\nwheel:x:10:fedora\nfedora:x:1000:\n"
f /etc/shadow mode=0000 data="root:!!:19000:0:99999:7:::\nfedora:!!:19000:0:99999:7:::\n"
f /etc/gshadow mode=0000 data="root:::\nwheel:::fedora\nfedora:!!::\n"
f /etc/login.defs data="UID_MIN 1000\nUID_MAX 60000\nGID_MIN 1000\nGID_MAX 60000\nSYS_UID_MIN 201\nSYS_UID_MAX 999\nSYS_GID_MIN 201\nSYS_GID_MAX 999\nUMASK 022\nHOME_MODE 0700\nUSERGROUPS_ENAB yes\n"
f /etc/vconsole.conf data="FONT=eurlatgr\nKEYMAP=\"us\"\n"
l /etc/localtime target=../usr/share/zoneinfo/UTC
d /etc/skel
f /etc/skel/.bashrc data="# bashrc\n"
d /home
d /home/fedora mode=0700 owner=1000:1000
d /root mode=0550
d /usr/lib/systemd
f /usr/lib/systemd/systemd mode=0755
d /etc/systemd/system
` + zoneinfoLayout

func TestSystemSettingsDebian(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(*testing.T, string) vfs.FS) {
		fsys := open(t, debianLayout+zoneinfoLayout+`
f /etc/localtime data="TZif2-old"
f /etc/default/locale data="# set by the installer\nLANG=\"en_US.UTF-8\"\nLC_TIME=C\n"
`)
		got, rep := applyDiff(t, fsys, Spec{Timezone: "Europe/Berlin", Locale: "de_DE.UTF-8", Keymap: "de-latin1"})
		wantTreeDiff(t, map[string]node{
			"/etc/localtime":      {Mode: fs.ModeSymlink | 0o777, Target: "../usr/share/zoneinfo/Europe/Berlin"},
			"/etc/timezone":       {Mode: 0o644, Data: "Europe/Berlin\n"},
			"/etc/locale.conf":    {Mode: 0o644, Data: "LANG=de_DE.UTF-8\n"},
			"/etc/default/locale": {Mode: 0o644, Data: "# set by the installer\nLANG=de_DE.UTF-8\nLC_TIME=C\n"},
			"/etc/vconsole.conf":  {Mode: 0o644, Data: "KEYMAP=de-latin1\n"},
		}, got)
		var items []string
		for _, c := range rep.Changes {
			items = append(items, c.Item.String()+" "+string(c.Action)+" "+c.Path)
		}
		want := "timezone delete /etc/localtime|timezone symlink /etc/localtime|timezone create /etc/timezone|locale create /etc/locale.conf|locale replace /etc/default/locale|keymap create /etc/vconsole.conf"
		if strings.Join(items, "|") != want {
			t.Errorf("changes:\n%s\nwant\n%s", strings.Join(items, "|"), want)
		}
		// A second run changes nothing.
		again, _ := applyDiff(t, fsys, Spec{Timezone: "Europe/Berlin", Locale: "de_DE.UTF-8", Keymap: "de-latin1"})
		wantTreeDiff(t, map[string]node{}, again)
	})
}

func TestSystemSettingsFedora(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(*testing.T, string) vfs.FS) {
		fsys := open(t, fedoraLayout)
		// A zone that is itself a link inside zoneinfo is fine.
		got, _ := applyDiff(t, fsys, Spec{Timezone: "Etc/UTC", Locale: "en_GB.UTF-8", Keymap: "uk"})
		wantTreeDiff(t, map[string]node{
			"/etc/localtime":     {Mode: fs.ModeSymlink | 0o777, Target: "../usr/share/zoneinfo/Etc/UTC"},
			"/etc/locale.conf":   {Mode: 0o644, Data: "LANG=en_GB.UTF-8\n"},
			"/etc/vconsole.conf": {Mode: 0o644, Data: "FONT=eurlatgr\nKEYMAP=uk\n"},
		}, got)
		// A quoted value already in force is kept.
		_, rep := applyDiff(t, open(t, fedoraLayout), Spec{Keymap: "us", Timezone: "UTC"})
		for _, c := range rep.Changes {
			if c.Action != ActionKeep {
				t.Errorf("change %+v, want only keeps", c)
			}
		}
	})
}

func TestSystemSettingsInvalid(t *testing.T) {
	for _, tc := range []struct {
		name string
		spec Spec
		want Field
	}{
		{"dotdot", Spec{Timezone: "../../etc/shadow"}, FieldTimezone},
		{"inner dotdot", Spec{Timezone: "Europe/../UTC"}, FieldTimezone},
		{"absolute", Spec{Timezone: "/etc/shadow"}, FieldTimezone},
		{"trailing slash", Spec{Timezone: "Europe/"}, FieldTimezone},
		{"option-like", Spec{Timezone: "-x"}, FieldTimezone},
		{"space", Spec{Timezone: "Europe/Ber lin"}, FieldTimezone},
		{"too long", Spec{Timezone: strings.Repeat("a", maxTimezoneLen+1)}, FieldTimezone},
		{"locale newline", Spec{Locale: "C\nLD_PRELOAD=/x.so"}, FieldLocale},
		{"locale quote", Spec{Locale: `C"`}, FieldLocale},
		{"locale long", Spec{Locale: strings.Repeat("a", maxSettingLen+1)}, FieldLocale},
		{"keymap dollar", Spec{Keymap: "$(reboot)"}, FieldKeymap},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fsys := openMemGuest(t, debianLayout+zoneinfoLayout)
			ie := wantPlanErr(t, fsys, tc.spec, ErrInvalidSpec)
			if ie.Item.Field != tc.want {
				t.Errorf("item %v, want %s", ie.Item, tc.want)
			}
		})
	}
}

// TestSystemSettingsHostile: what the guest holds where the settings go
// must neither redirect the writes nor pass for a zone.
func TestSystemSettingsHostile(t *testing.T) {
	hostile := debianLayout + zoneinfoLayout + `
p /usr/share/zoneinfo/Fifo
c /usr/share/zoneinfo/Null mode=0666 dev=1:3
l /usr/share/zoneinfo/Host target={{canary}}/passwd
l /usr/share/zoneinfo/Up target=../../../../../../etc/passwd
d /usr/share/zoneinfo/Dir
`
	for _, tc := range []struct {
		name, extra string
		spec        Spec
		targets     []error
	}{
		{"localtime a directory", "d /etc/localtime\nf /etc/localtime/x\n", Spec{Timezone: "UTC"}, []error{ErrUnsafe}},
		{"localtime a FIFO", "p /etc/localtime\n", Spec{Timezone: "UTC"}, []error{ErrUnsafe, vfs.ErrNotRegular}},
		{"zone a FIFO", "", Spec{Timezone: "Fifo"}, []error{ErrUnsafe, vfs.ErrNotRegular}},
		{"zone a device", "", Spec{Timezone: "Null"}, []error{ErrUnsafe, vfs.ErrNotRegular}},
		{"zone a directory", "", Spec{Timezone: "Dir"}, []error{ErrUnsafe}},
		{"zone a link to the host", "", Spec{Timezone: "Host"}, []error{ErrUnsupported, fs.ErrNotExist}},
		{"zone missing", "", Spec{Timezone: "Mars/Olympus"}, []error{ErrUnsupported, fs.ErrNotExist}},
		{"locale.conf a link out", "l /etc/locale.conf target={{canary}}/passwd\n", Spec{Locale: "C.UTF-8"}, []error{ErrUnsafe, vfs.ErrIsSymlink}},
		{"vconsole.conf a FIFO", "p /etc/vconsole.conf\n", Spec{Keymap: "us"}, []error{ErrUnsafe, vfs.ErrNotRegular}},
		{"timezone a link out", "l /etc/timezone target={{canary}}/passwd\n", Spec{Timezone: "UTC"}, []error{ErrUnsafe, vfs.ErrIsSymlink}},
		// All or nothing: a valid zone, then a keymap that cannot be
		// written, and nothing at all is written.
		{"later item fails", "d /etc/vconsole.conf\n", Spec{Timezone: "UTC", Locale: "C.UTF-8", Keymap: "us"}, []error{ErrUnsafe, vfs.ErrIsDir}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, open func(*testing.T, string) vfs.FS) {
				wantPlanErr(t, open(t, hostile+tc.extra), tc.spec, tc.targets...)
			})
		})
	}
	// A zone that climbs out of zoneinfo by a link stays in the root and
	// is accepted only as the regular file it reaches there.
	forEachBackend(t, func(t *testing.T, open func(*testing.T, string) vfs.FS) {
		fsys := open(t, hostile)
		if _, err := Apply(context.Background(), fsys, Spec{Timezone: "Up"}); err != nil {
			t.Fatal(err)
		}
		if target, err := fsys.Readlink(context.Background(), "/etc/localtime"); err != nil || target != "../usr/share/zoneinfo/Up" {
			t.Errorf("localtime -> %q, %v", target, err)
		}
	})
}

func TestTimezoneNeedsSymlinks(t *testing.T) {
	fsys := withoutSymlinks{openMemGuest(t, debianLayout+zoneinfoLayout)}
	_, err := NewPlan(context.Background(), fsys, Spec{Timezone: "UTC"})
	if !errors.Is(err, ErrUnsupported) {
		t.Fatalf("NewPlan = %v, want ErrUnsupported", err)
	}
}
