/* pcap_rec.h - records the software iWARP runtime's own TCP streams as a pcap file (hand-written, not generated). */
#ifndef IWK_PCAP_REC_H
#define IWK_PCAP_REC_H

/*
 * The runtime talks TCP through the kernel, so it never sees its packets.  This module writes
 * what a capture of the connection would have looked like: Ethernet II / IPv4 or IPv6 / TCP
 * frames with correct lengths and checksums, a synthetic three-way handshake, the stream bytes
 * in segments of at most IWK_PCAP_SEG_MAX octets with contiguous sequence numbers, and FINs.
 * tshark and iwdump decode the result like any capture.
 *
 * Threads: one struct iwk_pcap may be shared by any number of flows and threads; every packet is
 * built and written under its mutex.  The sequence numbers in struct iwk_pcap_flow are read and
 * advanced under that same mutex, so a sender thread (dir 0) and a receiver thread (dir 1) may
 * record on one flow at the same time.  iwk_pcap_flow_start and iwk_pcap_close must not run
 * concurrently with other calls on the same flow / file.
 *
 * Recording never fails once a flow is started: the data functions return nothing.  Write
 * errors of the underlying stdio stream are reported by iwk_pcap_flush.
 */
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#define IWK_PCAP_SNAPLEN 262144u /* snapshot length in the file header */
#define IWK_PCAP_SEG_MAX 65000u  /* payload octets per recorded TCP segment (fits the IPv4 total length) */

struct iwk_pcap; /* one output file, shared by many connections; thread-safe (internal mutex) */

/* Creates (truncates) path, mode 0644 before umask, close-on-exec, and writes the pcap file
 * header (LINKTYPE_ETHERNET, microsecond timestamps, snaplen IWK_PCAP_SNAPLEN).
 * Returns 0 and sets *out, or -errno (*out is then NULL). */
int iwk_pcap_open(const char *path, struct iwk_pcap **out);

/* Writes buffered packets to the file.  Returns 0 or -errno (-EIO when the cause is unknown),
 * also when an earlier buffered write failed.  NULL: returns 0. */
int iwk_pcap_flush(struct iwk_pcap *p);

/* Flushes and closes the file and frees p.  NULL ok.  No flow may use p afterwards. */
void iwk_pcap_close(struct iwk_pcap *p);

struct iwk_pcap_flow {          /* one TCP connection as seen from our end; plain struct, caller-owned */
    struct iwk_pcap *pcap;      /* NULL: recording off, every call below is a no-op */
    uint8_t family;             /* AF_INET or AF_INET6 */
    uint8_t local_addr[16], peer_addr[16]; /* AF_INET: the first 4 octets */
    uint16_t local_port, peer_port;        /* host order */
    uint32_t seq[2];            /* next sequence number: [0] our direction, [1] the peer's */
};

/* Reads the addresses with getsockname/getpeername on the connected TCP socket fd and writes a
 * synthetic three-way handshake (SYN from the active opener, SYN-ACK, ACK).  active != 0 when we
 * connected.  IPv4-mapped IPv6 addresses are recorded as IPv4.  The initial sequence numbers are
 * a fixed function of the addresses and ports.
 * p == NULL: f is cleared (recording off), returns 0.
 * Returns 0, or -errno (-ENOTCONN, -EAFNOSUPPORT, -EPROTOTYPE for a non-TCP socket, ...);
 * on error f->pcap is NULL, so the calls below are no-ops. */
int iwk_pcap_flow_start(struct iwk_pcap *p, struct iwk_pcap_flow *f, int fd, int active);

/* Records len stream bytes, gathered from iov[0..iovcnt), sent (dir 0) or received (dir 1), as
 * PSH|ACK segments of at most IWK_PCAP_SEG_MAX payload octets, acknowledging the other
 * direction's next sequence number.  If the iovecs hold fewer than len octets, only those are
 * recorded.  len == 0, dir not 0/1, or f->pcap == NULL: no-op. */
void iwk_pcap_flow_data(struct iwk_pcap_flow *f, int dir, const struct iovec *iov, int iovcnt, size_t len);
/* sendmsg(2) and the record of what it sent as one step under the recorder's lock: the peer's answer,
 * recorded by another thread, cannot land in the file before the octets that caused it. */
ssize_t iwk_pcap_sendmsg(struct iwk_pcap_flow *f, int fd, const struct msghdr *mh, int flags);

/* Records FIN|ACK in direction dir (0 ours, 1 the peer's); it consumes one sequence number. */
void iwk_pcap_flow_fin(struct iwk_pcap_flow *f, int dir);

/* Received octets are recorded in pieces that end at FPDU boundaries (the reader's small reads
 * would otherwise become tiny segments that tshark's MPA framing cannot follow): append what each
 * read returned, flush when a frame is complete (or the buffer holds a full segment). */
struct iwk_pcap_rxrec {
    struct iwk_pcap_flow *flow;   /* NULL or flow->pcap NULL: recording off */
    uint8_t *buf;
    size_t len, cap;
};
void iwk_pcap_rx_append(struct iwk_pcap_rxrec *r, const struct iovec *iov, int iovcnt, size_t len);
void iwk_pcap_rx_flush(struct iwk_pcap_rxrec *r);
void iwk_pcap_rx_free(struct iwk_pcap_rxrec *r);

#endif /* IWK_PCAP_REC_H */
