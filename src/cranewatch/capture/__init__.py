"""Capture sources: recognise pcap, pcapng and gzip files and stream their bytes in chunks."""
