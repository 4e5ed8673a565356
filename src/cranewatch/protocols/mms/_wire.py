"""MMS PDUs (ISO 9506-2) as IEC 61850-8-1 uses them: which PDU, which service, what it names.

The MMSpdu CHOICE ([0] confirmed-Request ... [13] conclude-Error, ISO 9506-2 clause 7 and the
ASN.1 module ISO-9506-MMS-1) and, in confirmed PDUs, the ConfirmedServiceRequest/-Response
CHOICE whose tag is the service (read [4], write [5], getNameList [1], identify [2], fileOpen
[72], ...). Besides the service the decoder takes only what the analyzer reports: invoke ids,
the variable, domain, program and file names a request addresses, Identify's vendor, model and
revision, and error codes (ServiceError class and code, DataAccessError, reject reasons).
``_osi`` finds the MMS PDU inside the session and presentation layers; everything is read with
the bounded reader of ``_ber``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cranewatch.protocols import _ber
from cranewatch.protocols._ber import CONTEXT, UNIVERSAL, Tlv

#: MMSpdu CHOICE tags (ISO 9506-2)
CONFIRMED_REQUEST, CONFIRMED_RESPONSE, CONFIRMED_ERROR, UNCONFIRMED = 0, 1, 2, 3
REJECT, CANCEL_REQUEST, CANCEL_RESPONSE, CANCEL_ERROR = 4, 5, 6, 7
INITIATE_REQUEST, INITIATE_RESPONSE, INITIATE_ERROR = 8, 9, 10
CONCLUDE_REQUEST, CONCLUDE_RESPONSE, CONCLUDE_ERROR = 11, 12, 13
PDU_NAMES = {0: "confirmed_request", 1: "confirmed_response", 2: "confirmed_error",
             3: "unconfirmed", 4: "reject", 5: "cancel_request", 6: "cancel_response",
             7: "cancel_error", 8: "initiate_request", 9: "initiate_response",
             10: "initiate_error", 11: "conclude_request", 12: "conclude_response",
             13: "conclude_error"}  # fmt: skip

#: ConfirmedServiceRequest CHOICE tags as ISO 9506-2 names them
SERVICES = [
    "status",
    "getNameList",
    "identify",
    "rename",
    "read",
    "write",
    "getVariableAccessAttributes",
    "defineNamedVariable",
    "defineScatteredAccess",
    "getScatteredAccessAttributes",
    "deleteVariableAccess",
    "defineNamedVariableList",
    "getNamedVariableListAttributes",
    "deleteNamedVariableList",
    "defineNamedType",
    "getNamedTypeAttributes",
    "deleteNamedType",
    "input",
    "output",
    "takeControl",
    "relinquishControl",
    "defineSemaphore",
    "deleteSemaphore",
    "reportSemaphoreStatus",
    "reportPoolSemaphoreStatus",
    "reportSemaphoreEntryStatus",
    "initiateDownloadSequence",
    "downloadSegment",
    "terminateDownloadSequence",
    "initiateUploadSequence",
    "uploadSegment",
    "terminateUploadSequence",
    "requestDomainDownload",
    "requestDomainUpload",
    "loadDomainContent",
    "storeDomainContent",
    "deleteDomain",
    "getDomainAttributes",
    "createProgramInvocation",
    "deleteProgramInvocation",
    "start",
    "stop",
    "resume",
    "reset",
    "kill",
    "getProgramInvocationAttributes",
    "obtainFile",
    "defineEventCondition",
    "deleteEventCondition",
    "getEventConditionAttributes",
    "reportEventConditionStatus",
    "alterEventConditionMonitoring",
    "triggerEvent",
    "defineEventAction",
    "deleteEventAction",
    "getEventActionAttributes",
    "reportEventActionStatus",
    "defineEventEnrollment",
    "deleteEventEnrollment",
    "alterEventEnrollment",
    "reportEventEnrollmentStatus",
    "getEventEnrollmentAttributes",
    "acknowledgeEventNotification",
    "getAlarmSummary",
    "getAlarmEnrollmentSummary",
    "readJournal",
    "writeJournal",
    "initializeJournal",
    "reportJournalStatus",
    "createJournal",
    "deleteJournal",
    "getCapabilityList",
    "fileOpen",
    "fileRead",
    "fileClose",
    "fileRename",
    "fileDelete",
    "fileDirectory",
]
UNCONFIRMED_SERVICES = ("informationReport", "unsolicitedStatus", "eventNotification")
READ, WRITE, GET_NAME_LIST, IDENTIFY = 4, 5, 1, 2
GET_VAR_ATTRIBUTES, GET_NVL_ATTRIBUTES, DEFINE_NVL, DELETE_NVL = 6, 12, 11, 13
FILE_OPEN, FILE_DELETE, FILE_DIRECTORY = 72, 76, 77
#: services whose target is the first name inside them (domain, program invocation, file)
NAMED_SERVICES = frozenset({3, 26, 29, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45,
                            46, 75})  # fmt: skip
OBJECT_CLASSES = ["namedVariable", "scatteredAccess", "namedVariableList", "namedType", "semaphore", "eventCondition", "eventAction", "eventEnrollment", "journal", "domain", "programInvocation", "operatorStation", "dataExchange", "accessControlList"]  # fmt: skip
#: ServiceError errorClass CHOICE tags
ERROR_CLASSES = ["vmd-state", "application-reference", "definition", "resource", "service", "service-preempt", "time-resolution", "access", "initiate", "conclude", "cancel", "file", "others"]  # fmt: skip
MAX_NAMES = 8


@dataclass(slots=True)
class MmsPdu:
    """One decoded MMS PDU."""

    pdu: int  # MMSpdu CHOICE tag
    service: int | None = None  # confirmed service tag, or unconfirmed service tag
    invoke_id: int | None = None
    names: list[str] = field(default_factory=list)  # variables, domains, files it names
    error: int | None = None  # error class << 8 | code, DataAccessError, reject reason
    identity: dict[str, str] = field(default_factory=dict)  # identify response
    detail: dict[str, object] = field(default_factory=dict)


# ----------------------------------------------------------------------------- MMS PDUs


def service_name(tag: int) -> str:
    return SERVICES[tag] if 0 <= tag < len(SERVICES) else f"service{tag}"


def decode(raw: bytes) -> MmsPdu | str:
    """Decode one MMS PDU (its full TLV)."""
    top = _ber.read_tlv(raw, 0)
    if top is None or top.cls != CONTEXT or top.number > CONCLUDE_ERROR:
        return "not an MMS PDU"
    pdu = MmsPdu(top.number)
    if top.number in (CONFIRMED_REQUEST, CONFIRMED_RESPONSE):
        if not top.constructed:
            return "confirmed MMS PDU is not constructed"
        _confirmed(raw, top, pdu)
    elif top.number == CONFIRMED_ERROR and top.constructed:
        for tlv in _ber.children(raw, top):
            if tlv.is_(CONTEXT, 0, False):
                pdu.invoke_id = _ber.unsigned(raw, tlv)
            elif tlv.is_(CONTEXT, 2, True):
                pdu.error = _service_error(raw, tlv)
    elif top.number == UNCONFIRMED and top.constructed:
        service = next(iter(_ber.children(raw, top)), None)
        if service is not None and service.cls == CONTEXT:
            pdu.service = service.number
            spec = next(iter(_ber.children(raw, service)), None) if service.constructed else None
            if service.number == 0 and spec is not None:  # informationReport
                _names_in_access_spec(raw, spec, pdu.names)
    elif top.number == REJECT and top.constructed:
        for tlv in _ber.children(raw, top):
            if tlv.is_(CONTEXT, 0, False):
                pdu.invoke_id = _ber.unsigned(raw, tlv)
            elif tlv.cls == CONTEXT and not tlv.constructed:
                reason = _ber.integer(raw, tlv)
                pdu.error = (tlv.number << 8) | (reason or 0)
    elif top.number in (CANCEL_REQUEST, CANCEL_RESPONSE) and not top.constructed:
        pdu.invoke_id = _ber.unsigned(raw, top)
    elif top.number in (INITIATE_ERROR, CONCLUDE_ERROR, CANCEL_ERROR) and top.constructed:
        for tlv in _ber.children(raw, top):
            if tlv.is_(CONTEXT, 0, False) and top.number == CANCEL_ERROR:
                pdu.invoke_id = _ber.unsigned(raw, tlv)
            elif tlv.constructed:
                pdu.error = _service_error(raw, tlv) if tlv.number == 1 else _error_class(raw, tlv)
    elif top.number in (INITIATE_REQUEST, INITIATE_RESPONSE) and top.constructed:
        _initiate(raw, top, pdu)
    return pdu


def _confirmed(raw: bytes, top: Tlv, pdu: MmsPdu) -> None:
    for tlv in _ber.children(raw, top):
        if tlv.is_(UNIVERSAL, 2):
            pdu.invoke_id = _ber.unsigned(raw, tlv)
        elif tlv.cls == CONTEXT and pdu.service is None and tlv.number < 79:
            pdu.service = tlv.number
            if pdu.pdu == CONFIRMED_REQUEST:
                _request_names(raw, tlv, pdu)
            else:
                _response_fields(raw, tlv, pdu)


def _error_class(raw: bytes, tlv: Tlv) -> int | None:
    """ServiceError.errorClass: the CHOICE tag (class) and its INTEGER (code)."""
    for choice in _ber.children(raw, tlv):
        code = _ber.integer(raw, choice) or 0
        return (choice.number << 8) | (code & 0xFF)
    return None


def _service_error(raw: bytes, tlv: Tlv) -> int | None:
    error_class = _ber.child(raw, tlv, CONTEXT, 0)
    return _error_class(raw, error_class) if error_class is not None else None


def _initiate(raw: bytes, top: Tlv, pdu: MmsPdu) -> None:
    for tlv in _ber.children(raw, top):
        if tlv.cls == CONTEXT and tlv.number == 4 and tlv.constructed:
            version = _ber.child(raw, tlv, CONTEXT, 0)
            if version is not None:
                pdu.detail["mms_version"] = _ber.unsigned(raw, version)


def object_name(raw: bytes, tlv: Tlv) -> str | None:
    """ObjectName: vmd-specific [0] | domain-specific [1] {domainId, itemId} | aa-specific [2]."""
    if tlv.cls != CONTEXT:
        return None
    if tlv.number in (0, 2) and not tlv.constructed:
        return _ber.text(raw, tlv)
    if tlv.number == 1 and tlv.constructed:
        parts = [_ber.text(raw, t) for t in _ber.children(raw, tlv)][:2]
        return "/".join(parts) if parts else None
    return None


def _names_in_access_spec(raw: bytes, spec: Tlv, out: list[str]) -> None:
    """VariableAccessSpecification: listOfVariable [0] or variableListName [1]."""
    if spec.is_(CONTEXT, 1, True):  # variableListName
        for name in _ber.children(raw, spec):
            text = object_name(raw, name)
            if text:
                out.append(text)
            return
    if not spec.is_(CONTEXT, 0, True):
        return
    for entry in _ber.children(raw, spec):  # SEQUENCE { variableSpecification, alternate }
        if len(out) >= MAX_NAMES:
            return
        var_spec = next(iter(_ber.children(raw, entry)), None) if entry.constructed else None
        if var_spec is not None and var_spec.is_(CONTEXT, 0, True):  # name [0] ObjectName
            inner = next(iter(_ber.children(raw, var_spec)), None)
            text = object_name(raw, inner) if inner is not None else None
            if text:
                out.append(text)


def _first_string(raw: bytes, tlv: Tlv, depth: int = 0) -> str | None:
    """The first printable string within a few levels (domain, program or file name)."""
    if depth > 4:
        return None
    for sub in _ber.children(raw, tlv):
        if sub.constructed:
            found = _first_string(raw, sub, depth + 1)
            if found:
                return found
        elif sub.end - sub.start >= 1 and (sub.cls == CONTEXT or sub.number in (19, 22, 25, 26)):
            value = raw[sub.start : sub.end]
            if all(0x20 <= b < 0x7F for b in value):
                return value.decode("ascii")
    return None


def _request_names(raw: bytes, service: Tlv, pdu: MmsPdu) -> None:
    names = pdu.names
    tag = service.number
    if tag == READ and service.constructed:
        wrapper = _ber.child(raw, service, CONTEXT, 1)  # variableAccessSpecificatn [1]
        spec = next(iter(_ber.children(raw, wrapper)), None) if wrapper is not None else None
        if spec is not None:
            _names_in_access_spec(raw, spec, names)
    elif tag == WRITE and service.constructed:
        spec = next(iter(_ber.children(raw, service)), None)
        if spec is not None:
            _names_in_access_spec(raw, spec, names)
    elif tag == GET_VAR_ATTRIBUTES and service.constructed:
        name = _ber.child(raw, service, CONTEXT, 0)
        inner = next(iter(_ber.children(raw, name)), None) if name is not None else None
        text = object_name(raw, inner) if inner is not None else None
        if text:
            names.append(text)
    elif tag in (GET_NVL_ATTRIBUTES, DELETE_NVL, DEFINE_NVL) and service.constructed:
        inner = next(iter(_ber.children(raw, service)), None)
        text = object_name(raw, inner) if inner is not None else None
        if text:
            names.append(text)
    elif tag == GET_NAME_LIST and service.constructed:
        _name_list_scope(raw, service, pdu)
    elif (tag in NAMED_SERVICES or tag in (FILE_OPEN, FILE_DELETE, FILE_DIRECTORY)) and (
        service.constructed or service.end > service.start
    ):
        if service.constructed:
            text = _first_string(raw, service)
        else:
            text = _ber.text(raw, service) or None
        if text:
            names.append(text)


def _name_list_scope(raw: bytes, service: Tlv, pdu: MmsPdu) -> None:
    object_class = _ber.child(raw, service, CONTEXT, 0)
    basic = next(iter(_ber.children(raw, object_class)), None) if object_class else None
    value = _ber.integer(raw, basic) if basic is not None else None
    if value is not None and 0 <= value < len(OBJECT_CLASSES):
        pdu.detail["object_class"] = OBJECT_CLASSES[value]
    scope = _ber.child(raw, service, CONTEXT, 1)
    choice = next(iter(_ber.children(raw, scope)), None) if scope is not None else None
    if choice is not None and choice.number == 1:
        pdu.names.append(_ber.text(raw, choice))
    elif choice is not None:
        pdu.detail["scope"] = "vmd" if choice.number == 0 else "association"


def _response_fields(raw: bytes, service: Tlv, pdu: MmsPdu) -> None:
    tag = service.number
    if tag == IDENTIFY and service.constructed:
        keys = {0: "vendor", 1: "model", 2: "revision"}
        for tlv in _ber.children(raw, service):
            if tlv.cls == CONTEXT and tlv.number in keys and not tlv.constructed:
                value = _ber.text(raw, tlv).strip()
                if value:
                    pdu.identity[keys[tlv.number]] = value
    elif tag == READ and service.constructed:
        results = _ber.child(raw, service, CONTEXT, 1)  # listOfAccessResult [1]
        if results is not None:
            pdu.error = _first_failure(raw, results)
    elif tag == WRITE and service.constructed:
        pdu.error = _first_failure(raw, service)


def _first_failure(raw: bytes, results: Tlv) -> int | None:
    """The first DataAccessError (failure [0]) in a list of access or write results."""
    for tlv in _ber.children(raw, results):
        if tlv.is_(CONTEXT, 0, False):
            return _ber.integer(raw, tlv)
    return None
