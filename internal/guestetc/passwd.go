package guestetc

import (
	"fmt"
	"strconv"
)

// MaxID is the largest user or group id accepted; 4294967295 is (uid_t)-1,
// which the kernel reserves.
const MaxID = 1<<32 - 2

// User is one /etc/passwd entry.
type User struct {
	Name     string
	Password string // "x" when the hash is in /etc/shadow
	UID, GID int
	GECOS    string
	Home     string
	Shell    string
}

// Passwd is a parsed /etc/passwd.
type Passwd struct{ *Table }

// ParsePasswd indexes an /etc/passwd file.
func ParsePasswd(data []byte) *Passwd { return &Passwd{ParseTable("passwd", data)} }

// User returns the entry of the only line naming name.
func (p *Passwd) User(name string) (User, error) {
	f, err := p.Fields(name)
	if err != nil {
		return User{}, err
	}
	if len(f) != 7 {
		return User{}, &EntryError{File: "passwd", Name: name, Err: fmt.Errorf("%w: %d fields, want 7", ErrMalformed, len(f))}
	}
	uid, err := ParseID(f[2])
	if err != nil {
		return User{}, &EntryError{File: "passwd", Name: name, Err: fmt.Errorf("%w: uid: %v", ErrMalformed, err)}
	}
	gid, err := ParseID(f[3])
	if err != nil {
		return User{}, &EntryError{File: "passwd", Name: name, Err: fmt.Errorf("%w: gid: %v", ErrMalformed, err)}
	}
	return User{Name: f[0], Password: f[1], UID: uid, GID: gid, GECOS: f[4], Home: f[5], Shell: f[6]}, nil
}

// SetPassword returns p with the password field of name set to value.
func (p *Passwd) SetPassword(name, value string) (*Passwd, error) {
	t, err := p.SetField(name, 1, value)
	if err != nil {
		return nil, err
	}
	return &Passwd{t}, nil
}

// ParseID parses a decimal user or group id in [0, MaxID].
func ParseID(s string) (int, error) {
	if s == "" || len(s) > 10 {
		return 0, fmt.Errorf("invalid id %q", s)
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("invalid id %q", s)
		}
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n > MaxID {
		return 0, fmt.Errorf("id %q out of range", s)
	}
	return int(n), nil
}
