"""The compiled tier of the OPC UA analyzer: the service, direction and flags of plain MSG chunks.

A crane HMI polls its PLC over OPC UA with the same few messages, Read and Publish requests and
their responses, many times a second; decoding each chunk in Python costs several microseconds.
``classify_pdu`` (the contract is in ``protocols/_pdu_kernel.py``; ``classify`` does the same
over arrays of PDUs) reads those chunks straight from the bytes the dispatcher's stream kernel
framed and writes the row the Python ``parse`` would have turned into an
``Operation``. It compiles only what it can reproduce exactly and hands everything else to
Python (``O_PYTHON``):

- compiled: single-chunk messages (``MSG``, chunk type ``F``) whose type id is a numeric NodeId
  of namespace 0 (encoding byte 0x01 or 0x02, as encoders write it), a service of the sender's
  direction (ServiceFault from either side, as in Python), and whose RequestHeader or
  ResponseHeader, and for Read, Browse, HistoryRead and CreateMonitoredItems requests the node
  list Python reads, decode exactly as Python's ``Reader`` decodes them (any byte Python would
  call malformed sends the chunk to Python, which reports the error). ``O_CODE`` is the type id,
  ``O_EXCEPTION`` the ServiceResult of a Bad response or of any ServiceFault, or the first Bad
  result of a Write response, and ``O_UNIT``/``O_LO``/``O_HI`` a target only where Python's is a
  run of consecutive numeric NodeIds of one namespace (``ns=2;i=7,ns=2;i=8``); other targets
  (string NodeIds, more than eight nodes) are not derivable and stay -1.
- handed to Python: HEL, ACK, ERR, RHE, OPN and CLO; intermediate and abort chunks (``C``,
  ``A``) and final chunks that may end a chunked message (below); unknown or non-numeric
  type ids (Python reports them as unknown or encrypted); CreateSession, ActivateSession,
  GetEndpoints and FindServers (identities, endpoint URLs, user names); Write and Call requests
  (the operations that change a crane, whose node and method targets the findings cite, and
  whose Variant values would need the recursive decoder); anything malformed or truncated.

Per-flow memory (``cstate[flow]``, zero at first):

- word ``C_POLICY``: the SecurityPolicyUri of the flow's latest OpenSecureChannel, read as Python
  reads it (updated only when the policy and both certificate fields decode). ``#None``: MSG
  chunks are compiled. Another policy: every MSG goes to Python, which decodes what is signed
  but not encrypted and reports the rest as encrypted. No OPN seen (the capture began after it):
  MSG chunks are compiled only when they pass the full decode above; Python decodes such a chunk
  the same way whatever the policy, so both tiers agree, and ciphertext passing it (0x01 0x00,
  one of about 40 of 65536 ids, then a whole header that decodes) is vanishingly unlikely.
- words ``C_CHUNKED_SERVER`` and ``C_CHUNKED_CLIENT``: 1 + the highest RequestId of an
  intermediate chunk (``C``) each side sent, 0 none. Python counts a chunked message at its
  first chunk and drops its later chunks by (side, RequestId), remembering the RequestId until
  the final or abort chunk reaches it whole (a final chunk longer than ``MAX_STORED`` never
  does). Every RequestId Python may remember is therefore at most this mark, and a final chunk
  whose RequestId is goes to Python. Senders number their requests upwards (a response carries
  its request's id), so new messages stay above the mark and are compiled; a response
  overtaken by a chunked one goes to Python, which costs time, never agreement.

The chunks it compiles never change the Python parse's state (a final chunk of a message Python
does not remember leaves the ``state`` dict as it was; only OPN, ``C`` and ``A`` chunks and the
final chunks handed over change it), so Python reports the chunks it gets exactly as it would
with every chunk fed to it; Python needs no request to match a response. Never reads outside ``arena[offs[i] : offs[i] + lens[i]]``:
every read is checked against the stored length first (numba runs without bounds checks).
"""

from __future__ import annotations

import numpy as np

from cranewatch._jit import kernel
from cranewatch.protocols._pdu_kernel import (
    D_REQUEST,
    D_RESPONSE,
    F_CONTROL,
    F_DIAGNOSTIC,
    F_EXCEPTION,
    F_READ,
    F_WRITE,
    N_CSTATE,
    O_CODE,
    O_DIRECTION,
    O_EXCEPTION,
    O_FLAGS,
    O_HI,
    O_LO,
    O_PYTHON,
    O_UNIT,
    PDU_SIGNATURE,
    hand_to_python,
    opcua_length,
)

# ---- per-flow state words --------------------------------------------------------------------
C_POLICY = 0  # SecurityPolicyUri of the latest OpenSecureChannel: POLICY_*
POLICY_UNKNOWN, POLICY_NONE, POLICY_OTHER = 0, 1, 2
C_CHUNKED_SERVER = 1  # 1 + highest RequestId of an intermediate chunk from the server, 0 none
C_CHUNKED_CLIENT = 2  # the same from the client
assert N_CSTATE > C_CHUNKED_CLIENT

# ---- how a service's body is handled -----------------------------------------------------------
H_HEADER = 0  # Python reads nothing after the Request/ResponseHeader
H_PYTHON = 1  # identities, targets that matter, or bodies too rich to mirror: Python decodes it
H_READ = 2  # request node lists Python reads for the target
H_BROWSE = 3
H_HISTORY_READ = 4
H_MONITORED_ITEMS = 5
H_WRITE_RESULTS = 6  # Write response: the first Bad result is the exception

SERVICE_FAULT = 397
MAX_LISTED = 8  # nodes Python reads from a request's node list (_wire.MAX_LISTED)
MAX_DEPTH = 8  # nesting of DiagnosticInfo Python accepts (_wire.MAX_DEPTH)
MAX_TYPE_ID = 12212

#: (request id, response id, F_* class, request handling, response handling): the ids and classes
#: of ``_services._TABLE`` (a test keeps them equal; kernel modules import no other module)
SERVICES = (
    (0, 397, 0, H_HEADER, H_HEADER),  # service_fault
    (410, 413, F_DIAGNOSTIC, H_HEADER, H_HEADER),  # test_stack
    (416, 419, F_DIAGNOSTIC, H_HEADER, H_HEADER),  # test_stack_ex
    (422, 425, F_DIAGNOSTIC, H_PYTHON, H_PYTHON),  # find_servers
    (428, 431, F_DIAGNOSTIC, H_PYTHON, H_PYTHON),  # get_endpoints
    (437, 440, F_WRITE, H_HEADER, H_HEADER),  # register_server
    (446, 449, 0, H_HEADER, H_HEADER),  # open_secure_channel
    (452, 455, 0, H_HEADER, H_HEADER),  # close_secure_channel
    (461, 464, 0, H_PYTHON, H_PYTHON),  # create_session
    (467, 470, 0, H_PYTHON, H_PYTHON),  # activate_session
    (473, 476, 0, H_HEADER, H_HEADER),  # close_session
    (479, 482, 0, H_HEADER, H_HEADER),  # cancel
    (488, 491, F_WRITE, H_HEADER, H_HEADER),  # add_nodes
    (494, 497, F_WRITE, H_HEADER, H_HEADER),  # add_references
    (500, 503, F_WRITE, H_HEADER, H_HEADER),  # delete_nodes
    (506, 509, F_WRITE, H_HEADER, H_HEADER),  # delete_references
    (527, 530, F_DIAGNOSTIC, H_BROWSE, H_HEADER),  # browse
    (533, 536, F_DIAGNOSTIC, H_HEADER, H_HEADER),  # browse_next
    (554, 557, F_DIAGNOSTIC, H_HEADER, H_HEADER),  # translate_browse_paths_to_node_ids
    (560, 563, F_DIAGNOSTIC, H_HEADER, H_HEADER),  # register_nodes
    (566, 569, F_DIAGNOSTIC, H_HEADER, H_HEADER),  # unregister_nodes
    (615, 618, F_READ, H_HEADER, H_HEADER),  # query_first
    (621, 624, F_READ, H_HEADER, H_HEADER),  # query_next
    (631, 634, F_READ, H_READ, H_HEADER),  # read
    (664, 667, F_READ, H_HISTORY_READ, H_HEADER),  # history_read
    (673, 676, F_WRITE, H_PYTHON, H_WRITE_RESULTS),  # write
    (700, 703, F_WRITE, H_HEADER, H_HEADER),  # history_update
    (712, 715, F_CONTROL, H_PYTHON, H_HEADER),  # call
    (751, 754, F_READ, H_MONITORED_ITEMS, H_HEADER),  # create_monitored_items
    (763, 766, F_READ, H_HEADER, H_HEADER),  # modify_monitored_items
    (769, 772, F_READ, H_HEADER, H_HEADER),  # set_monitoring_mode
    (775, 778, F_READ, H_HEADER, H_HEADER),  # set_triggering
    (781, 784, F_READ, H_HEADER, H_HEADER),  # delete_monitored_items
    (787, 790, F_READ, H_HEADER, H_HEADER),  # create_subscription
    (793, 796, F_READ, H_HEADER, H_HEADER),  # modify_subscription
    (799, 802, F_READ, H_HEADER, H_HEADER),  # set_publishing_mode
    (826, 829, F_READ, H_HEADER, H_HEADER),  # publish
    (832, 835, F_READ, H_HEADER, H_HEADER),  # republish
    (841, 844, F_READ, H_HEADER, H_HEADER),  # transfer_subscriptions
    (847, 850, F_READ, H_HEADER, H_HEADER),  # delete_subscriptions
    (12208, 12209, F_DIAGNOSTIC, H_HEADER, H_HEADER),  # find_servers_on_network
    (12211, 12212, F_WRITE, H_HEADER, H_HEADER),  # register_server2
)

# entry of a type id: 0 unknown, else KNOWN | REQUEST? | F_* class << 2 | handling << 8
KNOWN, REQUEST = 1, 2


def _service_table() -> np.ndarray:
    table = np.zeros(MAX_TYPE_ID + 1, dtype=np.int32)
    for request, response, flags, on_request, on_response in SERVICES:
        if request:
            table[request] = KNOWN | REQUEST | (flags << 2) | (on_request << 8)
        table[response] = KNOWN | (flags << 2) | (on_response << 8)
    return table


SERVICE_TABLE = _service_table()

POLICY_NONE_URI = np.frombuffer(b"http://opcfoundation.org/UA/SecurityPolicy#None", np.uint8).copy()


# ---- UA Binary readers: each returns the position after what it read, -1 where Python's Reader
# ---- raises Malformed (never reading at or past ``end``)
@kernel
def _u16(buf, p):
    return np.int64(buf[p]) | (np.int64(buf[p + 1]) << 8)


@kernel
def _u32(buf, p):
    return (
        np.int64(buf[p]) | (np.int64(buf[p + 1]) << 8) | (np.int64(buf[p + 2]) << 16)
        | (np.int64(buf[p + 3]) << 24)
    )  # fmt: skip


@kernel
def _length(buf, p, end):
    """Int32 length or count: (n, position after it); Reader.length refuses n < -1 and n larger
    than the bytes left."""
    if p < 0 or p + 4 > end:
        return np.int64(0), np.int64(-1)
    n = _u32(buf, p)
    if n >= np.int64(1) << 31:
        n -= np.int64(1) << 32
    p += 4
    if n < -1 or n > end - p:
        return np.int64(0), np.int64(-1)
    return n, p


@kernel
def _skip(p, n, end):
    if p < 0 or p + n > end:
        return np.int64(-1)
    return p + n


@kernel
def _string(buf, p, end):
    """String or ByteString (null when the length is -1)."""
    n, p = _length(buf, p, end)
    if p < 0:
        return np.int64(-1)
    return p + max(n, np.int64(0))


@kernel
def _nodeid(buf, p, end):
    """NodeId or ExpandedNodeId: (position after it, namespace, numeric id or -1)."""
    fail = (np.int64(-1), np.int64(0), np.int64(-1))
    if p < 0 or p + 1 > end:
        return fail
    mask = np.int64(buf[p])
    kind = mask & 0x3F
    p += 1
    ns = np.int64(0)
    ident = np.int64(-1)
    if kind == 0:
        if p + 1 > end:
            return fail
        ident = np.int64(buf[p])
        p += 1
    elif kind == 1:
        if p + 3 > end:
            return fail
        ns = np.int64(buf[p])
        ident = _u16(buf, p + 1)
        p += 3
    elif kind == 2:
        if p + 6 > end:
            return fail
        ns = _u16(buf, p)
        ident = _u32(buf, p + 2)
        p += 6
    elif kind == 3 or kind == 5:
        if p + 2 > end:
            return fail
        ns = _u16(buf, p)
        p = _string(buf, p + 2, end)
    elif kind == 4:
        if p + 18 > end:
            return fail
        ns = _u16(buf, p)
        p += 18
    else:
        return fail
    if mask & 0x80:  # NamespaceUri
        p = _string(buf, p, end)
    if mask & 0x40:  # ServerIndex
        p = _skip(p, 4, end)
    if p < 0:
        return fail
    return p, ns, ident


@kernel
def _skip_nodeid(buf, p, end):
    q, _, _ = _nodeid(buf, p, end)
    return q


@kernel
def _qualified_name(buf, p, end):
    return _string(buf, _skip(p, 2, end), end)


@kernel
def _extension_object(buf, p, end):
    p = _skip_nodeid(buf, p, end)
    if p < 0 or p + 1 > end:
        return np.int64(-1)
    encoding = buf[p]
    p += 1
    if encoding == 1 or encoding == 2:
        return _string(buf, p, end)
    if encoding != 0:
        return np.int64(-1)
    return p


@kernel
def _diagnostic_info(buf, p, end):
    depth = 0
    while True:
        if depth > MAX_DEPTH or p < 0 or p + 1 > end:
            return np.int64(-1)
        mask = np.int64(buf[p])
        p += 1
        for bit in (0x01, 0x02, 0x08, 0x04):  # SymbolicId, NamespaceUri, Locale, LocalizedText
            if mask & bit:
                p = _skip(p, 4, end)
        if mask & 0x10:  # AdditionalInfo
            p = _string(buf, p, end)
        if mask & 0x20:  # InnerStatusCode
            p = _skip(p, 4, end)
        if not mask & 0x40:  # no InnerDiagnosticInfo
            return p
        depth += 1


@kernel
def _request_header(buf, p, end):
    p = _skip_nodeid(buf, p, end)  # AuthenticationToken
    p = _skip(p, 8 + 4 + 4, end)  # Timestamp, RequestHandle, ReturnDiagnostics
    p = _string(buf, p, end)  # AuditEntryId
    p = _skip(p, 4, end)  # TimeoutHint
    return _extension_object(buf, p, end)  # AdditionalHeader


@kernel
def _response_header(buf, p, end):
    """(position after it, ServiceResult)."""
    p = _skip(p, 8 + 4, end)  # Timestamp, RequestHandle
    if p < 0 or p + 4 > end:
        return np.int64(-1), np.int64(0)
    status = _u32(buf, p)
    p = _diagnostic_info(buf, p + 4, end)
    n, p = _length(buf, p, end)  # StringTable
    for _ in range(max(n, np.int64(0))):
        p = _string(buf, p, end)
        if p < 0:
            break
    return _extension_object(buf, p, end), status


@kernel
def _node_list(buf, p, end, handling):
    """The node list of a Read, Browse, HistoryRead or CreateMonitoredItems request as
    ``_bodies._nodes`` reads it: (position after it, namespace, first id, last id), the
    target -1 -1 -1 unless it is 1 to 8 consecutive numeric ids of one namespace."""
    fail = (np.int64(-1), np.int64(-1), np.int64(-1), np.int64(-1))
    if handling == H_READ:
        p = _skip(p, 8 + 4, end)  # MaxAge, TimestampsToReturn
    elif handling == H_MONITORED_ITEMS:
        p = _skip(p, 4 + 4, end)  # SubscriptionId, TimestampsToReturn
    elif handling == H_BROWSE:
        p = _skip(_skip_nodeid(buf, p, end), 8 + 4 + 4, end)  # View
    else:
        p = _skip(_extension_object(buf, p, end), 4 + 1, end)  # HistoryReadDetails, ...
    total, p = _length(buf, p, end)
    if p < 0:
        return fail
    total = max(total, np.int64(0))
    unit = np.int64(-1)
    lo = np.int64(-1)
    derivable = total >= 1 and total <= MAX_LISTED
    for k in range(min(total, MAX_LISTED)):
        p, ns, ident = _nodeid(buf, p, end)
        if k == 0:
            unit = ns
            lo = ident
        if ident < 0 or ns != unit or ident != lo + k:
            derivable = False
        if handling == H_BROWSE:
            p = _skip(p, 4, end)  # BrowseDirection
            p = _skip_nodeid(buf, p, end)  # ReferenceTypeId
            p = _skip(p, 1 + 4 + 4, end)  # IncludeSubtypes, NodeClassMask, ResultMask
        elif handling == H_HISTORY_READ:
            p = _string(buf, p, end)  # IndexRange
            p = _qualified_name(buf, p, end)  # DataEncoding
            p = _string(buf, p, end)  # ContinuationPoint
        else:  # Read and CreateMonitoredItems: a ReadValueId first
            p = _skip(p, 4, end)  # AttributeId
            p = _string(buf, p, end)  # IndexRange
            p = _qualified_name(buf, p, end)  # DataEncoding
            if handling == H_MONITORED_ITEMS:
                p = _skip(p, 4 + 4 + 8, end)  # MonitoringMode, ClientHandle, SamplingInterval
                p = _extension_object(buf, p, end)  # Filter
                p = _skip(p, 4 + 1, end)  # QueueSize, DiscardOldest
        if p < 0:
            return fail
    if not derivable:
        return p, np.int64(-1), np.int64(-1), np.int64(-1)
    return p, unit, lo, lo + total - 1


# ---- per-flow memory ---------------------------------------------------------------------------
@kernel
def _learn_policy(buf, p, end, cstate, flow):
    """OpenSecureChannel: remember its SecurityPolicyUri where ``_open`` stores it in ``state``
    (after the policy and both certificate fields decode)."""
    n, q = _length(buf, _skip(p + 8, 4, end), end)  # SecureChannelId, SecurityPolicyUri
    if q < 0:
        return
    uri = q
    q = _string(buf, q + max(n, np.int64(0)), end)  # SenderCertificate
    q = _string(buf, q, end)  # ReceiverCertificateThumbprint
    if q < 0:
        return
    policy = POLICY_NONE
    if n != POLICY_NONE_URI.shape[0]:
        policy = POLICY_OTHER
    else:
        for k in range(n):
            if buf[uri + k] != POLICY_NONE_URI[k]:
                policy = POLICY_OTHER
                break
    cstate[flow, C_POLICY] = policy


# ---- classify ----------------------------------------------------------------------------------


@kernel
def _message(buf, p, end, from_client, out, i):
    """A final MSG chunk whose message starts here: fill row ``i``; False to hand it over."""
    q = p + 24  # message header, SecureChannelId, TokenId, SequenceHeader
    if q + 1 > end:
        return False
    mask = buf[q]
    if mask == 1:  # four-byte NodeId
        if q + 4 > end or buf[q + 1] != 0:
            return False
        type_id = _u16(buf, q + 2)
        q += 4
    elif mask == 2:  # numeric NodeId
        if q + 7 > end or buf[q + 1] != 0 or buf[q + 2] != 0:
            return False
        type_id = _u32(buf, q + 3)
        q += 7
    else:
        return False
    if type_id > MAX_TYPE_ID:
        return False
    entry = np.int64(SERVICE_TABLE[type_id])
    if not entry & KNOWN:
        return False
    is_request = (entry & REQUEST) != 0
    if is_request != from_client and type_id != SERVICE_FAULT:
        return False  # Python: an opaque body (unknown service of this direction)
    handling = entry >> 8
    if handling == H_PYTHON:
        return False
    flags = (entry >> 2) & 0xF
    unit = np.int64(-1)
    lo = np.int64(-1)
    hi = np.int64(-1)
    exception = np.int64(-1)
    if is_request:
        q = _request_header(buf, q, end)
        if q < 0:
            return False
        if handling != H_HEADER:
            q, unit, lo, hi = _node_list(buf, q, end, handling)
            if q < 0:
                return False
        direction = D_REQUEST
    else:
        q, status = _response_header(buf, q, end)
        if q < 0:
            return False
        if status & 0x80000000 or type_id == SERVICE_FAULT:
            exception = status
        if handling == H_WRITE_RESULTS and exception < 0:
            n, q = _length(buf, q, end)
            n = max(n, np.int64(0))
            if q < 0 or q + 4 * n > end:
                return False
            for k in range(n):
                code = _u32(buf, q + 4 * k)
                if code & 0x80000000:
                    exception = code
                    break
        direction = D_RESPONSE
    if q > end:
        return False  # never: every reader stops at end (a second guard, one compare)
    if exception >= 0:
        flags |= F_EXCEPTION
    out[i, O_PYTHON] = 0
    out[i, O_CODE] = type_id
    out[i, O_DIRECTION] = direction
    out[i, O_UNIT] = unit
    out[i, O_LO] = lo
    out[i, O_HI] = hi
    out[i, O_FLAGS] = flags
    out[i, O_EXCEPTION] = exception
    return True


@kernel
def _classify_one(arena, p, n, from_client, cstate, flow, out, i):
    hand_to_python(out, i)
    end = p + n
    if n < 8 or opcua_length(arena, p, end) <= 0:
        return  # not a valid message header: Python reports it
    kind = arena[p]  # the first letter tells the seven message types apart
    chunk = arena[p + 3]
    whole = _u32(arena, p + 4) == n  # else Python stops at the size check (or was truncated)
    if kind == 79:  # OPN
        if whole:
            _learn_policy(arena, p, end, cstate, flow)
        return
    if kind != 77 and kind != 67:  # neither MSG nor CLO: transport messages
        return
    if n < 24:
        return
    mark = 1 + _u32(arena, p + 20)  # 1 + RequestId
    word = C_CHUNKED_CLIENT if from_client else C_CHUNKED_SERVER
    if chunk == 67:  # C: Python may remember this message's RequestId
        cstate[flow, word] = max(cstate[flow, word], mark)
        return
    if chunk == 65 or mark <= cstate[flow, word]:  # A, or a RequestId Python may remember
        return
    if kind != 77 or not whole or cstate[flow, C_POLICY] == POLICY_OTHER:
        return
    _message(arena, p, end, from_client, out, i)


@kernel(PDU_SIGNATURE)
def classify_pdu(arena, pos, n, client, cstate, flow, out, i):
    """Row ``i`` of ``out`` for the PDU ``arena[pos : pos + n]`` (the module docstring and
    ``protocols/_pdu_kernel.py``)."""
    _classify_one(arena, pos, n, client != 0, cstate, flow, out, i)


@kernel
def classify(arena, offs, lens, client, cstate, flows, out):
    """``classify_pdu`` over PDUs ``arena[offs[i] : offs[i] + lens[i]]`` into ``out[i]``."""
    for i in range(offs.shape[0]):
        classify_pdu(
            arena, np.int64(offs[i]), np.int64(lens[i]), np.int64(1 if client[i] else 0), cstate,
            np.int64(flows[i]), out, np.int64(i),
        )  # fmt: skip


__all__ = ["SERVICES", "classify", "classify_pdu"]
