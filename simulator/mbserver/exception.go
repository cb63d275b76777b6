package mbserver

import "fmt"

// Exception is a Modbus exception response. A Device returns one (or an error
// wrapping one) to make the server answer with that exception code; any other
// error is answered with ServerDeviceFailure.
type Exception struct {
	Code byte
}

// The exception codes a device or the protocol layer can raise (Modbus
// Application Protocol v1.1b3, section 7). They are sentinels: compare with
// errors.Is, which matches any *Exception carrying the same code.
var (
	IllegalFunction     = &Exception{Code: 1}
	IllegalDataAddress  = &Exception{Code: 2}
	IllegalDataValue    = &Exception{Code: 3}
	ServerDeviceFailure = &Exception{Code: 4}
	ServerDeviceBusy    = &Exception{Code: 6}
)

func (e *Exception) Error() string {
	switch e.Code {
	case 1:
		return "modbus exception 1 (illegal function)"
	case 2:
		return "modbus exception 2 (illegal data address)"
	case 3:
		return "modbus exception 3 (illegal data value)"
	case 4:
		return "modbus exception 4 (server device failure)"
	case 5:
		return "modbus exception 5 (acknowledge)"
	case 6:
		return "modbus exception 6 (server device busy)"
	case 8:
		return "modbus exception 8 (memory parity error)"
	case 10:
		return "modbus exception 10 (gateway path unavailable)"
	case 11:
		return "modbus exception 11 (gateway target device failed to respond)"
	}
	return fmt.Sprintf("modbus exception %d", e.Code)
}

// Is makes errors.Is compare exceptions by code, so a device may build its own
// &Exception{Code: 2} and still match IllegalDataAddress.
func (e *Exception) Is(target error) bool {
	t, ok := target.(*Exception)
	return ok && t != nil && t.Code == e.Code
}
