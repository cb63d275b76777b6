package mbserver

import (
	"fmt"
	"sync"
)

// Table names one of the four Modbus data tables.
type Table uint8

// The zero Table is invalid on purpose, so a forgotten field is caught.
const (
	Coils Table = iota + 1
	DiscreteInputs
	HoldingRegisters
	InputRegisters
)

func (t Table) String() string {
	switch t {
	case Coils:
		return "coils"
	case DiscreteInputs:
		return "discrete inputs"
	case HoldingRegisters:
		return "holding registers"
	case InputRegisters:
		return "input registers"
	}
	return fmt.Sprintf("table(%d)", uint8(t))
}

// Device is the data of one unit id. The server calls it from one goroutine
// per connection, so implementations must be safe for concurrent use. Errors
// that are (or wrap) an *Exception are answered with its code, any other
// error with ServerDeviceFailure. Quantities arrive already validated against
// the protocol limits; the device checks them against its own map.
type Device interface {
	// ReadBits reads Coils or DiscreteInputs; it returns exactly qty values.
	ReadBits(t Table, addr, qty uint16) ([]bool, error)
	// ReadRegisters reads HoldingRegisters or InputRegisters; it returns exactly qty values.
	ReadRegisters(t Table, addr, qty uint16) ([]uint16, error)
	// WriteBits writes coils.
	WriteBits(addr uint16, vals []bool) error
	// WriteRegisters writes holding registers.
	WriteRegisters(addr uint16, vals []uint16) error
}

// OnReadFunc observes a read served to a Modbus client. Exactly one of regs
// and bits is non-nil. It must not modify or keep the slices.
type OnReadFunc func(t Table, addr, qty uint16, regs []uint16, bits []bool)

// BankSize declares how many addresses each table of a Bank has (0..65536).
type BankSize struct {
	Coils, DiscreteInputs, HoldingRegisters, InputRegisters int
}

// Bank is a Device backed by four in-memory tables. Modbus clients read and
// write it through the server; the simulator sets values with SetBits and
// SetRegisters (which may also fill the read-only tables) and reads back what
// a client wrote with Bits and Registers.
type Bank struct {
	mu     sync.RWMutex
	bits   [2][]bool   // Coils, DiscreteInputs
	regs   [2][]uint16 // HoldingRegisters, InputRegisters
	onRead OnReadFunc
}

var _ Device = (*Bank)(nil)

// NewBank returns a zeroed bank. It panics on a size outside 0..65536, which
// is a programming error like a negative make.
func NewBank(size BankSize) *Bank {
	for _, n := range []int{size.Coils, size.DiscreteInputs, size.HoldingRegisters, size.InputRegisters} {
		if n < 0 || n > 1<<16 {
			panic(fmt.Sprintf("mbserver: bank table size %d outside 0..65536", n))
		}
	}
	return &Bank{
		bits: [2][]bool{make([]bool, size.Coils), make([]bool, size.DiscreteInputs)},
		regs: [2][]uint16{make([]uint16, size.HoldingRegisters), make([]uint16, size.InputRegisters)},
	}
}

// SetOnRead installs (or with nil removes) the read observer. It runs under
// the same lock as the read it reports, so it records exactly what was served
// even while the simulator updates values; reads hold a shared lock, so fn
// may run concurrently with itself.
func (b *Bank) SetOnRead(fn OnReadFunc) {
	b.mu.Lock()
	b.onRead = fn
	b.mu.Unlock()
}

func (b *Bank) bitTable(t Table, addr uint16, n int) ([]bool, error) {
	var tab []bool
	switch t {
	case Coils:
		tab = b.bits[0]
	case DiscreteInputs:
		tab = b.bits[1]
	default:
		return nil, fmt.Errorf("bank: %v is not a bit table", t)
	}
	if int(addr)+n > len(tab) {
		return nil, fmt.Errorf("bank: %v %d..%d beyond size %d: %w", t, addr, int(addr)+n-1, len(tab), IllegalDataAddress)
	}
	return tab[addr : int(addr)+n], nil
}

func (b *Bank) regTable(t Table, addr uint16, n int) ([]uint16, error) {
	var tab []uint16
	switch t {
	case HoldingRegisters:
		tab = b.regs[0]
	case InputRegisters:
		tab = b.regs[1]
	default:
		return nil, fmt.Errorf("bank: %v is not a register table", t)
	}
	if int(addr)+n > len(tab) {
		return nil, fmt.Errorf("bank: %v %d..%d beyond size %d: %w", t, addr, int(addr)+n-1, len(tab), IllegalDataAddress)
	}
	return tab[addr : int(addr)+n], nil
}

// ReadBits implements Device.
func (b *Bank) ReadBits(t Table, addr, qty uint16) ([]bool, error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	src, err := b.bitTable(t, addr, int(qty))
	if err != nil {
		return nil, err
	}
	out := append([]bool(nil), src...)
	if b.onRead != nil {
		b.onRead(t, addr, qty, nil, out)
	}
	return out, nil
}

// ReadRegisters implements Device.
func (b *Bank) ReadRegisters(t Table, addr, qty uint16) ([]uint16, error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	src, err := b.regTable(t, addr, int(qty))
	if err != nil {
		return nil, err
	}
	out := append([]uint16(nil), src...)
	if b.onRead != nil {
		b.onRead(t, addr, qty, out, nil)
	}
	return out, nil
}

// WriteBits implements Device: a client writes coils.
func (b *Bank) WriteBits(addr uint16, vals []bool) error {
	return b.SetBits(Coils, addr, vals)
}

// WriteRegisters implements Device: a client writes holding registers.
func (b *Bank) WriteRegisters(addr uint16, vals []uint16) error {
	return b.SetRegisters(HoldingRegisters, addr, vals)
}

// SetBits sets coils or discrete inputs from the simulator side; the write is
// atomic with respect to reads.
func (b *Bank) SetBits(t Table, addr uint16, vals []bool) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	dst, err := b.bitTable(t, addr, len(vals))
	if err != nil {
		return err
	}
	copy(dst, vals)
	return nil
}

// SetRegisters sets holding or input registers from the simulator side; the
// write is atomic with respect to reads, so a multi-register value is never
// served half-updated.
func (b *Bank) SetRegisters(t Table, addr uint16, vals []uint16) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	dst, err := b.regTable(t, addr, len(vals))
	if err != nil {
		return err
	}
	copy(dst, vals)
	return nil
}

// Bits returns a copy of qty coils or discrete inputs without notifying OnRead.
func (b *Bank) Bits(t Table, addr, qty uint16) ([]bool, error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	src, err := b.bitTable(t, addr, int(qty))
	if err != nil {
		return nil, err
	}
	return append([]bool(nil), src...), nil
}

// Registers returns a copy of qty holding or input registers without notifying OnRead.
func (b *Bank) Registers(t Table, addr, qty uint16) ([]uint16, error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	src, err := b.regTable(t, addr, int(qty))
	if err != nil {
		return nil, err
	}
	return append([]uint16(nil), src...), nil
}
