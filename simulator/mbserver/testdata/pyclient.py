"""Independent Modbus client for the Go tests: pymodbus 3.0 (Debian's
python3-pymodbus). Usage: pyclient.py MODE TARGET OPS_JSON

MODE is tcp, rtu-over-tcp or rtu; TARGET is host:port, or a serial device
for rtu. OPS_JSON is a list of [op, unit, address, arg] with op one of
read_coils, read_discrete, read_holding, read_input (arg: count),
write_coil (arg: bool), write_coils (arg: list of bools), write_register
(arg: int), write_registers (arg: list of ints). One JSON line is printed
per op: {"values": [...]} on success, {"exception": code} for a Modbus
exception, {"error": text} when no valid answer came.
"""
import json
import logging
import sys

from pymodbus.client import ModbusSerialClient, ModbusTcpClient
from pymodbus.pdu import ExceptionResponse
from pymodbus.transaction import ModbusRtuFramer

logging.disable(logging.CRITICAL)  # pymodbus logs timeouts as errors
# Whole seconds: pymodbus 3.0 fails to connect with a fractional timeout
# ("Operation now in progress").


def main():
    mode, target, ops = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    if mode == "rtu":
        client = ModbusSerialClient(port=target, baudrate=9600, parity="N", timeout=1, retries=0)
    else:
        host, port = target.rsplit(":", 1)
        framer = {"tcp": None, "rtu-over-tcp": ModbusRtuFramer}[mode]
        kwargs = {"framer": framer} if framer else {}
        client = ModbusTcpClient(host, port=int(port), timeout=1, retries=0, **kwargs)
    if not client.connect():
        print(json.dumps({"error": "connect failed"}))
        return 1
    for op, unit, address, arg in ops:
        try:
            rr = call(client, op, unit, address, arg)
        except Exception as e:  # pymodbus raises on timeouts and bad frames
            print(json.dumps({"error": f"{type(e).__name__}: {e}"}), flush=True)
            continue
        if isinstance(rr, ExceptionResponse):
            print(json.dumps({"exception": rr.exception_code}), flush=True)
        elif rr.isError():
            print(json.dumps({"error": str(rr)}), flush=True)
        elif hasattr(rr, "registers"):
            print(json.dumps({"values": list(rr.registers)}), flush=True)
        elif hasattr(rr, "bits") and op.startswith("read"):
            print(json.dumps({"values": [int(b) for b in rr.bits[:arg]]}), flush=True)
        else:
            print(json.dumps({"values": []}), flush=True)
    client.close()
    return 0


def call(c, op, unit, address, arg):
    if op == "read_coils":
        return c.read_coils(address, arg, slave=unit)
    if op == "read_discrete":
        return c.read_discrete_inputs(address, arg, slave=unit)
    if op == "read_holding":
        return c.read_holding_registers(address, arg, slave=unit)
    if op == "read_input":
        return c.read_input_registers(address, arg, slave=unit)
    if op == "write_coil":
        return c.write_coil(address, arg, slave=unit)
    if op == "write_coils":
        return c.write_coils(address, arg, slave=unit)
    if op == "write_register":
        return c.write_register(address, arg, slave=unit)
    if op == "write_registers":
        return c.write_registers(address, arg, slave=unit)
    raise ValueError(op)


if __name__ == "__main__":
    sys.exit(main())
