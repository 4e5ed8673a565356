"""CIP EPATHs: what a request path, route path or connection path addresses.

Follows *The CIP Networks Library* Volume 1, Appendix C-1 (padded EPATH segments): port
segments (route hops), logical segments (class, instance, member, connection point,
attribute, and the special electronic key segment), network segments, symbolic and ANSI
extended symbol segments (Rockwell Logix tag names) and simple data segments. The number of
segments is capped at :data:`MAX_SEGMENTS`; reserved segment types raise :class:`WireError`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cranewatch.protocols.enip import _codes as C
from cranewatch.protocols.enip._wire import Reader, WireError

MAX_SEGMENTS = 64  # EPATH segments per path


@dataclass(slots=True)
class ElectronicKey:
    vendor_id: int
    device_type: int
    product_code: int
    major: int
    minor: int
    compatibility: bool


@dataclass(slots=True)
class Path:
    """What a padded EPATH addresses."""

    class_id: int | None = None
    instance_id: int | None = None
    attribute_id: int | None = None
    member_id: int | None = None
    connection_points: list[int] = field(default_factory=list)
    route: list[tuple[int, str]] = field(default_factory=list)  # (port, link address)
    symbol: str = ""  # Logix tag name, e.g. "Program:Main.Speed[3]"
    key: ElectronicKey | None = None

    def text(self) -> str | None:
        parts = []
        if self.symbol:
            parts.append(f"tag {self.symbol}")
        if self.class_id is not None:
            name = C.CLASS_NAMES.get(self.class_id)
            parts.append(
                f"{name} (class 0x{self.class_id:02x})" if name else f"class 0x{self.class_id:02x}"
            )
        if self.instance_id is not None:
            parts.append(f"instance {self.instance_id}")
        if self.attribute_id is not None:
            parts.append(f"attribute {self.attribute_id}")
        if self.member_id is not None:
            parts.append(f"member {self.member_id}")
        if self.connection_points:
            parts.append("connection point " + ",".join(map(str, self.connection_points)))
        text = " ".join(parts)
        if self.route:
            via = "route " + ", ".join(f"port {p} link {a}" for p, a in self.route)
            text = f"{text} via {via}" if text else via
        return text or None


def _pad(r: Reader, start: int) -> None:
    if (r.pos - start) & 1 and r.left:
        r.pos += 1


def _link_text(link: bytes) -> str:
    if link and all(0x20 <= b < 0x7F for b in link):
        return link.decode("ascii")
    return link.hex()


def parse_path(raw: bytes) -> Path:
    """Decode a padded EPATH; raises :class:`WireError` on reserved or truncated segments."""
    path = Path()
    r = Reader(raw)
    symbol: list[str] = []
    for _ in range(MAX_SEGMENTS):
        if not r.left:
            break
        start = r.pos
        seg = r.u8()
        kind = seg >> 5
        if kind == 0:  # port segment
            port = seg & 0x0F
            size = r.u8() if seg & 0x10 else 1
            if port == 0x0F:
                port = r.u16()
            link = r.take(size)
            path.route.append((port, _link_text(link) if seg & 0x10 else str(link[0])))
            _pad(r, start)
        elif kind == 1:  # logical segment
            ltype, fmt = (seg >> 2) & 7, seg & 3
            if ltype == 5:  # special: electronic key
                if r.u8() != 4:
                    raise WireError("electronic key of unknown format")
                vendor, dtype, product = r.u16(), r.u16(), r.u16()
                major, minor = r.u8(), r.u8()
                path.key = ElectronicKey(vendor, dtype, product, major & 0x7F, minor,
                                         bool(major & 0x80))  # fmt: skip
                continue
            if fmt == 0:
                value = r.u8()
            elif fmt == 1:
                r.u8()
                value = r.u16()
            elif fmt == 2:
                r.u8()
                value = r.u32()
            else:
                raise WireError(f"reserved logical format in segment 0x{seg:02x}")
            if ltype == 0:
                path.class_id = value
            elif ltype == 1:
                path.instance_id = value
            elif ltype == 2:
                if symbol:
                    symbol.append(f"[{value}]")
                else:
                    path.member_id = value
            elif ltype == 3:
                path.connection_points.append(value)
            elif ltype == 4:
                path.attribute_id = value
            elif ltype == 7:
                raise WireError("extended logical segment")
        elif kind == 2:  # network segment
            if seg & 0x10:
                r.take(2 * r.u8())
            else:
                r.u8()
        elif kind == 3:  # symbolic segment
            size = seg & 0x1F
            if size == 0:
                raise WireError("extended symbolic segment")
            symbol.append(("." if symbol else "") + r.take(size).decode("latin-1"))
            _pad(r, start)
        elif seg == 0x91:  # ANSI extended symbol
            name = r.take(r.u8()).decode("latin-1")
            symbol.append(("." if symbol else "") + name)
            _pad(r, start)
        elif seg == 0x80:  # simple data segment (connection configuration data)
            r.take(2 * r.u8())
        elif 0xC0 <= seg <= 0xDF:  # elementary data type
            continue
        else:
            raise WireError(f"unsupported path segment 0x{seg:02x}")
    else:
        raise WireError("path has too many segments")
    path.symbol = "".join(symbol).replace(".[", "[")
    return path
