package guest

import (
	"debug/elf"
	"encoding/binary"
	"strings"
	"testing"
)

func elfHeader(class elf.Class, data elf.Data, machine elf.Machine) []byte {
	h := make([]byte, 64)
	copy(h, elf.ELFMAG)
	h[elf.EI_CLASS], h[elf.EI_DATA], h[elf.EI_VERSION] = byte(class), byte(data), 1
	var order binary.ByteOrder = binary.LittleEndian
	if data == elf.ELFDATA2MSB {
		order = binary.BigEndian
	}
	order.PutUint16(h[16:], uint16(elf.ET_EXEC))
	order.PutUint16(h[18:], uint16(machine))
	return h
}

func TestCheckELF(t *testing.T) {
	x86 := Machine{elf.ELFCLASS64, elf.ELFDATA2LSB, elf.EM_X86_64}
	for _, tc := range []struct {
		name   string
		header []byte
		want   string // "" for accepted
	}{
		{"x86-64", elfHeader(elf.ELFCLASS64, elf.ELFDATA2LSB, elf.EM_X86_64), ""},
		{"aarch64", elfHeader(elf.ELFCLASS64, elf.ELFDATA2LSB, elf.EM_AARCH64), "EM_AARCH64"},
		{"i386", elfHeader(elf.ELFCLASS32, elf.ELFDATA2LSB, elf.EM_386), "EM_386"},
		{"s390x", elfHeader(elf.ELFCLASS64, elf.ELFDATA2MSB, elf.EM_S390), "EM_S390"},
		{"x86-64 machine, big-endian", elfHeader(elf.ELFCLASS64, elf.ELFDATA2MSB, elf.EM_X86_64), "ELFDATA2MSB"},
		{"bad byte order", elfHeader(elf.ELFCLASS64, 7, elf.EM_X86_64), "unknown byte order"},
		{"truncated", elfHeader(elf.ELFCLASS64, elf.ELFDATA2LSB, elf.EM_X86_64)[:12], "truncated"},
		{"script", []byte("#!/bin/bash\n"), "script"},
		{"empty", nil, "not an ELF"},
		{"text", []byte("hello world, not a program"), "not an ELF"},
	} {
		err := CheckELF(tc.header, x86)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: got %v, want an error saying %q", tc.name, err, tc.want)
		}
	}
}

func FuzzCheckELF(f *testing.F) {
	f.Add(elfHeader(elf.ELFCLASS64, elf.ELFDATA2LSB, elf.EM_X86_64))
	f.Add(elfHeader(elf.ELFCLASS32, elf.ELFDATA2MSB, elf.EM_PPC))
	f.Add([]byte("#!"))
	want, ok := HostMachine()
	if !ok {
		f.Skip("unknown architecture")
	}
	f.Fuzz(func(t *testing.T, header []byte) {
		err := CheckELF(header, want)
		if err == nil && (len(header) < ELFHeaderSize || string(header[:4]) != elf.ELFMAG) {
			t.Fatalf("accepted %x", header)
		}
	})
}
