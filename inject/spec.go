package inject

import (
	"io"
	"io/fs"
	"time"
)

// Spec says what to put into a guest. The zero value changes nothing; every
// field is optional. Plan validates all of it against the guest before
// anything is written.
type Spec struct {
	// Reset, when not nil, resets the guest for cloning as virt-sysprep
	// does (see Reset). It comes before everything else, so what the
	// rest of the Spec writes is kept.
	Reset *Reset
	// SSHKeys authorizes public keys for guest users.
	SSHKeys []SSHKeys
	// Passwords sets, locks or unlocks guest users' passwords.
	Passwords []Password
	// Network, when not nil, configures the guest's network.
	Network *Network
	// Metadata, when not nil, is written as a JSON object to /meta.js,
	// the way Nova's file injection did.
	Metadata map[string]string
	// Files are written as given.
	Files []File
	// CloudInit, when not nil, is a cloud-init NoCloud seed written to
	// CloudInitSeedDir, after Files and Metadata.
	CloudInit *CloudInitSeed
	// Operations are virt-customize's file operations (delete, move,
	// symlink, mkdir, chmod, chown, touch, truncate, write, append-line,
	// edit, copy-in, tar-in) and guest commands (run-command, run),
	// planned and applied in the order given, each against the guest as
	// the earlier ones leave it (after a command, at Apply time: see
	// Plan). They come after Files, Metadata and CloudInit and
	// before Hostname, Network, SSHKeys, Passwords and FirstBoot, which
	// see the guest as the operations leave it.
	Operations []Operation
	// Hostname, when set, goes to /etc/hostname and to a loopback line of
	// /etc/hosts.
	Hostname string
	// Timezone, when set, is a tz database name ("Europe/Berlin") that the
	// guest's /usr/share/zoneinfo must hold: /etc/localtime becomes a
	// link to it, as timedatectl makes, and on Debian-like guests
	// /etc/timezone names it.
	Timezone string
	// Locale, when set, is the system locale ("de_DE.UTF-8"): LANG in
	// /etc/locale.conf, as systemd-firstboot writes it, and in
	// /etc/default/locale on Debian-like guests, as update-locale does.
	Locale string
	// Keymap, when set, is the console keymap ("de-latin1"): KEYMAP in
	// /etc/vconsole.conf.
	Keymap string
	// Users are created in the guest's passwd, shadow, group and gshadow,
	// as useradd would; see User. They come before SSHKeys and
	// Passwords, which may name them.
	Users []User
	// GroupMembers add existing users (those of Users included) to
	// existing groups.
	GroupMembers []GroupMember
	// FirstBoot commands run once, in order, at the guest's first boot.
	FirstBoot []Command
	// SELinux says how, on a guest with an SELinux policy, the files
	// the Spec writes get their labels: RelabelChanged (the default),
	// RelabelAll or RelabelNone. The Report has a change of Item
	// FieldSELinux saying which was done: a run of the guest's setfiles
	// now, or the first-boot relabel.
	SELinux SELinuxRelabel
	// Now is the time recorded as a password's last change and the time
	// a Touch without its own Time sets; zero means the current time.
	Now time.Time
}

// SSHKeys authorizes keys for one guest user.
type SSHKeys struct {
	// User is a guest user name; empty means "root".
	User string
	// Keys are authorized_keys lines ("ssh-ed25519 AAAA... comment",
	// options allowed). A key already authorized, compared by key
	// material, is not added again.
	Keys []string
}

// Password changes one guest user's password in /etc/shadow.
type Password struct {
	// User is a guest user name; empty means "root".
	User string
	// Plaintext, when set, is hashed with SHA-512 crypt and a random salt.
	Plaintext string
	// Hash, when set instead, is an existing crypt(3) hash; weak or
	// malformed hashes are refused.
	Hash string
	// Lock locks or unlocks the password (after setting it, if one is
	// given).
	Lock LockChange
}

// LockChange says what happens to a password's lock.
type LockChange int

const (
	// LockKeep leaves the lock as it is.
	LockKeep LockChange = iota
	// Lock disables password login by prefixing the hash with "!".
	Lock
	// Unlock removes that prefix.
	Unlock
)

// File is one file to write.
type File struct {
	// Path is the absolute, clean guest path.
	Path string
	// Content is the file's content; ignored when Source is set.
	Content []byte
	// Source, when not nil, is streamed into the file at Apply time, so
	// large files are never held in memory. Apply reads it once.
	Source io.Reader
	// MaxSize bounds the bytes taken from Source; 0 means no bound.
	MaxSize int64
	// Mode is the permission bits, optionally with fs.ModeSetuid,
	// fs.ModeSetgid and fs.ModeSticky. Zero means 0644.
	Mode fs.FileMode
	// UID and GID own the file; User and Group, when set, name a guest
	// user and group instead, looked up in the guest's /etc files.
	UID, GID    int
	User, Group string
	// ParentMode is the mode of parent directories the write creates;
	// zero means 0755. They are owned by root.
	ParentMode fs.FileMode
	// IfExists says what to do when the path already exists.
	IfExists ExistPolicy
}

// ExistPolicy says what to do with a file that already exists.
type ExistPolicy int

const (
	// ReplaceExisting replaces the content and sets Mode and owner; the
	// file's extended attributes (its SELinux label) are kept.
	ReplaceExisting ExistPolicy = iota
	// KeepExisting leaves an existing file alone.
	KeepExisting
	// AppendExisting adds the content to the end of the existing file,
	// keeping its mode, owner and extended attributes.
	AppendExisting
	// FailExisting makes Plan fail with ErrExists.
	FailExisting
)

// Command is a first-boot command.
type Command struct {
	// Name names the command in the guest's log and in the script's file
	// name: letters, digits, '-', '_' and '.'.
	Name string
	// Script is run by /bin/sh as root.
	Script string
}
