// Package guestimage builds the small Debian-like guest image the examples'
// tests inject into, and reads files back from it with debugfs, without
// mounting anything.
package guestimage
