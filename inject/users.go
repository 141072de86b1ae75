package inject

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"

	"github.com/guestinject/guestinject/internal/guestetc"
	"github.com/guestinject/guestinject/vfs"
)

// User is a guest user to create, as useradd would.
type User struct {
	// Name is the new user's name: a lower-case letter or '_', then
	// lower-case letters, digits, '_' and '-', 32 bytes at most. A name
	// the guest already has is refused with ErrExists.
	Name string
	// UID is the user id; 0 means the next free one in the guest's
	// /etc/login.defs range (UID_MIN..UID_MAX, SYS_UID_MIN..SYS_UID_MAX
	// for a system user; 1000..60000 and 101..999 when unset). A uid
	// another user has is refused.
	UID int
	// Group, when set, is an existing group that becomes the primary
	// group; otherwise a group named after the user is created (the user
	// private group), with GID or, when 0, the uid when it is free as a
	// gid, else the next free gid in GID_MIN..GID_MAX.
	Group string
	GID   int
	// Groups are existing supplementary groups the user joins.
	Groups []string
	// GECOS is the comment field.
	GECOS string
	// Home is the home directory; empty means HOME from
	// /etc/default/useradd (or /home) followed by the name. A missing
	// home is created, owned by the user, with HOME_MODE from
	// /etc/login.defs (or 0777 minus UMASK, or 0700), and filled from
	// /etc/skel; an existing directory is left as it is.
	Home string
	// NoHome leaves the home directory alone: not created, not filled.
	NoHome bool
	// Shell is the login shell; empty means SHELL from
	// /etc/default/useradd, or /bin/sh.
	Shell string
	// System makes a system user: ids from the SYS_ ranges, chosen from
	// the top down, and no home unless Home is given.
	System bool
	// Plaintext or Hash set the password, as in Password; with neither
	// the password is locked ("!").
	Plaintext string
	Hash      string
}

// GroupMember adds an existing user to an existing group, in /etc/group
// and, when the guest has one, /etc/gshadow. A user the group lists
// already is not listed again.
type GroupMember struct {
	User  string
	Group string
}

// Bounds on copying /etc/skel: the guest chooses its content.
const (
	maxSkelEntries = 1000
	maxSkelBytes   = 16 << 20
)

const (
	passwdPath   = "/etc/passwd"
	shadowPath   = "/etc/shadow"
	groupPath    = "/etc/group"
	gshadowPath  = "/etc/gshadow"
	loginDefs    = "/etc/login.defs"
	useraddDefs  = "/etc/default/useradd"
	skelDir      = "/etc/skel"
	maxUserName  = 32
	defaultShell = "/bin/sh"
)

// userDB is the guest's account files as planning edits them.
type userDB struct {
	passwd  *guestetc.Passwd
	shadow  *guestetc.Shadow
	group   *guestetc.Groups
	gshadow *guestetc.GShadow // nil when the guest has none
	defs    guestetc.LoginDefs
	// writer is the first item that changes each file.
	writer map[string]Item
}

func (db *userDB) changed(name string, item Item) {
	if _, ok := db.writer[name]; !ok {
		db.writer[name] = item
	}
}

// defaultHomeBase is useradd's HOME when /etc/default/useradd sets none.
const defaultHomeBase = "/home"

// likelyHome is where a user's home usually is: a guess for lookups, as
// the plan itself goes by the guest's passwd and useradd defaults.
func likelyHome(user string) string {
	if user == "" || user == "root" {
		return "/root"
	}
	return vfs.Join(defaultHomeBase, user)
}

func usersLookups(spec *Spec) []string {
	if len(spec.Users) == 0 && len(spec.GroupMembers) == 0 {
		return nil
	}
	names := []string{passwdPath, shadowPath, groupPath, gshadowPath}
	if len(spec.Users) > 0 {
		names = append(names, loginDefs, useraddDefs, skelDir)
	}
	for _, u := range spec.Users {
		names = append(names, cmp.Or(u.Home, likelyHome(u.Name)))
	}
	return names
}

// planUsers creates Spec.Users and then adds Spec.GroupMembers, editing
// each account file once. They come before SSHKeys and Passwords, so a
// user created here can be given keys and a password by the same Spec.
func (p *planner) planUsers(ctx context.Context, spec *Spec) error {
	if len(spec.Users) == 0 && len(spec.GroupMembers) == 0 {
		return nil
	}
	first := listItem(FieldUsers, 0)
	if len(spec.Users) == 0 {
		first = listItem(FieldGroupMembers, 0)
	}
	db, err := p.loadUserDB(ctx, first, len(spec.Users) > 0)
	if err != nil {
		return err
	}
	var homes []func() error
	for i, u := range spec.Users {
		item := listItem(FieldUsers, i)
		item.User = u.Name
		home, err := p.addUser(ctx, item, db, u)
		if err != nil {
			return err
		}
		if home != nil {
			homes = append(homes, home)
		}
	}
	for i, m := range spec.GroupMembers {
		item := listItem(FieldGroupMembers, i)
		item.User, item.Name = m.User, m.Group
		if err := addMember(item, db, m.User, m.Group); err != nil {
			return err
		}
	}
	// shadow and gshadow first: a user appears when passwd names it, by
	// which time its password and group are in place.
	for _, f := range []struct {
		name string
		data []byte
	}{
		{shadowPath, db.shadow.Bytes()},
		{gshadowPath, gshadowBytes(db.gshadow)},
		{groupPath, db.group.Bytes()},
		{passwdPath, db.passwd.Bytes()},
	} {
		item, ok := db.writer[f.name]
		if !ok {
			continue
		}
		if err := p.claim(item, f.name); err != nil {
			return err
		}
		old, err := p.existing(ctx, item, f.name)
		if err != nil {
			return err
		}
		m, uid, gid := modeOwner(old)
		p.add(step{op: opWrite, change: Change{Item: item, Path: f.name, Action: ActionReplace, Mode: m, UID: uid, GID: gid, Size: int64(len(f.data)), Detail: "accounts added"},
			data: f.data, opts: inheritOpts})
		// Passwords and SSHKeys, later, edit what this phase leaves:
		// the same Spec may set the new user's password.
		delete(p.written, f.name)
	}
	for _, home := range homes {
		if err := home(); err != nil {
			return err
		}
	}
	return nil
}

func gshadowBytes(g *guestetc.GShadow) []byte {
	if g == nil {
		return nil
	}
	return g.Bytes()
}

func (p *planner) loadUserDB(ctx context.Context, item Item, needShadow bool) (*userDB, error) {
	db := &userDB{writer: map[string]Item{}}
	for _, name := range []string{passwdPath, groupPath} {
		if _, err := p.existing(ctx, item, name); err != nil {
			return nil, err
		}
		data, err := p.readEtc(ctx, name)
		if err != nil {
			return nil, itemErr(item, name, err)
		}
		if data == nil {
			return nil, itemErrf(item, name, ErrNoUser, "the guest has no %s", name)
		}
		if name == passwdPath {
			db.passwd = guestetc.ParsePasswd(data)
		} else {
			db.group = guestetc.ParseGroup(data)
		}
	}
	if needShadow {
		s, err := p.loadShadow(ctx, item, shadowPath)
		if err != nil {
			return nil, err
		}
		db.shadow = s
	} else {
		db.shadow = guestetc.ParseShadow(nil)
	}
	info, err := p.existing(ctx, item, gshadowPath)
	if err != nil {
		return nil, err
	}
	if info != nil {
		if info.Mode().Perm()&0o004 != 0 {
			return nil, itemErrf(item, gshadowPath, ErrUnsafe, "/etc/gshadow is world-readable (%s)", OctalMode(info.Mode()))
		}
		data, err := p.readEtc(ctx, gshadowPath)
		if err != nil {
			return nil, itemErr(item, gshadowPath, err)
		}
		db.gshadow = guestetc.ParseGShadow(data)
	}
	data, err := p.readEtc(ctx, loginDefs)
	if err != nil {
		return nil, itemErr(item, loginDefs, err)
	}
	db.defs = guestetc.ParseLoginDefs(data)
	return db, nil
}

// addUser adds u's lines to db and returns the planning of its home,
// which runs once the account files are planned.
func (p *planner) addUser(ctx context.Context, item Item, db *userDB, u User) (func() error, error) {
	if err := checkUserName(u.Name); err != nil {
		return nil, itemErr(item, passwdPath, err)
	}
	for what, v := range map[string]string{"GECOS": u.GECOS, "shell": u.Shell, "home": u.Home} {
		if strings.ContainsAny(v, ":\n\r\x00") {
			return nil, itemErrf(item, passwdPath, ErrInvalidSpec, "%s %q holds a separator", what, v)
		}
	}
	if u.UID < 0 || u.UID > guestetc.MaxID || u.GID < 0 || u.GID > guestetc.MaxID {
		return nil, itemErrf(item, passwdPath, ErrInvalidSpec, "uid %d or gid %d out of range", u.UID, u.GID)
	}
	if u.Group != "" && u.GID != 0 {
		return nil, itemErrf(item, groupPath, ErrInvalidSpec, "both a primary group and a gid for the user private group")
	}
	hash, err := newHash(Password{Plaintext: u.Plaintext, Hash: u.Hash})
	if err != nil {
		return nil, itemErr(item, shadowPath, err)
	}
	if hash == "" {
		hash = "!"
	}
	if names(db.passwd.Table)[u.Name] || names(db.shadow.Table)[u.Name] {
		return nil, itemErrf(item, passwdPath, ErrExists, "the guest has a user %q", u.Name)
	}
	usedUIDs := ids(db.passwd.Table)
	usedGIDs := ids(db.group.Table)

	uid := u.UID
	if uid == 0 {
		lo, hi := idRange(db.defs, "UID", u.System)
		if uid, err = freeID(usedUIDs, lo, hi, u.System); err != nil {
			return nil, itemErr(item, loginDefs, err)
		}
	} else if usedUIDs[uid] {
		return nil, itemErrf(item, passwdPath, ErrExists, "uid %d is taken", uid)
	}

	var gid int
	if u.Group != "" {
		g, err := db.group.Group(u.Group)
		if err != nil {
			return nil, itemErr(item, groupPath, shadowErr(err))
		}
		gid = g.GID
	} else if db.defs.Bool("USERGROUPS_ENAB", true) {
		if names(db.group.Table)[u.Name] {
			return nil, itemErrf(item, groupPath, ErrExists, "the guest has a group %q for the user private group", u.Name)
		}
		switch gid = u.GID; {
		case gid != 0 && usedGIDs[gid]:
			return nil, itemErrf(item, groupPath, ErrExists, "gid %d is taken", gid)
		case gid == 0 && !usedGIDs[uid]:
			gid = uid
		case gid == 0:
			lo, hi := idRange(db.defs, "GID", u.System)
			if gid, err = freeID(usedGIDs, lo, hi, u.System); err != nil {
				return nil, itemErr(item, loginDefs, err)
			}
		}
		t, err := db.group.AppendLine(u.Name + ":x:" + strconv.Itoa(gid) + ":")
		if err != nil {
			return nil, itemErr(item, groupPath, err)
		}
		db.group = &guestetc.Groups{Table: t}
		db.changed(groupPath, item)
		if db.gshadow != nil {
			t, err := db.gshadow.AppendLine(u.Name + ":!::")
			if err != nil {
				return nil, itemErr(item, gshadowPath, err)
			}
			db.gshadow = &guestetc.GShadow{Table: t}
			db.changed(gshadowPath, item)
		}
	} else {
		// USERGROUPS_ENAB no: useradd's GROUP default, else "users"'s 100.
		gid = 100
	}

	defaults, err := p.readEtc(ctx, useraddDefs)
	if err != nil {
		return nil, itemErr(item, useraddDefs, err)
	}
	shell := u.Shell
	if shell == "" {
		if shell, _ = guestetc.EnvValue(defaults, "SHELL"); shell == "" || strings.ContainsAny(shell, ":\n\r\x00") || !strings.HasPrefix(shell, "/") {
			shell = defaultShell
		}
	}
	home := u.Home
	if home == "" {
		base, _ := guestetc.EnvValue(defaults, "HOME")
		if !strings.HasPrefix(base, "/") || strings.ContainsAny(base, ":\n\r\x00") {
			base = defaultHomeBase
		}
		home = vfs.Join(path.Clean(base), u.Name)
	}
	if err := vfs.CheckPath("home", home); err != nil || path.Clean(home) != home {
		return nil, itemErrf(item, passwdPath, ErrInvalidSpec, "home %q is not an absolute, clean path", home)
	}

	line := strings.Join([]string{u.Name, "x", strconv.Itoa(uid), strconv.Itoa(gid), u.GECOS, home, shell}, ":")
	t, err := db.passwd.AppendLine(line)
	if err != nil {
		return nil, itemErr(item, passwdPath, err)
	}
	db.passwd = &guestetc.Passwd{Table: t}
	db.changed(passwdPath, item)
	ageing := []string{strconv.Itoa(db.defs.Int("PASS_MIN_DAYS", 0)), strconv.Itoa(db.defs.Int("PASS_MAX_DAYS", 99999)), strconv.Itoa(db.defs.Int("PASS_WARN_AGE", 7))}
	t, err = db.shadow.AppendLine(u.Name + ":" + hash + ":" + strconv.FormatInt(days(p.now), 10) + ":" + strings.Join(ageing, ":") + ":::")
	if err != nil {
		return nil, itemErr(item, shadowPath, err)
	}
	db.shadow = &guestetc.Shadow{Table: t}
	db.changed(shadowPath, item)
	for _, g := range u.Groups {
		if err := addMember(item, db, u.Name, g); err != nil {
			return nil, err
		}
	}

	if u.NoHome || (u.System && u.Home == "") {
		return nil, nil
	}
	mode := homeMode(db.defs)
	return func() error { return p.planHome(ctx, item, home, mode, uid, gid) }, nil
}

// addMember lists user in group's member lists.
func addMember(item Item, db *userDB, user, group string) error {
	if _, err := db.passwd.User(user); err != nil {
		return itemErr(item, passwdPath, shadowErr(err))
	}
	g, err := db.group.AddMember(group, user)
	if err != nil {
		return itemErr(item, groupPath, shadowErr(err))
	}
	if g.Table != db.group.Table {
		db.group = g
		db.changed(groupPath, item)
	}
	if db.gshadow == nil {
		return nil
	}
	s, err := db.gshadow.AddMember(group, user)
	if err != nil {
		return itemErr(item, gshadowPath, shadowErr(err))
	}
	if s.Table != db.gshadow.Table {
		db.gshadow = s
		db.changed(gshadowPath, item)
	}
	return nil
}

// checkUserName accepts the names useradd accepts by default.
func checkUserName(name string) error {
	if name == "" || len(name) > maxUserName {
		return fmt.Errorf("%w: user name %q: empty or longer than %d bytes", ErrInvalidSpec, name, maxUserName)
	}
	for i, c := range []byte(name) {
		if !(c >= 'a' && c <= 'z' || c == '_' || i > 0 && (c >= '0' && c <= '9' || c == '-')) {
			return fmt.Errorf("%w: user name %q: character %q", ErrInvalidSpec, name, c)
		}
	}
	return nil
}

// names is the set of names a table's lines start with, malformed lines
// included: a name on any line is taken.
func names(t *guestetc.Table) map[string]bool {
	out := map[string]bool{}
	t.Entries(func(f []string) { out[f[0]] = true })
	return out
}

// ids is the set of ids in the third field of a passwd or group table;
// lines whose id does not parse hold none.
func ids(t *guestetc.Table) map[int]bool {
	out := map[int]bool{}
	t.Entries(func(f []string) {
		if len(f) > 2 {
			if id, err := guestetc.ParseID(f[2]); err == nil {
				out[id] = true
			}
		}
	})
	return out
}

// idRange is login.defs' range for uids or gids (kind "UID" or "GID").
func idRange(defs guestetc.LoginDefs, kind string, system bool) (int, int) {
	lo, hi := defs.Int(kind+"_MIN", 1000), defs.Int(kind+"_MAX", 60000)
	if system {
		return defs.Int("SYS_"+kind+"_MIN", 101), defs.Int("SYS_"+kind+"_MAX", lo-1)
	}
	return lo, hi
}

// ErrNoFreeID: login.defs' range holds no free user or group id.
var ErrNoFreeID = errors.New("no free id in the range")

// freeID picks an id in [lo, hi] that used lacks: as useradd, one above
// the highest in use (below the lowest, for system ids), or else the
// first free one.
func freeID(used map[int]bool, lo, hi int, down bool) (int, error) {
	if lo < 1 || hi < lo {
		return 0, fmt.Errorf("%w: empty range %d..%d", ErrNoFreeID, lo, hi)
	}
	if down {
		low := hi + 1
		for id := range used {
			if id >= lo && id <= hi && id < low {
				low = id
			}
		}
		if low-1 >= lo {
			return low - 1, nil
		}
		for id := hi; id >= lo; id-- {
			if !used[id] {
				return id, nil
			}
		}
	} else {
		high := lo - 1
		for id := range used {
			if id >= lo && id <= hi && id > high {
				high = id
			}
		}
		if high+1 <= hi {
			return high + 1, nil
		}
		for id := lo; id <= hi; id++ {
			if !used[id] {
				return id, nil
			}
		}
	}
	return 0, fmt.Errorf("%w: every id in %d..%d is taken", ErrNoFreeID, lo, hi)
}

// homeMode is useradd's mode for a new home: HOME_MODE, else 0777 minus
// UMASK, else 0700.
func homeMode(defs guestetc.LoginDefs) fs.FileMode {
	if m := defs.Int("HOME_MODE", -1); m >= 0 && m <= 0o777 {
		return fs.FileMode(m)
	}
	if m := defs.Int("UMASK", -1); m >= 0 && m <= 0o777 {
		return fs.FileMode(0o777 &^ m)
	}
	return 0o700
}

// planHome creates a missing home, owned by the user, and copies /etc/skel
// into it. An existing directory is kept as it is, as useradd keeps it.
func (p *planner) planHome(ctx context.Context, item Item, home string, mode fs.FileMode, uid, gid int) error {
	info, err := p.fsys.Stat(ctx, home)
	switch {
	case err == nil && info.IsDir():
		m, u, g := modeOwner(info)
		p.add(step{op: opNone, change: Change{Item: item, Path: home, Action: ActionKeep, Mode: m, UID: u, GID: g, Detail: "the home directory exists; /etc/skel not copied"}})
		return nil
	case err == nil:
		return itemErrf(item, home, ErrUnsafe, "a %v is where the home directory goes", info.Mode().Type())
	case !isNotExist(err):
		return itemErr(item, home, err)
	}
	if err := p.claim(item, home); err != nil {
		return err
	}
	if err := p.ensureParent(ctx, item, home, 0o755, -1, -1); err != nil {
		return err
	}
	if err := p.ensureDir(ctx, item, home, mode, uid, gid); err != nil {
		return err
	}
	// A mode differing from what MkdirAll leaves after the umask is set.
	p.add(step{op: opChmod, change: Change{Item: item, Path: home, Action: ActionChmod, Mode: mode, UID: uid, GID: gid}})
	skel, err := p.fsys.Stat(ctx, skelDir)
	switch {
	case isNotExist(err):
		return nil
	case err != nil:
		return itemErr(item, skelDir, err)
	case !skel.IsDir():
		return itemErrf(item, skelDir, ErrUnsafe, "/etc/skel is a %v", skel.Mode().Type())
	}
	budget := skelBudget{entries: maxSkelEntries, bytes: maxSkelBytes}
	return p.copySkel(ctx, item, skelDir, home, uid, gid, &budget)
}

type skelBudget struct{ entries, bytes int64 }

// copySkel copies the tree below src to dst: regular files, directories
// and symlinks (as links, never followed), owned by the user, set-id bits
// dropped. Anything else is refused, and so is a tree beyond the bounds.
func (p *planner) copySkel(ctx context.Context, item Item, src, dst string, uid, gid int, b *skelBudget) error {
	entries, err := p.fsys.ReadDir(ctx, src)
	if err != nil {
		return itemErr(item, src, err)
	}
	for _, e := range entries {
		if b.entries--; b.entries < 0 {
			return itemErr(item, skelDir, fmt.Errorf("%w: more than %d entries", vfs.ErrTooLarge, maxSkelEntries))
		}
		from, to := vfs.Join(src, e.Name()), vfs.Join(dst, e.Name())
		if err := vfs.CheckPath("skel", to); err != nil {
			return itemErr(item, from, err)
		}
		info, err := p.fsys.Lstat(ctx, from)
		if err != nil {
			return itemErr(item, from, err)
		}
		perm := info.Mode().Perm()
		switch t := info.Mode().Type(); {
		case t == fs.ModeDir:
			p.add(step{op: opMkdirAll, change: Change{Item: item, Path: to, Action: ActionMkdir, Mode: perm, UID: uid, GID: gid}})
			p.add(step{op: opChown, change: Change{Item: item, Path: to, Action: ActionChown, Mode: perm, UID: uid, GID: gid}})
			p.add(step{op: opChmod, change: Change{Item: item, Path: to, Action: ActionChmod, Mode: perm, UID: uid, GID: gid}})
			p.created = append(p.created, to)
			if err := p.copySkel(ctx, item, from, to, uid, gid, b); err != nil {
				return err
			}
		case t == fs.ModeSymlink:
			if _, ok := p.guest.(vfs.SymlinkFS); !ok {
				return itemErrf(item, from, ErrUnsupported, "the backend cannot create symlinks")
			}
			target, err := p.fsys.Readlink(ctx, from)
			if err != nil {
				return itemErr(item, from, err)
			}
			p.add(step{op: opSymlink, change: Change{Item: item, Path: to, Action: ActionSymlink, Target: target, Mode: fs.ModeSymlink | 0o777}})
			p.add(step{op: opChown, change: Change{Item: item, Path: to, Action: ActionChown, Mode: fs.ModeSymlink | 0o777, UID: uid, GID: gid}})
			p.created = append(p.created, to)
		case t == 0:
			if info.Size() > b.bytes {
				return itemErr(item, from, fmt.Errorf("%w: /etc/skel holds more than %d bytes", vfs.ErrTooLarge, maxSkelBytes))
			}
			data, err := vfs.ReadFile(ctx, p.fsys, from, b.bytes)
			if err != nil {
				return itemErr(item, from, err)
			}
			b.bytes -= int64(len(data))
			p.writeFile(item, to, nil, data, perm, uid, gid)
		default:
			return itemErr(item, from, fmt.Errorf("%w: %w: /etc/skel holds a %v", ErrUnsafe, vfs.ErrNotRegular, t))
		}
	}
	return nil
}
