"""IKE Vendor ID payloads: which implementation, which features, which Windows version.

A Vendor ID payload (RFC 2408 3.16; IKEv2 RFC 7296 3.12) carries an opaque id, most often the
MD5 of a string (MD5("RFC 3947"), MD5("strongSwan"), ...), sometimes followed by version bytes.
The table follows ike-scan's ike-vendor-ids list (the names Zeek's ipsec.log uses) and matches
by the longest hex prefix. Microsoft's id is MD5("MS NT5 ISAKMPOAKLEY") and a four-byte version
word that names the Windows release (also reported as an ``os`` fact).
"""

from __future__ import annotations


def _md5_hex(text: str) -> str:
    import hashlib

    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


#: Vendor ID prefixes (hex) -> (name, kind). "product" names an implementation, "capability" a
#: feature many implementations announce, "windows" a Microsoft version (also an ``os`` fact).
#: Longest prefix wins. From ike-scan's ike-vendor-ids (the names Zeek's ipsec.log uses).
VENDOR_IDS: dict[str, tuple[str, str]] = {
    _md5_hex("RFC 3947"): ("RFC 3947 NAT-T", "capability"),
    _md5_hex("draft-ietf-ipsec-nat-t-ike"): ("draft-ietf-ipsec-nat-t-ike", "capability"),
    "4485152d18b6bbcd0be8a8469579ddcc": ("draft-ietf-ipsec-nat-t-ike-00", "capability"),
    "16f6ca16e4a4066d83821a0f0aeaa862": ("draft-ietf-ipsec-nat-t-ike-01", "capability"),
    _md5_hex("draft-ietf-ipsec-nat-t-ike-02"): ("draft-ietf-ipsec-nat-t-ike-02", "capability"),
    _md5_hex("draft-ietf-ipsec-nat-t-ike-02\n"): ("draft-ietf-ipsec-nat-t-ike-02", "capability"),
    _md5_hex("draft-ietf-ipsec-nat-t-ike-03"): ("draft-ietf-ipsec-nat-t-ike-03", "capability"),
    "9909b64eed937c6573de52ace952fa6b": ("draft-ietf-ipsec-nat-t-ike-04", "capability"),
    "80d0bb3def54565ee84645d4c85ce3ee": ("draft-ietf-ipsec-nat-t-ike-05", "capability"),
    "4d1e0e136deafa34c4f3ea9f02ec7285": ("draft-ietf-ipsec-nat-t-ike-06", "capability"),
    _md5_hex("draft-ietf-ipsec-nat-t-ike-07"): ("draft-ietf-ipsec-nat-t-ike-07", "capability"),
    _md5_hex("draft-ietf-ipsec-nat-t-ike-08"): ("draft-ietf-ipsec-nat-t-ike-08", "capability"),
    _md5_hex("draft-ietf-ipsec-nat-t-ike-09"): ("draft-ietf-ipsec-nat-t-ike-09", "capability"),
    "27bab5dc01ea0760ea4e3190ac27c0d0": ("draft-stenberg-ipsec-nat-traversal-01", "capability"),
    "6105c422e76847e43f9684801292aecd": ("draft-stenberg-ipsec-nat-traversal-02", "capability"),
    "6a7434c19d7e36348090a02334c9c805": ("draft-huttunen-ipsec-esp-in-udp-00", "capability"),
    "50760f624c63e5c53eea386c685ca083": ("ESPThruNAT", "capability"),
    "afcad71368a1f1c96b8696fc7757": ("Dead Peer Detection", "capability"),
    "09002689dfd6b712": ("XAUTH", "capability"),
    _md5_hex("FRAGMENTATION"): ("IKE Fragmentation", "capability"),
    "4865617274426561745f4e6f74696679": ("HeartBeat_Notify", "capability"),
    "12f5f28c457168a9702d9fe274cc": ("Cisco Unity", "product"),  # MD5("CISCO-UNITY")[:14]
    "1f07f70eaa6514d3b0fa96542a": ("Cisco VPN Concentrator", "product"),
    "f6f7efc7f5aeb8cb158cb9d094ba69e7": ("Cisco VPN 3000 client", "product"),
    _md5_hex("strongSwan"): ("strongSwan", "product"),
    "e154b11a96ee2b44d4954843cd3a40a3": ("strongSwan 5.0.0", "product"),
    "75aa8f69de2e44500dae842be21f5491": ("strongSwan 5.0.1", "product"),
    "04d52cc5fd04aa971063b111917731d2": ("strongSwan 5.0.2", "product"),
    "d398476a43b9d6c56c4045ffcc9fffb9": ("strongSwan 5.0.3", "product"),
    "dc3afcdda0514da394b4b36f4cb1b9a7": ("strongSwan 5.0.4", "product"),
    "b7d8e62184049fb21b088d4232d2549c": ("strongSwan 5.1.0", "product"),
    "9e10a0d4205edc6c90bd5381a53c2d2b": ("strongSwan 5.1.1", "product"),
    _md5_hex("KAME/racoon"): ("KAME/racoon", "product"),
    "4d6163204f53582031302e78": ("Mac OS X 10.x", "product"),  # "Mac OSX 10.x"
    "f4ed19e0c114eb516faaac0ee37daf2807b4381f": ("Check Point Firewall-1", "product"),
    "5b362bc820f6": ("SonicWall", "product"),
    "404bf439522ca3f6": ("SonicWall", "product"),
    "da8e937880010000": ("SonicWall", "product"),
    "dbfb81eb5760b0788562067da102d755": ("Netgear", "product"),
    "b858d1addd08c1e8adafea150608aa4497aa6cc8": ("ZyXEL ZyWALL Router", "product"),
    "625027749d5ab97f5616c1602765cf480a3b7d0b": ("ZyXEL ZyWALL", "product"),
    "f758f22668750f03b08df6ebe1d0": ("ZyXEL ZyWALL USG", "product"),
    "47bbe7c993f1fc13b4e6d0db565c68e5": ("SafeNet SoftRemote", "product"),
    "054182a07c7ae206f9d2cf9d2432c482": ("SSH Sentinel", "product"),
    "54494d4553544550": ("Timestep", "product"),  # "TIMESTEP"
    "424e4553000000": ("Nortel Contivity", "product"),
    # Microsoft: MD5("MS NT5 ISAKMPOAKLEY") and a version number
    _md5_hex("MS NT5 ISAKMPOAKLEY"): ("MS NT5 ISAKMPOAKLEY", "windows"),
    _md5_hex("Vid-Initial-Contact"): ("Microsoft Initial-Contact", "capability"),
    _md5_hex("MS-Negotiation Discovery Capable"): (
        "MS-Negotiation Discovery Capable",
        "capability",
    ),
    "214ca4faffa7f32d6748e5303395ae83": ("MS-MamieExists", "capability"),
    "72872b95fcda2eb708efe322119b4971": ("NLBS_PRESENT", "capability"),
    "e3a5966a76379fe707228231e5ce8652": ("IKE CGA version 1", "capability"),
}
#: the version word after MD5("MS NT5 ISAKMPOAKLEY") -> (ike-scan name, operating system)
WINDOWS_VERSIONS = {2: ("Windows-2000", "Windows 2000"), 3: ("Windows-XP-SP1", "Windows XP SP1"),
                    4: ("Windows-2003-or-XP-SP2", "Windows Server 2003 or XP SP2"),
                    5: ("Windows-Vista", "Windows Vista"),
                    6: ("Windows-2008", "Windows Server 2008"), 7: ("Windows-7", "Windows 7"),
                    8: ("Windows-2008-R2", "Windows Server 2008 R2"),
                    9: ("Windows-8", "Windows 8 or later")}  # fmt: skip
_VID_PREFIXES = sorted(VENDOR_IDS, key=len, reverse=True)
VID_CONFIDENCE = {"product": 1.0, "windows": 1.0, "capability": 0.7}
UNKNOWN_VID_CONFIDENCE = 0.5


def vendor_id_name(data: bytes) -> tuple[str, str] | None:
    """(name, kind) of a Vendor ID payload's data, or None when unknown."""
    text = data.hex()
    for prefix in _VID_PREFIXES:
        if text.startswith(prefix):
            name, kind = VENDOR_IDS[prefix]
            if kind == "windows" and len(data) == 20:
                version = int.from_bytes(data[16:20], "big")
                if version in WINDOWS_VERSIONS:
                    return WINDOWS_VERSIONS[version][0], kind
            return name, kind
    return None
