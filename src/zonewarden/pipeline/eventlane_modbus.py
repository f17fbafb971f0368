"""The event lane's Modbus/TCP encoder: the events protocols/modbus/analyzer.py emits, written in compiled code.

It writes reads and writes of coils and registers (functions 1-6, 15, 16), their responses and exception
responses, matched by (transaction id, unit id) as the analyzer matches them, and the anomaly of a response
to no request (a capture that began between a request and its response). It refuses (see eventlane_layout)
whatever would make the analyzer report another anomaly (a length problem, a mismatched response, a reused
transaction id), any other function, and more than MAX_PENDING requests outstanding at once.
"""

# mypy: disallow-untyped-calls=False, warn-return-any=False, disable-error-code="assignment,return-value"

from __future__ import annotations

import numpy as np
from numba import njit

from zonewarden.json_bytes import UNCOUNTED, lit, name_table, write_bytes, write_name, write_null, write_opt, write_uint
from zonewarden.pipeline.eventlane_json import be16, begin_anomaly, begin_event
from zonewarden.pipeline.eventlane_layout import ENC_FULL, ENC_OK, ENC_REFUSE
from zonewarden.protocols.modbus.codes import FUNCTIONS

MBAP_LEN = 7
SPEC_MAX_MBAP_LENGTH = 254  # modbus/wire.py: above it the analyzer reports oversized_pdu
MAX_PENDING = 16  # requests outstanding (the analyzer allows 256; past 16 the flow is refused)
SLOT = 5  # st[1 + k * SLOT + ...]: key (transaction id * 256 + unit id), function, address, quantity, frame
NONE = -1
# The largest event (with an anomaly before it): 251 data bytes of coils as 2008 values of "0,", the fields.
MAX_EVENT = 5500

FUNCTION_NAMES, FUNCTION_OFFSETS = name_table(FUNCTIONS, 128)
K_TRANSACTION = lit(',"transaction_id":')
K_UNIT = lit(',"unit_id":')
K_FC = lit(',"function_code":')
K_FUNCTION = lit(',"function":')
K_EXCEPTION = lit(',"exception_code":')
K_ADDRESS = lit(',"address":')
K_QUANTITY = lit(',"quantity":')
K_VALUES = lit(',"values":')
K_TAIL = lit(',"sub_function":null,"mei_type":null,"device_id":null,"request_frame":')
K_END = lit("}\n")
K_UNMATCHED = lit(',"anomaly":"modbus.unmatched_response","detail":"no request with transaction id ')
K_ANOMALY_END = lit('"}\n')


@njit(**UNCOUNTED)
def _words(out, pos, data, start, stop):  # type: ignore[no-untyped-def]
    """Big-endian 16-bit values of data[start:stop] (an odd last byte ignored) as a JSON list."""
    out[pos] = 91
    pos += 1
    k = start
    while k + 2 <= stop:
        if k > start:
            out[pos] = 44
            pos += 1
        pos = write_uint(out, pos, be16(data, k))
        k += 2
    out[pos] = 93
    return pos + 1


@njit(**UNCOUNTED)
def _bits(out, pos, data, start, stop, count):  # type: ignore[no-untyped-def]
    """The bits of data[start:stop], least significant first, at most ``count`` (-1: all), as a JSON list."""
    out[pos] = 91
    pos += 1
    n = 0
    for k in range(start, stop):
        for b in range(8):
            if n == count:
                break
            if n:
                out[pos] = 44
                pos += 1
            out[pos] = 48 + ((data[k] >> b) & 1)
            pos += 1
            n += 1
    out[pos] = 93
    return pos + 1


@njit(**UNCOUNTED)
def _find(st, key):  # type: ignore[no-untyped-def]
    for k in range(st[0]):
        if st[1 + k * SLOT] == key:
            return k
    return -1


@njit(**UNCOUNTED)
def encode_modbus(data, off, end, side, ts_ns, frame, hdr, st, sb, out, pos):  # type: ignore[no-untyped-def]
    p = off
    while p < end:
        if p + MBAP_LEN > end:
            return ENC_REFUSE, pos  # an ADU across payloads (or a stray tail): the analyzer buffers it
        tid = be16(data, p)
        pid = be16(data, p + 2)
        length = be16(data, p + 4)
        unit = np.int64(data[p + 6])
        if pid != 0 or length < 2 or length > SPEC_MAX_MBAP_LENGTH:
            return ENC_REFUSE, pos
        stop = p + 6 + length
        if stop > end:
            return ENC_REFUSE, pos
        if pos + MAX_EVENT > out.shape[0]:
            return ENC_FULL, pos
        fc = np.int64(data[p + MBAP_LEN])
        body = p + MBAP_LEN + 1  # data after the function code
        n = stop - body
        key = tid * 256 + unit
        address = quantity = exception = request_frame = NONE
        values = 0  # 0 none, 1 words, 2 bits (all), 3 bits (quantity), 4 single coil, 5 single register
        vstart, vstop = body, stop
        if side == 0:
            if fc <= 4:
                if n != 4:
                    return ENC_REFUSE, pos
                address, quantity = be16(data, body), be16(data, body + 2)
            elif fc == 5 or fc == 6:
                if n != 4:
                    return ENC_REFUSE, pos
                address, quantity = be16(data, body), 1
                values = 4 if fc == 5 else 5
            elif fc == 15 or fc == 16:
                if n < 5 or n - 5 != data[body + 4]:
                    return ENC_REFUSE, pos
                address, quantity = be16(data, body), be16(data, body + 2)
                values = 3 if fc == 15 else 1
                vstart = body + 5
            else:
                return ENC_REFUSE, pos
            if fc == 0 or _find(st, key) >= 0 or st[0] >= MAX_PENDING:
                return ENC_REFUSE, pos
            s = 1 + st[0] * SLOT
            st[s], st[s + 1], st[s + 2], st[s + 3], st[s + 4] = key, fc, address, quantity, frame
            st[0] += 1
        else:
            k = _find(st, key)
            if k < 0:  # a response to a request before the capture began, typically
                pos = begin_anomaly(out, pos, hdr, side, ts_ns, True, frame)
                pos = write_bytes(out, pos, K_UNMATCHED)
                pos = write_uint(out, pos, tid)
                pos = write_bytes(out, pos, K_ANOMALY_END)
            else:
                s = 1 + k * SLOT
                if st[s + 1] != fc & 0x7F:
                    return ENC_REFUSE, pos  # function_mismatch
                address, quantity, request_frame = st[s + 2], st[s + 3], st[s + 4]
                for j in range(s, 1 + (st[0] - 1) * SLOT):  # keep the slots in order
                    st[j] = st[j + SLOT]
                st[0] -= 1
            if fc & 0x80:
                if n != 1:
                    return ENC_REFUSE, pos
                exception = np.int64(data[body])
            elif fc <= 4:
                if n < 1 or n - 1 != data[body]:
                    return ENC_REFUSE, pos
                values = 1 if fc >= 3 else 2
                vstart = body + 1
            elif fc == 5 or fc == 6 or fc == 15 or fc == 16:
                if n != 4:
                    return ENC_REFUSE, pos
                address = be16(data, body)
                quantity = be16(data, body + 2) if fc >= 15 else 1
                values = 4 if fc == 5 else (5 if fc == 6 else 0)
            else:
                return ENC_REFUSE, pos
        pos = begin_event(out, pos, hdr, side, ts_ns, side == 1, frame)
        pos = write_bytes(out, pos, K_TRANSACTION)
        pos = write_uint(out, pos, tid)
        pos = write_bytes(out, pos, K_UNIT)
        pos = write_uint(out, pos, unit)
        pos = write_bytes(out, pos, K_FC)
        pos = write_uint(out, pos, fc & 0x7F)
        pos = write_bytes(out, pos, K_FUNCTION)
        pos = write_name(out, pos, FUNCTION_NAMES, FUNCTION_OFFSETS, fc & 0x7F)
        pos = write_opt(out, pos, K_EXCEPTION, exception)
        pos = write_opt(out, pos, K_ADDRESS, address)
        pos = write_opt(out, pos, K_QUANTITY, quantity)
        pos = write_bytes(out, pos, K_VALUES)
        if values == 0:
            pos = write_null(out, pos)
        elif values == 1:
            pos = _words(out, pos, data, vstart, vstop)
        elif values == 2:
            pos = _bits(out, pos, data, vstart, vstop, -1)
        elif values == 3:
            pos = _bits(out, pos, data, vstart, vstop, quantity)
        else:
            v = be16(data, body + 2)
            out[pos] = 91
            pos = write_uint(out, pos + 1, (1 if v == 0xFF00 else 0) if values == 4 else v)
            out[pos] = 93
            pos += 1
        pos = write_opt(out, pos, K_TAIL, request_frame)
        pos = write_bytes(out, pos, K_END)
        p = stop
    return ENC_OK, pos
