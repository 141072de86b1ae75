// Package inject puts what an orchestrator needs into a guest before its
// first boot: SSH keys, passwords, network configuration, metadata, files,
// the host name and first-boot commands. It works only through a vfs.FS,
// so the same Spec runs over the in-memory backend in tests, over a host
// directory, or over the appliance for untrusted images.
//
// # Plan, then apply
//
// NewPlan reads the guest (its /etc/passwd, /etc/group, /etc/shadow,
// /etc/os-release, existing authorized_keys...), validates every item of the
// Spec and decides every change without writing anything: it is the dry
// run. Plan.Apply then makes the changes, and Apply does both. The Report
// lists every change — path, action, resulting mode, owner and size — and
// encodes to JSON for audit logs. Nothing is silently skipped: each item is
// applied, reported as kept (already in place, or kept as the spec asked),
// or the call fails with an *ItemError naming the item and the path.
//
// Changes and errors name their spec item with an Item: the Spec field, the
// entry's index in a list field, and the user, command name or network
// renderer involved. So an orchestrator maps a failure back to its Spec
// entry without parsing text. An Item prints as reports always showed it,
// "passwords[0] (root)" or "files[2]", and encodes to JSON as an object,
// {"field":"passwords","index":0,"user":"root"}.
//
// # The guest is hostile
//
// Users, groups and homes come from the guest's own /etc files, parsed by a
// fuzzed parser and read with size limits, so a 2 GiB /etc/passwd is an
// error, not an out-of-memory. A name that appears twice in passwd or
// shadow is refused rather than guessed. Paths resolve inside the guest
// root (the vfs contract): a home directory that is an absolute symlink, or
// "/../../x" in passwd, stays inside the guest. Writes never follow a final
// symlink and never touch FIFOs or devices; a ~/.ssh that is a symlink is
// refused, because tightening its mode would change whatever it points at.
//
// # SSH keys
//
// Keys are parsed with golang.org/x/crypto/ssh and added only when their key
// material is not already authorized. ~/.ssh (0700) and authorized_keys
// (0600) are created for the user when missing; existing ones keep their
// modes unless sshd's StrictModes would refuse them (group or world
// writable, or owned by another user), which are tightened.
//
// # Passwords
//
// Plaintext passwords are hashed with SHA-512 crypt and a CSPRNG salt;
// given hashes are checked (SHA-512, SHA-256, yescrypt and bcrypt are
// accepted; DES and MD5 refused). /etc/shadow is edited in place — only the
// hash and last-change fields of the user's line change — and replaced
// atomically with its mode, owner and labels. A world-readable shadow is
// refused; a user whose passwd entry still holds the hash gets "x" there.
//
// # Network
//
// Network is a typed model (interfaces by name or MAC, bonds, VLANs,
// static addresses, gateways, routes, MTU, DNS, DHCPv4/v6 and the IPv6
// modes static, SLAAC, DHCPv6 stateless and stateful); ParseNetworkData
// builds one from OpenStack's network_data.json, which names interfaces
// only by MAC address. It is rendered for netplan, NetworkManager
// keyfiles, RHEL ifcfg, Debian ifupdown or systemd-networkd, chosen from
// what the guest has installed and its os-release, or forced with
// Network.Renderer. Netplan and NetworkManager files are 0600.
//
// Interfaces known only by MAC address are matched by it where the format
// can: netplan match/macaddress, networkd [Match] PermanentMACAddress,
// NetworkManager mac-address, ifcfg HWADDR (without DEVICE). ifupdown
// configures names, so the renderer pins one ("lan0", "lan1"...; see
// PinnedNamePrefix) to each address, and each pinning file is a planned,
// reported change: a systemd .link file in /etc/systemd/network when the
// guest's udev is systemd-udevd, otherwise a rule in
// /etc/udev/rules.d/70-guestinject-net.rules; a guest without udev is
// refused. What a format cannot express is refused with a *RendererError
// (wrapping ErrUnsupported) naming the renderer and the feature: ifcfg
// cannot put a VLAN on an interface known only by MAC address (PHYSDEV
// needs a name), and ifupdown bonds need the guest's ifenslave package.
//
// # SELinux and first boot
//
// Replaced files keep their extended attributes, SELinux labels included.
// When the guest has SELinux enabled, the files and directories the plan
// creates are relabelled (Spec.SELinux, RelabelChanged by default). On a
// backend that runs the guest's commands (the appliance) and a guest with
// setfiles and its policy's file_contexts, that happens during Apply, last:
// the guest's setfiles runs as a guest command (see RunCommand) on exactly
// those paths, with libguestfs's flags (-F, /proc, /sys and /dev left
// out, -m and -C where setfiles takes them); the appliance loads no
// policy, so the labels are written as file_contexts spells them. Else
// they are relabelled at first boot by restorecon on exactly those paths
// — the first of the first-boot scripts — or, when no first-boot hook can
// be installed, by a full relabel requested with /.autorelabel; a guest
// whose setfiles turns out not to run in the appliance (another
// architecture) gets /.autorelabel at Apply time. RelabelAll relabels the
// whole filesystem the same way, now or at first boot, and RelabelNone
// neither. The Report's changes of Item FieldSELinux say which happened.
// A relabel of the whole filesystem in the appliance does not reach what
// the command's own mounts hide (the guest's /proc, /sys, /dev, /run and
// /tmp directories' contents).
// First-boot commands run once, in order, from a systemd unit (or a
// sysvinit script) that disables itself; their output goes to
// /var/log/guestinject-firstboot.log in the guest.
//
// # Operations
//
// Spec.Operations are virt-customize's file operations — delete, move,
// symlink, mkdir, chmod, chown, touch, truncate, write, append-line, edit,
// copy-in and tar-in —
// applied in the order given. Each is planned against the guest as the
// earlier ones leave it: a move then a write to the new name, a mkdir then
// a file inside it, a delete then a create under the same name. Planning
// reads the guest through an in-memory overlay on which every planned step
// is replayed, so every phase sees the ones before it, and a plan whose
// steps contradict each other fails before anything is written. (The
// overlay asks the guest about each name once; on a vfs.LstatManyFS, the
// appliance, it asks before planning for every path the Spec's parts will
// look at, 64 names a call, and for every unseen component of a path in
// one call.)
// Operations
// act on the final component itself: chmod, write, truncate, touch and
// append-line refuse a symlink, FIFO or device node; chown and delete act
// on a link, never on what it points at; a recursive delete removes links
// in the tree as links and stops at a bound on its entries. A move never
// replaces an existing name and needs a vfs.RenameFS backend. Touch does
// what touch(1) does: an existing regular file or directory gets its access
// and modification times set to Touch.Time (touch -d), or Spec.Now, or the
// current time, through vfs.Lchtimes, and a missing file is created empty
// with those times; the Report shows the "set-times" change with the times
// (Change.Atime, Change.Mtime). Setting times needs a vfs.TimesFS backend:
// on another, touching an existing file fails planning with ErrUnsupported,
// and a missing one is created with the time of its creation.
//
// Edit runs a Go (RE2) regular expression over a regular file of at most
// MaxEditSize bytes, as a whole or line by line, and keeps its mode, owner
// and labels. CopyIn copies a host tree and TarIn a tar stream into an
// existing guest directory: regular files, directories and symlinks
// (targets as given), with modes, owners when asked and modification
// times where the backend is a vfs.TimesFS, within bounds on entries and
// bytes (a *LimitError). Nothing is created through a symlink, the
// guest's or one the copy made, and nothing but a regular file is ever
// replaced (with TreeOptions.Replace). Devices, FIFOs and hard links are
// refused (hard links copied as separate files when asked). The host tree
// is walked through an os.Root without following its symlinks, and only
// its metadata is read while planning: Apply streams each file, checking
// that it is still the one planned (ErrSourceChanged). A tar stream is
// read once while planning, its contents spooled to an unlinked temporary
// file, so nothing is written before the whole archive is known to be
// valid and memory does not grow with the archive. Operations after a
// copy read the copied files from the host or the spool.
//
// # Guest commands
//
// Spec.Operations may also run the guest's own programs:
// RunCommand (virt-customize --run-command) and Run (--run, a script),
// in Spec order with the other operations. They run only where the
// backend is a vfs.CommandFS — the appliance, inside its throwaway VM,
// chrooted into the guest root with their own /proc, /sys, minimal /dev,
// private /run and /tmp, as root, without network, bounded in time,
// processes and output — never on the host: with a mount or in-memory
// backend, planning fails with ErrUnsupported before anything is
// written. A guest whose /bin/sh is missing (as the changes before the
// command leave it) fails planning, a dry run included, with
// vfs.ErrCannotRun; one whose /bin/sh is for another architecture fails
// with it when the backend checks the program, before the command runs.
//
// Install and Uninstall (virt-customize --install, --uninstall) are guest
// commands too: the guest's package manager (apt-get, dnf, zypper or apk,
// found in the guest as the earlier operations leave it) with the named
// packages, whose names are checked (a letter or digit first, no shell
// or option syntax). They need the package network, an opt-in of the
// appliance (a vfs.PackageNetworkFS whose PackageNetwork is true): without
// it planning fails with ErrUnsupported.
//
// A command's effects cannot be planned, so a Spec with commands is
// planned in segments (see Plan): the dry run plans and lists everything
// up to the first command and the command itself, and Plan.Deferred
// names the operations that follow; at Apply time each later segment is
// planned against the guest as the command left it, and checked, before
// any of it is written. Everything after Operations (Hostname to
// FirstBoot) sees the guest as the last command left it. A command that
// exits non-zero, is killed or runs out of time fails Apply with a
// *CommandError (ErrCommandFailed); its result, output included, is the
// Run of the first NotMade change, and of each command's Change in the
// Report when it succeeds. On the appliance nothing is kept without
// Commit, so a failed command leaves the image unchanged.
//
// # Template reset
//
// Spec.Reset prepares a guest for cloning as virt-sysprep does, with its
// operation names: machine-id (/etc/machine-id emptied, which systemd
// fills at the next boot, and libdbus's /var/lib/dbus/machine-id
// removed), ssh-hostkeys, cloud-init (its state, the seed kept, and its
// logs), dhcp-client-state, dhcp-server-state, udev-persistent-net,
// net-hwaddr, logfiles, bash-history, zsh-history, tmp-files,
// package-manager-cache and random-seed. ResetOperations lists them with
// a line each; Reset.Operations picks some, and without it the default
// set runs. Log files are truncated, keeping their mode, owner and
// labels, because daemons expect them (wtmp, btmp and lastlog included);
// rotated and compressed logs and the journal's files, which a truncation
// would corrupt, are removed. Everything else is removed. An operation
// that finds nothing to reset (no such file) reports no change.
//
// A reset never goes through a symlink: a directory on the way that is a
// link (a /var/log aimed at /etc, a /tmp aimed at a host path) is left
// alone and reported as kept, links found in a walked tree are removed as
// links, FIFOs and devices are unlinked and never opened, and only
// regular files are truncated (a symlinked or special log file is left
// and reported). The directory entries a reset reads are bounded,
// Reset.MaxEntries (DefaultResetEntries unless set), across all its
// operations: a guest with millions of files in /tmp fails the plan with
// vfs.ErrTooLarge, naming the operation, after reading about the bound's
// worth of entries, and nothing is changed. The reset comes first, so
// whatever else the Spec writes, an SSH host key or an ifcfg file with
// its HWADDR, is kept.
//
// # Time zone, locale and keymap
//
// Timezone, Locale and Keymap are written the way timedatectl, localectl
// and systemd-firstboot write them, so nothing needs to run in the guest.
// The time zone must be a tz database name the guest's own
// /usr/share/zoneinfo holds as a regular file (resolved in the root, so a
// link inside zoneinfo is fine and one aimed at a host path is not);
// /etc/localtime becomes the relative link ../usr/share/zoneinfo/<name>,
// replacing a file or link there (a directory, FIFO or device is
// refused; no backend call replaces a file by a link, so the old one is
// removed first, and an Apply failing between the two leaves the guest on
// UTC until the overlay is discarded), and /etc/timezone names the zone where it exists or the
// guest is Debian-like. The locale is LANG in /etc/locale.conf and, on
// Debian-like guests, in /etc/default/locale, as update-locale writes it;
// the keymap is KEYMAP in /etc/vconsole.conf. Only that one key's line
// changes; every other line is kept. Values are limited to characters
// that need no quoting, so none can add a line or a shell expansion.
//
// # Users and groups
//
// Users are created as useradd would: a line in passwd, shadow (the
// password locked, or set from Plaintext or a checked Hash) and, for the
// user private group, group and gshadow; uids and gids come from the
// guest's /etc/login.defs ranges, counting up (down for system users),
// unless given. A name or id the guest already uses is refused, a
// malformed line included, and so is a range with no free id. A missing
// home is created owned by the user and filled from /etc/skel: regular
// files, directories and symlinks (copied as links, never followed), with
// set-id bits dropped; a FIFO or device there, or a tree beyond 1000
// entries or 16 MiB, is refused. GroupMembers, and a user's Groups, add
// members to existing groups in group and gshadow, never twice. Each
// account file is written once, shadow and gshadow before group and
// passwd, so a user exists only once its password and group do. Users
// come before SSHKeys and Passwords, which edit the files as Users left
// them: one Spec can create a user and give it keys and a password.
//
// # cloud-init
//
// CloudInit writes a NoCloud seed (user-data, meta-data, network-config,
// vendor-data) into /var/lib/cloud/seed/nocloud, where cloud-init finds
// it at the next boot; package inject/cidata writes the same seed as a
// volume to attach instead. CloudInitSeed.Validate checks what cloud-init
// would read: a user-data kind it knows (#cloud-config as one YAML mapping,
// scripts, includes, boothooks, part handlers, archives, jsonp, jinja
// templates, MIME multipart, gzip of these, decompressed within a bound),
// meta-data as a YAML mapping, network-config as version 1 or 2, and size
// bounds on all. The seed replaces an earlier one whole: its files are
// written 0600, and a network-config or vendor-data it does not give is
// removed. The seed directory is reached like any guest path, so a
// /var/lib/cloud that is a symlink leads where the guest would look.
// cloud-init reads the seed when its datasource_list includes NoCloud, as
// its default list does; an image configured for one cloud only may not.
//
// # Order and failures
//
// All reads and validation happen before the first write. Changes are made
// in this order: the reset, files, metadata, the cloud-init seed, operations (in Spec order), host name,
// time zone, locale and keymap, users and group members, network, SSH
// keys, passwords (shadow before passwd), first-boot scripts and, last,
// the symlink that arms them. The phases after the operations see the guest as the operations
// leave it. Each file is replaced atomically by the backend, and owners
// are set before modes, since chown clears set-id bits. If Apply fails
// part-way, every earlier change is complete, none after it was begun, and
// the failed file is either old or new: the guest is consistent but holds
// only part of the spec. The Report comes back with the error: its Changes
// list what was done, its NotMade the failed change and every later one.
// Callers that need all-or-nothing, like the appliance, discard the whole
// overlay on failure, so the image stays byte-identical.
package inject
