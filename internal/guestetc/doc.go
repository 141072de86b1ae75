// Package guestetc parses and edits the guest's own /etc files: passwd,
// group, shadow, gshadow, login.defs, os-release, hosts and
// environment-style files (locale.conf, vconsole.conf), and makes and
// checks crypt(3) password hashes for shadow.
//
// The guest is hostile, so parsers never fail on odd input: lines they do
// not understand are kept, unindexed, and every edit changes only the bytes
// of the field or line it is about. Everything else in the file (comments,
// NIS "+" lines, unusual spacing, a missing final newline, CRLF) survives an
// edit byte for byte. Lookups refuse a name that appears on more than one
// line rather than guessing which line the guest's tools would use.
//
// Nothing here does I/O; callers read the files with a size limit.
package guestetc
