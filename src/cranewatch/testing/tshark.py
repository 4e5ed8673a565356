"""Run tshark on a capture and return what it counts, as plain dicts: the engine's test oracle.

The packet engine must reproduce tshark's TCP/UDP conversation table, IP endpoints and MAC
addresses exactly, or differ only by a rule written down in docs/validation.md. This module is
the one place that knows how to ask tshark, so plugin authors can reuse it on their captures::

    from cranewatch.testing import tshark_oracle
    oracle = tshark_oracle("tests/captures/modbus_tcp_icsnpp_example.pcap")
    oracle["conversations"][0]["a"]  # {'ip': ..., 'port': ..., 'frames': ..., 'bytes': ...}

tshark 4.0 prints conversation bytes rounded ("16 kB"), so the exact figures come from a
per-frame dissection (``-T json``) aggregated by ``tcp.stream`` / ``udp.stream``, the key of the
conversation table. Three rules make that aggregate equal what the conversation tap counts:

* only transport layers at the top level of the protocol tree count: the headers an ICMP or
  ICMPv6 error quotes are dissected, and even get a stream number, but never reach the tap;
* every top-level transport layer of a frame counts (GTP-U, GRE, IP-in-IP and VXLAN inner
  traffic), with the addresses of the IP header right before it and the whole frame's length;
* an IP-fragmented datagram counts once, in the frame that completes its reassembly, with that
  frame's length only. Its other fragments are listed per conversation (``uncounted_fragments``),
  and first fragments of datagrams that never complete (``orphan_fragments``) are attributed by
  a dissection with defragmentation off, since they carry the transport header.

The aggregate is then cross-checked and :class:`OracleMismatch` raised on any difference: with
every row of ``-z conv,tcp -z conv,udp`` (frames exact, bytes as tshark rounds them); when
tshark has Lua, with a listener on the ``tcp``/``udp`` taps in the same run, which sees exactly
what the table counts, bytes included; and the address sets with ``-z endpoints,ip|ipv6|eth``.
Runs use an empty personal configuration, no name resolution and ``TSHARK_OPTIONS``.

One module on purpose, although past 400 lines: the per-frame pass, the statistics pass and the
cross-checks between them form one contract that is only trustworthy read together.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import ipaddress
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections import Counter, defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any

__all__ = [
    "TSHARK_OPTIONS",
    "OracleMismatch",
    "TsharkError",
    "format_tshark_bytes",
    "tshark_has_lua",
    "tshark_oracle",
    "tshark_version",
]

#: Options of every tshark run: no name resolution, and the preferences that decide what the
#: conversation tap counts pinned to their 4.0 defaults, so a user's settings cannot change them.
TSHARK_OPTIONS: tuple[str, ...] = (
    "-n",
    "-o", "ip.defragment:TRUE",
    "-o", "ipv6.defragment:TRUE",
    "-o", "tcp.analyze_sequence_numbers:TRUE",
    "-o", "tcp.relative_sequence_numbers:TRUE",
)  # fmt: skip
_NO_DEFRAGMENT = ("-o", "ip.defragment:FALSE", "-o", "ipv6.defragment:FALSE")

# Top-level layers the JSON run keeps whole (``-J``). Any other layer becomes a stub
# ``{"filtered": name}``, so the headers an ICMP error quotes (nested inside ``icmp``) go with
# it. ``-j`` would also cut subtrees such as ``ip.fragments`` and ``ip.flags``.
_JSON_LAYERS = "frame eth sll ip ipv6 tcp udp"

_LUA_TAP = """\
for _, name in ipairs({"tcp", "udp"}) do
  local listener = Listener.new(name)
  function listener.packet(pinfo, tvb, t)
    print(string.format("CWTAP\\t%s\\t%d\\t%s\\t%s\\t%s\\t%s\\t%s", name, pinfo.len,
      tostring(t.ip_src), tostring(t.th_sport or t.uh_sport), tostring(t.ip_dst),
      tostring(t.th_dport or t.uh_dport), tostring(t.th_stream or t.uh_stream)))
  end
end
"""

_STATS = {  # -z argument -> title of the table tshark prints
    "conv,tcp": "TCP Conversations",
    "conv,udp": "UDP Conversations",
    "endpoints,ip": "IPv4 Endpoints",
    "endpoints,ipv6": "IPv6 Endpoints",
    "endpoints,eth": "Ethernet Endpoints",
}


class TsharkError(RuntimeError):
    """tshark is missing, failed, or printed something this module cannot read."""


class OracleMismatch(AssertionError):
    """The per-frame aggregate disagrees with tshark's own tables: the oracle is not exact."""


# ------------------------------------------------------------------------------ running tshark


def _executable(tshark: str) -> str:
    path = shutil.which(tshark)
    if path is None:
        raise TsharkError(f"{tshark} is not installed (Debian: apt-get install tshark)")
    return path


@contextlib.contextmanager
def _environment() -> Iterator[dict[str, str]]:
    """An empty personal configuration folder, C locale and UTC for one or more runs."""
    with tempfile.TemporaryDirectory(prefix="cranewatch-tshark-") as confdir:
        yield dict(os.environ, WIRESHARK_CONFIG_DIR=confdir, LC_ALL="C.UTF-8", TZ="UTC")


def _run(args: list[str], env: dict[str, str]) -> str:
    proc = subprocess.run(args, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        raise TsharkError(f"{' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc.stdout


@functools.lru_cache(maxsize=8)
def _version_text(tshark: str) -> str:
    with _environment() as env:
        return _run([_executable(tshark), "--version"], env)


def tshark_version(tshark: str = "tshark") -> str:
    """The version of tshark, e.g. ``"4.0.17"``."""
    match = re.search(r"TShark \(Wireshark\) (\d+\.\d+\.\d+)", _version_text(tshark))
    if match is None:
        raise TsharkError(f"cannot read the version of {tshark}")
    return match.group(1)


def tshark_has_lua(tshark: str = "tshark") -> bool:
    """Whether this tshark was built with Lua, which the exact tap cross-check needs."""
    return re.search(r"\bwith Lua\b|\+Lua\b", _version_text(tshark)) is not None


def format_tshark_bytes(value: int) -> str:
    """Bytes as tshark 4.0's conversation table prints them: exact below 10 000, then truncated
    to SI units, e.g. ``9999 -> "9999 bytes"``, ``10999 -> "10 kB"``, ``12345678 -> "12 MB"``."""
    for unit, scale in (("TB", 10**12), ("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if value >= 10 * scale:
            return f"{value // scale} {unit}"
    return f"{value} bytes"


# ------------------------------------------------------------------------------ per-frame pass


def _iter_packets(stream: IO[str]) -> Iterator[list[tuple[str, Any]]]:
    """The packets of ``tshark -T json``, one at a time (the whole output can be large).

    Each packet is an object between a line ``  {`` and a line ``  }`` or ``  },``. Keys repeat
    (one ``ip`` per IP header), so objects are kept as lists of ``(key, value)`` pairs.
    """
    buf: list[str] = []
    for line in stream:
        if not buf:
            if line.startswith("  {"):
                buf.append("{")
        elif line.rstrip("\r\n") in ("  }", "  },"):
            yield json.loads("".join([*buf, "}"]), object_pairs_hook=list)
            buf = []
        else:
            buf.append(line)


def _get(pairs: list[tuple[str, Any]], key: str) -> Any:
    return next((v for k, v in pairs if k == key), None)


def _all(pairs: list[tuple[str, Any]], key: str) -> list[str]:
    """Every value of field ``key`` anywhere below ``pairs``, in tree order."""
    out: list[str] = []
    for k, v in pairs:
        if k == key and isinstance(v, str):
            out.append(v)
        elif isinstance(v, list) and v and isinstance(v[0], tuple):
            out += _all(v, key)
    return out


def _ip_layer(name: str, layer: list[tuple[str, Any]]) -> dict[str, Any]:
    if name == "ip":
        offset = int(_get(layer, "ip.frag_offset") or 0)
        more = "1" in _all(layer, "ip.flags.mf") or "True" in _all(layer, "ip.flags.mf")
    else:
        offsets, mores = _all(layer, "ipv6.fraghdr.offset"), _all(layer, "ipv6.fraghdr.more")
        offset = int(offsets[0]) if offsets else 0
        more = bool(mores) and mores[0] in ("1", "True")
    return {
        "src": _get(layer, f"{name}.src"),
        "dst": _get(layer, f"{name}.dst"),
        "fragment": more or offset > 0,
        "first_fragment": more and offset == 0,
        "reassembled_from": [int(f) for f in _all(layer, f"{name}.fragment")],
    }


def _frames(
    path: Path, tshark: str, env: dict[str, str], extra: tuple[str, ...] = ()
) -> Iterator[dict[str, Any]]:
    """One record per frame: length, protocol path, MACs, IP headers and transport layers."""
    args = [tshark, *TSHARK_OPTIONS, *extra, "-r", str(path), "-T", "json", "-J", _JSON_LAYERS]
    with tempfile.TemporaryFile("w+") as errors:
        with subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=errors, text=True, env=env
        ) as proc:
            assert proc.stdout is not None
            for pkt in _iter_packets(proc.stdout):
                yield _frame_record(_get(_get(pkt, "_source"), "layers"))
        if proc.returncode != 0:
            errors.seek(0)
            raise TsharkError(
                f"{' '.join(args)} failed ({proc.returncode}): {errors.read().strip()}"
            )


def _frame_record(layers: list[tuple[str, Any]]) -> dict[str, Any]:
    frame = _get(layers, "frame")
    rec: dict[str, Any] = {
        "frame": int(_get(frame, "frame.number")),
        "len": int(_get(frame, "frame.len")),
        "protocols": _get(frame, "frame.protocols").split(":"),
        "eth_macs": [],
        "sll_macs": [],
        "ips": [],
        "transports": [],  # (proto, index into ips, sport, dport, stream, pure SYN)
    }
    for name, layer in layers:
        if not isinstance(layer, list) or _get(layer, "filtered") is not None:
            continue
        if name == "eth":
            rec["eth_macs"] += [m for m in (_get(layer, "eth.src"), _get(layer, "eth.dst")) if m]
        elif name == "sll" and _get(layer, "sll.src.eth"):
            rec["sll_macs"].append(_get(layer, "sll.src.eth"))
        elif name in ("ip", "ipv6"):
            rec["ips"].append(_ip_layer(name, layer))
        elif name in ("tcp", "udp") and rec["ips"]:
            stream = _get(layer, f"{name}.stream")
            sport, dport = _get(layer, f"{name}.srcport"), _get(layer, f"{name}.dstport")
            flags = int(_get(layer, "tcp.flags") or "0", 16)
            syn = name == "tcp" and flags & 0x12 == 0x02  # SYN without ACK
            if stream is not None and sport is not None and dport is not None:
                rec["transports"].append(
                    (name, len(rec["ips"]) - 1, int(sport), int(dport), int(stream), syn)
                )
    return rec


def _path_to(protocols: list[str], name: str, occurrence: int) -> list[str]:
    """``frame.protocols`` cut after its ``occurrence``-th (0-based) layer called ``name``."""
    seen = -1
    for i, proto in enumerate(protocols):
        seen += proto == name
        if proto == name and seen == occurrence:
            return protocols[: i + 1]
    return protocols


def _new_conv(
    proto: str, stream: int, src: str, sport: int, dst: str, dport: int, frame: int
) -> dict[str, Any]:
    return {
        "proto": proto,
        "stream": stream,
        "a": {"ip": src, "port": sport, "frames": 0, "bytes": 0},
        "b": {"ip": dst, "port": dport, "frames": 0, "bytes": 0},
        "first_frame": frame,
        "last_frame": frame,
        "paths": set(),
        "next_protocols": set(),
        "uncounted_fragments": {"a": set(), "b": set()},
        "orphan_fragments": {"a": set(), "b": set()},
    }


def _side(conv: dict[str, Any], src: str, sport: int) -> str:
    """``a`` when the packet was sent by the conversation's A end (tshark's rule), else ``b``."""
    return "a" if (src, sport) == (conv["a"]["ip"], conv["a"]["port"]) else "b"


def _aggregate(records: Iterator[dict[str, Any]], keep_frames: bool) -> dict[str, Any]:
    convs: dict[tuple[str, int], dict[str, Any]] = {}
    agg: dict[str, Any] = {
        "frames": 0,
        "lengths": {},
        "eth_macs": set(),
        "sll_macs": set(),
        "ips": set(),
    }
    fragments: dict[int, bool] = {}  # frame number -> is a first fragment
    reassembled: set[int] = set()
    later: list[tuple[dict[str, Any], str, set[int]]] = []
    frame_list: list[dict[str, Any]] = []
    for rec in records:
        agg["frames"] += 1
        agg["lengths"][rec["frame"]] = rec["len"]
        agg["eth_macs"].update(rec["eth_macs"])
        agg["sll_macs"].update(rec["sll_macs"])
        for ip in rec["ips"]:
            agg["ips"].update(a for a in (ip["src"], ip["dst"]) if a)
            reassembled.update(ip["reassembled_from"])
            if ip["fragment"]:
                fragments[rec["frame"]] = fragments.get(rec["frame"], False) or ip["first_fragment"]
        seen: Counter[str] = Counter()
        for proto, ip_index, sport, dport, stream, syn in rec["transports"]:
            src, dst = rec["ips"][ip_index]["src"], rec["ips"][ip_index]["dst"]
            conv = convs.get((proto, stream))
            if conv is None:
                conv = convs[(proto, stream)] = _new_conv(
                    proto, stream, src, sport, dst, dport, rec["frame"]
                )
                if proto == "tcp":
                    conv["starts_with_syn"] = syn
            side = _side(conv, src, sport)
            conv[side]["frames"] += 1
            conv[side]["bytes"] += rec["len"]
            conv["last_frame"] = rec["frame"]
            path = _path_to(rec["protocols"], proto, seen[proto])
            seen[proto] += 1
            conv["paths"].add(":".join(path))
            conv["next_protocols"].update(rec["protocols"][len(path) : len(path) + 1])
            # every IP header up to this transport layer carried this datagram
            frags = {f for ip in rec["ips"][: ip_index + 1] for f in ip["reassembled_from"]}
            if frags - {rec["frame"]}:
                later.append((conv, side, frags - {rec["frame"]}))
        if keep_frames:
            frame_list.append(_frame_summary(rec))
    for conv, side, frags in later:
        conv["uncounted_fragments"][side] |= frags
    agg["convs"] = convs
    agg["orphans"] = {f: first for f, first in fragments.items() if f not in reassembled}
    agg["frame_list"] = frame_list
    return agg


def _frame_summary(rec: dict[str, Any]) -> dict[str, Any]:
    """The innermost IP header and transport layer of one frame, for reading a mismatch."""
    out: dict[str, Any] = {
        "frame": rec["frame"],
        "len": rec["len"],
        "protocols": ":".join(rec["protocols"]),
    }
    if rec["ips"]:
        out.update(src=rec["ips"][-1]["src"], dst=rec["ips"][-1]["dst"])
    if rec["transports"]:
        proto, _, sport, dport, stream, _ = rec["transports"][-1]
        out.update(proto=6 if proto == "tcp" else 17, sport=sport, dport=dport, stream=stream)
    return out


def _attribute_orphans(
    agg: dict[str, Any], path: Path, tshark: str, env: dict[str, str]
) -> list[dict[str, Any]]:
    """Put first fragments of never-reassembled datagrams on the conversation of their ports.

    With defragmentation off tshark dissects the transport header a first fragment carries; the
    fragment goes to the conversation with the same addresses and ports that was last started
    at or before it (or the first one). Fragments with no transport header, or whose ports
    match no conversation tshark counted, are returned for the capture-level list.
    """
    firsts = {f for f, first in agg["orphans"].items() if first}
    by_ends: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for conv in sorted(agg["convs"].values(), key=lambda c: c["first_frame"]):
        ends = frozenset(
            {(conv["a"]["ip"], conv["a"]["port"]), (conv["b"]["ip"], conv["b"]["port"])}
        )
        by_ends[(conv["proto"], ends)].append(conv)
    attributed: set[int] = set()
    unmatched: dict[int, list[dict[str, Any]]] = defaultdict(list)
    if firsts:
        for rec in _frames(path, tshark, env, _NO_DEFRAGMENT):
            if rec["frame"] not in firsts:
                continue
            for proto, ip_index, sport, dport, _, _ in rec["transports"]:
                src, dst = rec["ips"][ip_index]["src"], rec["ips"][ip_index]["dst"]
                candidates = by_ends.get((proto, frozenset({(src, sport), (dst, dport)})), [])
                before = [c for c in candidates if c["first_frame"] <= rec["frame"]]
                if not candidates:
                    unmatched[rec["frame"]].append(
                        {"proto": proto, "src": src, "sport": sport, "dst": dst, "dport": dport}
                    )
                    continue
                conv = before[-1] if before else candidates[0]
                conv["orphan_fragments"][_side(conv, src, sport)].add(rec["frame"])
                attributed.add(rec["frame"])
    return [
        {
            "frame": f,
            "len": agg["lengths"][f],
            "first_fragment": first,
            "transports": unmatched.get(f, []),
        }
        for f, first in sorted(agg["orphans"].items())
        if f not in attributed or f in unmatched
    ]


# ------------------------------------------------------------------------------ statistics pass


def _stats(path: Path, tshark: str, env: dict[str, str], lua: bool) -> dict[str, Any]:
    """The ``-z`` tables of one ``-q`` run and, with ``lua``, the tcp/udp tap calls."""
    args = [tshark, *TSHARK_OPTIONS, "-r", str(path), "-q"]
    for stat in _STATS:
        args += ["-z", stat]
    with tempfile.TemporaryDirectory(prefix="cranewatch-lua-") as tmp:
        if lua:
            script = Path(tmp) / "taps.lua"
            script.write_text(_LUA_TAP)
            args += ["-X", f"lua_script:{script}"]
        text = _run(args, env)
    titles = {title: stat for stat, title in _STATS.items()}
    tables: dict[str, list[list[str]]] = {}
    taps: Counter[tuple[Any, ...]] = Counter()
    current: str | None = None
    for line in text.splitlines():
        if line.startswith("CWTAP\t"):
            _, proto, length, src, sport, dst, dport, stream = line.split("\t")
            key = (proto, int(stream), src, int(sport), dst, int(dport))
            taps[(*key, "frames")] += 1
            taps[(*key, "bytes")] += int(length)
        elif line.strip() in titles:
            current = titles[line.strip()]
            tables[current] = []
        elif current and line.strip() and not line.startswith(("=", "Filter:", " ")):
            tables[current].append(line.split())
    if set(tables) != set(_STATS):
        raise TsharkError(f"tshark printed no {', '.join(sorted(set(_STATS) - set(tables)))} table")
    return {"tables": tables, "taps": taps}


def _endpoint(text: str) -> tuple[str, int]:
    addr, _, port = text.rpartition(":")
    return addr, int(port)


# ------------------------------------------------------------------------------ cross-checks


def _check_conv_tables(
    convs: list[dict[str, Any]], tables: dict[str, list[list[str]]]
) -> dict[str, Any]:
    """Every printed conversation row must equal one aggregated conversation, rounding included."""
    summary: dict[str, Any] = {}
    for proto in ("tcp", "udp"):
        rows = tables[f"conv,{proto}"]
        printed: Counter[tuple[Any, ...]] = Counter()
        for row in rows:
            if len(row) != 14 or row[1] != "<->":
                raise TsharkError(f"cannot read conversation row {' '.join(row)!r}")
            rx, tx, total = (" ".join(row[i : i + 3]) for i in (3, 6, 9))
            printed[(_endpoint(row[0]), _endpoint(row[2]), tx, rx, total)] += 1
        mine: Counter[tuple[Any, ...]] = Counter()
        for c in convs:
            if c["proto"] == proto:
                a, b = c["a"], c["b"]
                mine[
                    (
                        (a["ip"], a["port"]),
                        (b["ip"], b["port"]),
                        f"{a['frames']} {format_tshark_bytes(a['bytes'])}",
                        f"{b['frames']} {format_tshark_bytes(b['bytes'])}",
                        f"{c['frames']} {format_tshark_bytes(c['bytes'])}",
                    )
                ] += 1
        if printed != mine:
            raise OracleMismatch(
                f"{proto} conversations differ from `tshark -z conv,{proto}`:\n"
                f"  only in tshark's table: {sorted((printed - mine).elements())}\n"
                f"  only in the per-frame aggregate: {sorted((mine - printed).elements())}"
            )
        summary[proto] = {"conversations": len(rows), "frames": sum(int(r[9]) for r in rows)}
    return summary


def _check_taps(convs: list[dict[str, Any]], taps: Counter[tuple[Any, ...]]) -> None:
    """The Lua listener saw the tap calls themselves: frames and exact bytes per direction."""
    mine: Counter[tuple[Any, ...]] = Counter()
    for c in convs:
        for s, d in (("a", "b"), ("b", "a")):
            key = (c["proto"], c["stream"], c[s]["ip"], c[s]["port"], c[d]["ip"], c[d]["port"])
            mine[(*key, "frames")] += c[s]["frames"]
            mine[(*key, "bytes")] += c[s]["bytes"]
    mine = +mine  # drop zero counts (a side that sent nothing)
    if mine != taps:
        raise OracleMismatch(
            "per-frame aggregate differs from the tcp/udp taps seen by Lua:\n"
            f"  taps only: {sorted((taps - mine).items())[:20]}\n"
            f"  aggregate only: {sorted((mine - taps).items())[:20]}"
        )


def _check_addresses(agg: dict[str, Any], tables: dict[str, list[list[str]]]) -> set[str]:
    """The endpoint tables' addresses; IPs must be carried by the frames, MACs equal eth fields."""
    ips = {row[0] for key in ("endpoints,ip", "endpoints,ipv6") for row in tables[key]}
    if not ips <= agg["ips"]:
        raise OracleMismatch(
            f"`-z endpoints,ip/ipv6` lists addresses no IP header carries: {sorted(ips - agg['ips'])}"
        )
    macs = {row[0] for row in tables["endpoints,eth"]}
    if macs != agg["eth_macs"]:
        raise OracleMismatch(
            "`-z endpoints,eth` differs from eth.src/eth.dst: "
            f"table only {sorted(macs - agg['eth_macs'])}, fields only {sorted(agg['eth_macs'] - macs)}"
        )
    return ips


# ------------------------------------------------------------------------------ the oracle


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _address_key(text: str) -> tuple[int, int]:
    addr = ipaddress.ip_address(text)
    return (addr.version, int(addr))


def _finish(conv: dict[str, Any], lengths: dict[int, int]) -> dict[str, Any]:
    keys = ("proto", "stream", "a", "b", "first_frame", "last_frame", "starts_with_syn")
    out = {k: conv[k] for k in keys if k in conv}
    out["frames"] = conv["a"]["frames"] + conv["b"]["frames"]
    out["bytes"] = conv["a"]["bytes"] + conv["b"]["bytes"]
    out["paths"] = sorted(conv["paths"])
    out["next_protocols"] = sorted(conv["next_protocols"])
    for kind in ("uncounted_fragments", "orphan_fragments"):
        if conv[kind]["a"] or conv[kind]["b"]:  # the key is left out when there are none
            out[kind] = {
                side: {
                    "frames": len(conv[kind][side]),
                    "bytes": sum(lengths[f] for f in conv[kind][side]),
                    "frame_numbers": sorted(conv[kind][side]),
                }
                for side in ("a", "b")
            }
    return out


def _stream_splits(convs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Address/port pairs that tshark spread over several streams, oldest stream first.

    For TCP a new stream usually starts with a SYN carrying a new ISN (port reuse). Otherwise,
    and always for UDP, an application dissector made a new conversation object for the pair
    (SNMP does; see docs/validation.md). ``next_protocols`` names the protocols seen above the
    transport layer in those streams.
    """
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for c in convs:
        ends = sorted([(c["a"]["ip"], c["a"]["port"]), (c["b"]["ip"], c["b"]["port"])])
        groups[(c["proto"], *ends)].append(c)
    return [
        {
            "proto": proto,
            "endpoints": [{"ip": ip, "port": port} for ip, port in ends],
            "streams": [
                {"stream": c["stream"], "first_frame": c["first_frame"]}
                | ({"starts_with_syn": c["starts_with_syn"]} if proto == "tcp" else {})
                for c in sorted(group, key=lambda c: c["first_frame"])
            ],
            "next_protocols": sorted({p for c in group for p in c["next_protocols"]}),
        }
        for (proto, *ends), group in sorted(groups.items())
        if len(group) > 1
    ]


def tshark_oracle(
    capture: str | os.PathLike[str],
    *,
    tshark: str = "tshark",
    check_taps: bool | None = None,
    with_frames: bool = False,
) -> dict[str, Any]:
    """What tshark counts in ``capture``, cross-checked against its own tables.

    Returns a JSON-ready dict: ``capture`` (file name), ``sha256``, ``tshark_version``,
    ``tshark_options``, ``frames`` (all frames in the file), ``conversations`` (TCP then UDP,
    by stream id; ``a`` is the sender of the first counted frame, as in tshark's table, and
    each side holds what *it sent*), ``conv_table`` (conversations and frames per protocol as
    ``-z conv`` printed them), ``ip_addresses`` and ``mac_addresses`` (sorted),
    ``ip_addresses_outside_endpoints`` (in some IP header but not in the endpoint tables),
    ``stream_splits`` and ``orphan_fragments`` (fragments no conversation got). A conversation
    has ``uncounted_fragments`` / ``orphan_fragments`` keys only when it has such frames. With
    ``with_frames`` it adds ``frame_list``, the innermost IP header and transport of each frame.

    ``check_taps=None`` runs the exact Lua tap cross-check when tshark has Lua; ``True`` demands
    it. Raises :class:`OracleMismatch` when a cross-check fails and :class:`TsharkError` when
    tshark cannot be run or read.
    """
    path = Path(capture)
    if not path.is_file():
        raise TsharkError(f"{path} is not a file")
    exe = _executable(tshark)
    lua = tshark_has_lua(exe) if check_taps is None else check_taps
    with _environment() as env, ThreadPoolExecutor(max_workers=1) as pool:
        stats_run = pool.submit(_stats, path, exe, env, lua)  # a second tshark, in parallel
        agg = _aggregate(_frames(path, exe, env), with_frames)
        orphans = _attribute_orphans(agg, path, exe, env)
        stats = stats_run.result()
    convs = [
        _finish(c, agg["lengths"])
        for _, c in sorted(agg["convs"].items(), key=lambda kv: (kv[0][0] != "tcp", kv[0][1]))
    ]
    conv_table = _check_conv_tables(convs, stats["tables"])
    if lua:
        _check_taps(convs, stats["taps"])
    ips = _check_addresses(agg, stats["tables"])
    result: dict[str, Any] = {
        "capture": path.name,
        "sha256": _sha256(path),
        "tshark_version": tshark_version(exe),
        "tshark_options": list(TSHARK_OPTIONS),
        "frames": agg["frames"],
        "conversations": convs,
        "conv_table": conv_table,
        "ip_addresses": sorted(ips, key=_address_key),
        "ip_addresses_outside_endpoints": sorted(agg["ips"] - ips, key=_address_key),
        "mac_addresses": sorted(agg["eth_macs"] | agg["sll_macs"]),
        "stream_splits": _stream_splits(convs),
        "orphan_fragments": orphans,
    }
    if with_frames:
        result["frame_list"] = agg["frame_list"]
    return result
