package guest

import (
	"debug/elf"
	"encoding/binary"
	"fmt"
	"runtime"
)

// ELFHeaderSize is what CheckELF reads: the identification and the
// fields up to e_machine.
const ELFHeaderSize = 20

// Machine is the ELF class, byte order and machine of the programs the
// appliance kernel runs.
type Machine struct {
	Class   elf.Class
	Data    elf.Data
	Machine elf.Machine
}

// HostMachine returns the machine the agent itself is built for, which
// is the appliance kernel's; ok is false on an architecture it does not
// know.
func HostMachine() (m Machine, ok bool) {
	switch runtime.GOARCH {
	case "amd64":
		return Machine{elf.ELFCLASS64, elf.ELFDATA2LSB, elf.EM_X86_64}, true
	case "arm64":
		return Machine{elf.ELFCLASS64, elf.ELFDATA2LSB, elf.EM_AARCH64}, true
	}
	return Machine{}, false
}

// CheckELF checks that header, the first bytes of a program, is an ELF
// header for want. Its error says what the program is instead.
func CheckELF(header []byte, want Machine) error {
	if len(header) < 4 || string(header[:4]) != elf.ELFMAG {
		if len(header) >= 2 && string(header[:2]) == "#!" {
			return fmt.Errorf("a script, not an ELF program")
		}
		return fmt.Errorf("not an ELF program")
	}
	if len(header) < ELFHeaderSize {
		return fmt.Errorf("a truncated ELF header (%d bytes)", len(header))
	}
	class, data := elf.Class(header[elf.EI_CLASS]), elf.Data(header[elf.EI_DATA])
	var order binary.ByteOrder
	switch data {
	case elf.ELFDATA2LSB:
		order = binary.LittleEndian
	case elf.ELFDATA2MSB:
		order = binary.BigEndian
	default:
		return fmt.Errorf("an ELF program of unknown byte order %d", header[elf.EI_DATA])
	}
	machine := elf.Machine(order.Uint16(header[18:20]))
	if class != want.Class || data != want.Data || machine != want.Machine {
		return fmt.Errorf("an ELF program for %v (%v, %v), the appliance runs %v (%v, %v)",
			machine, class, data, want.Machine, want.Class, want.Data)
	}
	return nil
}
