package inject

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// Field names the part of a Spec an Item belongs to. Its values are the
// names used in reports and error messages.
type Field string

// Fields. Each is a Spec field.
const (
	FieldSSHKeys   Field = "ssh-keys"  // Spec.SSHKeys; Index and User are set
	FieldPasswords Field = "passwords" // Spec.Passwords; Index and User are set
	FieldNetwork   Field = "network"   // Spec.Network; Renderer is set on the files it writes
	FieldMetadata  Field = "metadata"  // Spec.Metadata
	FieldFiles     Field = "files"     // Spec.Files; Index is set
	// FieldCloudInit is Spec.CloudInit, the NoCloud seed.
	FieldCloudInit Field = "cloud-init"
	// FieldOperations is Spec.Operations; Index is set, and Name is the
	// kind of operation ("move", "append-line"...) when it has one.
	FieldOperations Field = "operations"
	FieldHostname   Field = "hostname" // Spec.Hostname
	FieldTimezone   Field = "timezone" // Spec.Timezone
	FieldLocale     Field = "locale"   // Spec.Locale
	FieldKeymap     Field = "keymap"   // Spec.Keymap
	// FieldUsers is Spec.Users; Index and User (the new user's name) are
	// set.
	FieldUsers Field = "users"
	// FieldGroupMembers is Spec.GroupMembers; Index and User are set, and
	// Name is the group.
	FieldGroupMembers Field = "group-members"
	// FieldFirstBoot is Spec.FirstBoot: one command (Index set, and Name
	// when the command's name is valid) or, with Index -1, what runs them
	// all (the runner script, its unit or init script, the boot hook).
	FieldFirstBoot Field = "first-boot"
	// FieldSELinux is Spec.SELinux: the relabelling of the files and
	// directories the plan creates (or of the whole filesystem), now with
	// the guest's setfiles or at first boot, which Plan adds on a guest
	// with SELinux.
	FieldSELinux Field = "selinux"
	// FieldReset is Spec.Reset; Name is the reset operation
	// ("machine-id", "logfiles"...) a change serves.
	FieldReset Field = "reset"
)

// fieldShape is what an Item of a field carries.
type fieldShape struct {
	list     bool // entries are named by Index
	whole    bool // an Item may also name the list as a whole (Index -1)
	user     bool // User is set
	name     bool // Name may be set
	renderer bool // Renderer may be set
}

var fieldShapes = map[Field]fieldShape{
	FieldSSHKeys:      {list: true, user: true},
	FieldPasswords:    {list: true, user: true},
	FieldNetwork:      {renderer: true},
	FieldMetadata:     {},
	FieldFiles:        {list: true},
	FieldCloudInit:    {},
	FieldOperations:   {list: true, name: true},
	FieldHostname:     {},
	FieldTimezone:     {},
	FieldLocale:       {},
	FieldKeymap:       {},
	FieldUsers:        {list: true, user: true},
	FieldGroupMembers: {list: true, user: true, name: true},
	FieldFirstBoot:    {list: true, whole: true, name: true},
	FieldSELinux:      {},
	FieldReset:        {name: true},
}

// Item names the spec item a Change serves or an ItemError is about, so a
// caller can map either back to its Spec entry without parsing text.
//
// One change can serve several entries: the keys of one user, from however
// many SSHKeys entries, go into one authorized_keys write, and all
// passwords into one /etc/shadow write. Such a change names the first
// entry involved. The zero Item names nothing.
type Item struct {
	// Field is the part of the Spec.
	Field Field
	// Index is the entry's position in a list field (SSHKeys, Passwords,
	// Files, Operations, FirstBoot), or -1 for a field that is not a list or for what
	// serves the whole list (FirstBoot's boot hook).
	Index int
	// User is the guest user of an SSHKeys or Passwords entry, "root" when
	// the entry leaves it empty.
	User string
	// Name is the name of a FirstBoot command, when it is a valid one,
	// the kind of an Operations entry, or the operation of a Reset.
	Name string
	// Renderer is the network format a FieldNetwork change writes or error
	// is about; empty before the format is chosen (an invalid Network, a
	// guest whose format cannot be detected).
	Renderer Renderer
}

// singleItem names a field that is not a list, or a list as a whole.
func singleItem(f Field) Item { return Item{Field: f, Index: -1} }

// listItem names entry i of a list field.
func listItem(f Field, i int) Item { return Item{Field: f, Index: i} }

// String returns the item as reports and error messages show it:
// "files[2]", "ssh-keys[0] (root)", "first-boot[1] (setup)",
// "network (netplan)", "hostname", "group-members[0] (alice in wheel)".
// The zero Item is "".
func (i Item) String() string {
	if i.Field == "" {
		return ""
	}
	s := string(i.Field)
	if i.Index >= 0 {
		s += "[" + strconv.Itoa(i.Index) + "]"
	}
	switch {
	case i.User != "" && i.Name != "":
		s += " (" + i.User + " in " + i.Name + ")"
	case i.User != "":
		s += " (" + i.User + ")"
	case i.Name != "":
		s += " (" + i.Name + ")"
	case i.Renderer != "":
		s += " (" + string(i.Renderer) + ")"
	}
	return s
}

// itemJSON is the JSON form of an Item. Index is a pointer because 0 is a
// real index: it is omitted only for -1.
type itemJSON struct {
	Field    Field    `json:"field"`
	Index    *int     `json:"index,omitempty"`
	User     string   `json:"user,omitempty"`
	Name     string   `json:"name,omitempty"`
	Renderer Renderer `json:"renderer,omitempty"`
}

// MarshalJSON writes the item as an object, e.g.
// {"field":"passwords","index":0,"user":"root"} or {"field":"hostname"}:
// "index" is present exactly for a list entry (0 included), and empty
// strings are left out. The zero Item is null.
func (i Item) MarshalJSON() ([]byte, error) {
	if i.Field == "" {
		return []byte("null"), nil
	}
	out := itemJSON{Field: i.Field, User: i.User, Name: i.Name, Renderer: i.Renderer}
	if i.Index >= 0 {
		out.Index = &i.Index
	}
	return json.Marshal(out)
}

// ErrUnknownItem is returned by Item.UnmarshalJSON for an item this
// version of the package does not know or could not have written.
var ErrUnknownItem = errors.New("unknown spec item")

// UnmarshalJSON reads the form MarshalJSON writes; a missing "index" is
// -1. So that a consumer never maps a change to the wrong Spec entry, it
// refuses with ErrUnknownItem what this package could not have written: a
// field it does not know, an index on a field that is not a list or none
// on one that needs it, a negative index, a missing user on ssh-keys and
// passwords, and a user, name or renderer on a field without one. null
// leaves the Item unchanged; unknown keys are ignored.
func (i *Item) UnmarshalJSON(data []byte) error {
	if string(data) == "null" {
		return nil
	}
	var in itemJSON
	if err := json.Unmarshal(data, &in); err != nil {
		return err
	}
	shape, known := fieldShapes[in.Field]
	switch {
	case !known:
		return fmt.Errorf("%w: field %q", ErrUnknownItem, in.Field)
	case in.Index != nil && *in.Index < 0:
		return fmt.Errorf("%w: %s: negative index %d", ErrUnknownItem, in.Field, *in.Index)
	case in.Index != nil && !shape.list:
		return fmt.Errorf("%w: %s is not a list, yet has index %d", ErrUnknownItem, in.Field, *in.Index)
	case in.Index == nil && shape.list && !shape.whole:
		return fmt.Errorf("%w: %s is a list, yet no index is given", ErrUnknownItem, in.Field)
	case in.User == "" && shape.user:
		return fmt.Errorf("%w: %s without a user", ErrUnknownItem, in.Field)
	case in.User != "" && !shape.user:
		return fmt.Errorf("%w: %s has no user, yet %q is given", ErrUnknownItem, in.Field, in.User)
	case in.Name != "" && (!shape.name || (shape.list && in.Index == nil)):
		return fmt.Errorf("%w: %s has no name, yet %q is given", ErrUnknownItem, in.Field, in.Name)
	case in.Renderer != "" && !shape.renderer:
		return fmt.Errorf("%w: %s has no renderer, yet %q is given", ErrUnknownItem, in.Field, in.Renderer)
	}
	*i = Item{Field: in.Field, Index: -1, User: in.User, Name: in.Name, Renderer: in.Renderer}
	if in.Index != nil {
		i.Index = *in.Index
	}
	return nil
}
