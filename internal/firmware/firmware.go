// Package firmware resolves the appliance launchers' firmware setting to
// the BIOS image the VM boots with, the same way for every launcher.
package firmware

import "os"

// qbootPaths are where distributions install QEMU's qboot firmware, a
// minimal BIOS that starts a -kernel in a few milliseconds where SeaBIOS
// takes a few hundred under TCG.
var qbootPaths = []string{"/usr/share/qemu/qboot.rom", "/usr/local/share/qemu/qboot.rom", "/usr/share/qemu-kvm/qboot.rom"}

// Path resolves a launcher's firmware setting to a BIOS image: "" means
// QEMU's qboot.rom when it is installed, "default" the hypervisor's own
// default (the result is then ""), anything else is the path itself.
func Path(setting string) string {
	switch setting {
	case "default":
		return ""
	case "":
		for _, p := range qbootPaths {
			if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
				return p
			}
		}
		return ""
	}
	return setting
}
