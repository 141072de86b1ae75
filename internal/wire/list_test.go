package wire

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestCountElements(t *testing.T) {
	for in, want := range map[string]int{
		`[]`: 0, ` [ ] `: 0, `null`: 0, `[1]`: 1, `[1,2,3]`: 3, `[{"a":[1,2]},{"b":"x,y"}]`: 2,
		`["a\",b", "c"]`: 2, `[[],[],[]]`: 3, `[{}]`: 1, `["\\",","]`: 2,
	} {
		if got := countElements([]byte(in)); got != want {
			t.Errorf("countElements(%s) = %d, want %d", in, got, want)
		}
	}
}

func TestListDecodesUpToItsBound(t *testing.T) {
	var r Response
	ok := `{"names":[` + strings.TrimSuffix(strings.Repeat(`"user.a",`, MaxXattrNames), ",") + `]}`
	if err := Decode([]byte(ok), &r); err != nil || len(r.Names) != MaxXattrNames {
		t.Fatalf("a list at its bound: %d names, %v", len(r.Names), err)
	}
	over := `{"names":[` + strings.Repeat(`"user.a",`, MaxXattrNames) + `"user.b"]}`
	if err := Decode([]byte(over), &r); !errors.Is(err, ErrProtocol) {
		t.Fatalf("a list past its bound: %v", err)
	}
	if err := Decode([]byte(`{"entries":[{"name":"a","mode":420,"evil":1}]}`), &r); !errors.Is(err, ErrProtocol) {
		t.Fatalf("an unknown field inside a list: %v", err)
	}
	if err := Decode([]byte(`{"entries":null}`), &r); err != nil || r.Entries != nil {
		t.Fatalf("a null list: %v %v", r.Entries, err)
	}
}

// FuzzCountElements checks countElements against encoding/json on every
// valid JSON array: the count that decides whether a list is decoded must
// be the list's length.
func FuzzCountElements(f *testing.F) {
	for _, seed := range []string{`[]`, `[1,2]`, `[{"a":[1,{}]},"x,]y",null]`, `["\\",",\""]`, ` [ [ ] , { } ] `} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var elems []json.RawMessage
		if json.Unmarshal(data, &elems) != nil || elems == nil {
			return
		}
		if got := countElements(data); got != len(elems) {
			t.Fatalf("countElements(%q) = %d, want %d", data, got, len(elems))
		}
	})
}
