//! pcap and pcapng files: reading both, writing pcap.
