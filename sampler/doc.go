// Package sampler finds missing and late TCP packets per peer: it decodes
// captured packet headers (live from an AF_PACKET ring, or from a pcap or
// pcapng file), tracks connections in a hard-capped table, and turns what
// it sees (and what it does not see: an unanswered SYN, a request without
// a reply) into per-peer counters and latency histograms.
//
// The same connection logic serves three users: the exporter's live
// sampler (Live), `netcause analyze` (Analyze) and `netcause diff` (Diff).
// Only headers are read; payload bytes are never stored or exported, and a
// live capture keeps at most Snaplen bytes of each packet in the kernel
// ring.
//
// The retransmission analysis follows Wireshark's (tcp.analysis.*), so the
// figures can be checked against tshark on the same capture.
package sampler
