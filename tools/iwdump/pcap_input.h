/*
 * pcap_input.h - packet source for iwdump: libpcap file or live interface,
 * link/IP/TCP header parsing, and hand-off to the TCP reassembler.
 *
 * Supported link types: DLT_EN10MB (with any number of 802.1Q / 802.1ad
 * tags, up to PCAPIN_MAX_VLAN_TAGS), DLT_NULL, DLT_LOOP, DLT_RAW,
 * DLT_IPV4, DLT_IPV6, DLT_LINUX_SLL, DLT_LINUX_SLL2.
 *
 * IPv4: header options are skipped; fragments are not reassembled (each is
 * counted in pcapin_stats_t.ipv4_fragments and dropped).  IPv6: the
 * Hop-by-Hop, Routing, Destination Options and AH extension headers are
 * skipped, an atomic Fragment header (offset 0, M=0) is skipped, real
 * fragments are counted and dropped, ESP/unknown headers are "not TCP".
 * TCP payload length comes from the IP length fields, so Ethernet padding is
 * never taken as payload.  A packet whose capture was cut short by the
 * snapshot length (caplen < len) hands the captured payload bytes to the
 * reassembler together with the number of missing ones, which become a gap.
 *
 * Errors are returned as codes plus a human-readable message (pcapin_error
 * or an errbuf); nothing here exits or prints.
 */
#ifndef IWDUMP_PCAP_INPUT_H
#define IWDUMP_PCAP_INPUT_H

#include <stddef.h>
#include <stdint.h>

#include "tcp_reasm.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PCAPIN_ERRBUF_SIZE 512u
#define PCAPIN_MAX_VLAN_TAGS 4u

/** Counters of what pcapin_decode()/pcapin_run() saw. */
typedef struct pcapin_stats {
    uint64_t packets;          /**< packets read */
    uint64_t tcp_segments;     /**< segments handed to the reassembler */
    uint64_t non_ip;           /**< link payload is not IPv4/IPv6 */
    uint64_t non_tcp;          /**< IP but not TCP (or ESP, no next header) */
    uint64_t ipv4_fragments;   /**< IPv4 fragments dropped (not reassembled) */
    uint64_t ipv6_fragments;   /**< IPv6 fragments dropped */
    uint64_t truncated;        /**< headers cut by the snaplen: dropped */
    uint64_t malformed;        /**< impossible header values: dropped */
    uint64_t bad_tcp_options;  /**< TCP option list malformed (segment kept) */
    uint64_t snapped_packets;  /**< TCP segments with payload bytes missing */
    uint64_t snapped_bytes;    /**< sum of those missing payload bytes */
    uint64_t ip_len_zero;      /**< IPv4 total length 0 (TSO), frame used */
    uint64_t reasm_errors;     /**< tcpr_input() failures (out of memory) */
} pcapin_stats_t;

/** Result of decoding one packet. */
typedef enum pcapin_decode_result {
    PCAPIN_DEC_TCP = 0,       /**< *seg is filled */
    PCAPIN_DEC_NON_IP,
    PCAPIN_DEC_NON_TCP,
    PCAPIN_DEC_FRAGMENT,
    PCAPIN_DEC_TRUNCATED,
    PCAPIN_DEC_MALFORMED,
    PCAPIN_DEC_UNSUPPORTED_DLT
} pcapin_decode_result_t;

/** Status of pcapin_run(). */
typedef enum pcapin_status {
    PCAPIN_OK = 0,         /**< end of file reached / packet limit reached */
    PCAPIN_BROKEN = 1,     /**< stopped by pcapin_break() */
    PCAPIN_ERROR = -1      /**< read error: see pcapin_error() */
} pcapin_status_t;

/** Options for a live capture. */
typedef struct pcapin_live_opts {
    int snaplen;        /**< bytes per packet; <= 0 means 262144 */
    int promisc;        /**< non-zero: promiscuous mode */
    int timeout_ms;     /**< read timeout; <= 0 means 100 */
    int buffer_size;    /**< kernel buffer bytes; <= 0 keeps the default */
    int immediate;      /**< non-zero: immediate mode */
} pcapin_live_opts_t;

typedef struct pcapin pcapin_t;

/**
 * Open a capture file ("-" is stdin) and apply `bpf_filter` (may be NULL or
 * ""). Timestamps are read with nanosecond precision.  On error returns NULL
 * and writes a message to errbuf (errlen bytes).
 */
pcapin_t *pcapin_open_file(const char *path, const char *bpf_filter,
                           char *errbuf, size_t errlen);

/**
 * Open a live capture on `ifname` (pcap_create + pcap_activate), apply
 * `bpf_filter`.  `opts` may be NULL for defaults.  Activation warnings are
 * available through pcapin_warning().
 */
pcapin_t *pcapin_open_live(const char *ifname, const char *bpf_filter,
                           const pcapin_live_opts_t *opts, char *errbuf,
                           size_t errlen);

/**
 * Read packets and feed their TCP segments to `reasm` until end of file,
 * pcapin_break(), `max_packets` packets (0 = no limit) or an error.
 * Does not call tcpr_flush(): the caller does that at the end.
 */
pcapin_status_t pcapin_run(pcapin_t *in, tcpr_ctx_t *reasm, uint64_t max_packets);

/** Ask pcapin_run() to return soon (safe from a signal handler). */
void pcapin_break(pcapin_t *in);

/** Last error message ("" if none), and activation warning ("" if none). */
const char *pcapin_error(const pcapin_t *in);
const char *pcapin_warning(const pcapin_t *in);

/** Link type (DLT_*) of the source and its libpcap name. */
int pcapin_datalink(const pcapin_t *in);
const char *pcapin_datalink_name(const pcapin_t *in);

/** Decode counters. */
const pcapin_stats_t *pcapin_stats(const pcapin_t *in);

/**
 * Kernel/libpcap drop counters of a live capture (pcap_stats).  Returns 0 on
 * success, -1 if unavailable (files, or error; see pcapin_error()).
 */
int pcapin_capture_drops(pcapin_t *in, uint64_t *received, uint64_t *dropped,
                         uint64_t *if_dropped);

/** Close and free (NULL allowed). */
void pcapin_close(pcapin_t *in);

/** True if `dlt` is one of the supported link types. */
int pcapin_dlt_supported(int dlt);

/**
 * Decode one packet of link type `dlt` (no libpcap needed).  `caplen` bytes
 * are at `pkt`; `wirelen` is the original length.  On PCAPIN_DEC_TCP fills
 * *seg (whose payload points into pkt).  `st` (may be NULL) gets counters.
 */
pcapin_decode_result_t pcapin_decode(int dlt, const uint8_t *pkt, size_t caplen,
                                     size_t wirelen, const tcpr_time_t *ts,
                                     tcpr_segment_t *seg, pcapin_stats_t *st);

/** Short text for a decode result. */
const char *pcapin_decode_result_str(pcapin_decode_result_t r);

#ifdef __cplusplus
}
#endif

#endif /* IWDUMP_PCAP_INPUT_H */
