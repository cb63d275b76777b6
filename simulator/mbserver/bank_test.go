package mbserver

import (
	"errors"
	"reflect"
	"sync"
	"testing"
)

func TestBankBounds(t *testing.T) {
	t.Parallel()
	b := NewBank(BankSize{Coils: 8, DiscreteInputs: 0, HoldingRegisters: 10, InputRegisters: 1 << 16})
	tests := []struct {
		name string
		call func() error
		want error // nil, an exception, or errAny for a plain error
	}{
		{"last holding register", func() error { _, err := b.ReadRegisters(HoldingRegisters, 9, 1); return err }, nil},
		{"one past holding registers", func() error { _, err := b.ReadRegisters(HoldingRegisters, 9, 2); return err }, IllegalDataAddress},
		{"empty discrete inputs", func() error { _, err := b.ReadBits(DiscreteInputs, 0, 1); return err }, IllegalDataAddress},
		{"whole input register map", func() error { _, err := b.ReadRegisters(InputRegisters, 0, 125); return err }, nil},
		{"top input register", func() error { _, err := b.Registers(InputRegisters, 0xFFFF, 1); return err }, nil},
		{"write coils to the end", func() error { return b.WriteBits(6, []bool{true, true}) }, nil},
		{"write coils past the end", func() error { return b.WriteBits(7, []bool{true, true}) }, IllegalDataAddress},
		{"set registers past the end", func() error { return b.SetRegisters(HoldingRegisters, 10, []uint16{1}) }, IllegalDataAddress},
		{"registers of a bit table", func() error { _, err := b.ReadRegisters(Coils, 0, 1); return err }, errAny},
		{"bits of a register table", func() error { return b.SetBits(InputRegisters, 0, []bool{true}) }, errAny},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			switch {
			case tt.want == nil && err != nil:
				t.Fatalf("unexpected error %v", err)
			case tt.want == errAny:
				var ex *Exception
				if err == nil || errors.As(err, &ex) {
					t.Fatalf("error = %v, want a plain error (exception 4)", err)
				}
			case tt.want != nil && !errors.Is(err, tt.want):
				t.Fatalf("error = %v, want %v", err, tt.want)
			}
		})
	}
	if got, _ := b.Bits(Coils, 0, 8); !reflect.DeepEqual(got, []bool{false, false, false, false, false, false, true, true}) {
		t.Errorf("coils = %v", got)
	}
}

var errAny = errors.New("any non-exception error")

func TestBankSizePanics(t *testing.T) {
	t.Parallel()
	defer func() {
		if recover() == nil {
			t.Error("NewBank with 65537 registers did not panic")
		}
	}()
	NewBank(BankSize{HoldingRegisters: 1<<16 + 1})
}

// TestBankOnRead checks that the observer sees exactly what each read
// served, even while the simulator rewrites a two-register value.
func TestBankOnRead(t *testing.T) {
	t.Parallel()
	b := NewBank(BankSize{HoldingRegisters: 2, DiscreteInputs: 3})
	var mu sync.Mutex
	var served [][]uint16
	b.SetOnRead(func(tab Table, addr, qty uint16, regs []uint16, bits []bool) {
		if tab == HoldingRegisters {
			mu.Lock()
			served = append(served, append([]uint16(nil), regs...))
			mu.Unlock()
		}
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range uint16(2000) {
			b.SetRegisters(HoldingRegisters, 0, []uint16{i, i})
		}
	}()
	var got [][]uint16
	for range 500 {
		regs, err := b.ReadRegisters(HoldingRegisters, 0, 2)
		if err != nil {
			t.Fatal(err)
		}
		if regs[0] != regs[1] {
			t.Fatalf("torn read %v", regs)
		}
		got = append(got, regs)
	}
	<-done
	mu.Lock()
	defer mu.Unlock()
	if !reflect.DeepEqual(served, got) {
		t.Errorf("OnRead saw %d reads differing from the %d served", len(served), len(got))
	}

	b.SetOnRead(nil)
	if _, err := b.ReadBits(DiscreteInputs, 0, 3); err != nil {
		t.Fatal(err)
	}
}
