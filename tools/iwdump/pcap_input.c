/*
 * pcap_input.c - libpcap packet source and header decoding for iwdump
 * (see pcap_input.h).
 *
 * Decoding is split into one small function per layer.  Each layer works on
 * a `view`: a pointer to the first byte of the layer plus two lengths, the
 * bytes present in the capture (`cap`) and the bytes the packet had on the
 * wire (`wire`).  Lengths announced by a header are checked against `wire`;
 * reads are checked against `cap`.
 */
#include "pcap_input.h"

#include <pcap/pcap.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- Byte helpers ---------------------------------------------------------- */

static uint16_t be16(const uint8_t *p)
{
    return (uint16_t)((uint16_t)p[0] << 8 | p[1]);
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

static size_t min_size(size_t a, size_t b) { return a < b ? a : b; }

/** A layer's bytes: `cap` captured, `wire` on the wire (wire >= cap). */
typedef struct view {
    const uint8_t *p;
    size_t cap;
    size_t wire;
} view_t;

/** Drop the first n bytes (n <= v->cap must hold). */
static view_t view_skip(view_t v, size_t n)
{
    view_t r = {v.p + n, v.cap - n, v.wire >= n ? v.wire - n : 0};
    return r;
}

/** Limit the view to the first n wire bytes (an IP length field). */
static view_t view_limit(view_t v, size_t n)
{
    view_t r = {v.p, min_size(v.cap, n), n};
    return r;
}

/* ---- Ethertypes and link layers --------------------------------------------- */

#define ETH_IPV4 0x0800u
#define ETH_IPV6 0x86ddu
#define ETH_VLAN 0x8100u
#define ETH_QINQ 0x88a8u
#define ETH_QINQ_OLD 0x9100u

/** Network layer found under the link header. */
typedef enum net_kind { NET_NONE, NET_IPV4, NET_IPV6 } net_kind_t;

static bool is_vlan_type(uint16_t t)
{
    return t == ETH_VLAN || t == ETH_QINQ || t == ETH_QINQ_OLD;
}

/**
 * Resolve an ethertype at v (already past the type field), skipping VLAN
 * tags.  On success *net is set and *v points at the network header.
 */
static pcapin_decode_result_t ethertype(uint16_t type, view_t *v, net_kind_t *net)
{
    unsigned tags = 0;
    while (is_vlan_type(type)) {
        if (tags++ >= PCAPIN_MAX_VLAN_TAGS) {
            return PCAPIN_DEC_NON_IP;
        }
        if (v->cap < 4) {
            return PCAPIN_DEC_TRUNCATED;
        }
        type = be16(v->p + 2); /* TCI (2 bytes), then the inner type */
        *v = view_skip(*v, 4);
    }
    if (type == ETH_IPV4) {
        *net = NET_IPV4;
    } else if (type == ETH_IPV6) {
        *net = NET_IPV6;
    } else {
        return PCAPIN_DEC_NON_IP; /* includes 802.3 length fields (<= 1500) */
    }
    return PCAPIN_DEC_TCP;
}

/** IP version from the first nibble (raw IP link types). */
static pcapin_decode_result_t raw_ip(const view_t *v, net_kind_t *net)
{
    if (v->cap < 1) {
        return PCAPIN_DEC_TRUNCATED;
    }
    const unsigned ver = v->p[0] >> 4;
    if (ver == 4) {
        *net = NET_IPV4;
    } else if (ver == 6) {
        *net = NET_IPV6;
    } else {
        return PCAPIN_DEC_NON_IP;
    }
    return PCAPIN_DEC_TCP;
}

/** Address family values used by DLT_NULL/DLT_LOOP across systems. */
static pcapin_decode_result_t bsd_family(uint32_t fam, net_kind_t *net)
{
    if (fam == 2) {
        *net = NET_IPV4;
    } else if (fam == 10 || fam == 24 || fam == 28 || fam == 30) {
        *net = NET_IPV6; /* Linux, NetBSD/OpenBSD, FreeBSD, Darwin */
    } else {
        return PCAPIN_DEC_NON_IP;
    }
    return PCAPIN_DEC_TCP;
}

/** Strip the link header of `dlt`; sets *net and advances *v. */
static pcapin_decode_result_t decode_link(int dlt, view_t *v, net_kind_t *net)
{
    switch (dlt) {
    case DLT_EN10MB:
        if (v->cap < 14) {
            return PCAPIN_DEC_TRUNCATED;
        }
        {
            const uint16_t type = be16(v->p + 12);
            *v = view_skip(*v, 14);
            return ethertype(type, v, net);
        }
    case DLT_NULL:
    case DLT_LOOP:
        if (v->cap < 4) {
            return PCAPIN_DEC_TRUNCATED;
        }
        {
            /* DLT_LOOP is big-endian; DLT_NULL is in the capturing host's
               order, which we detect: a family value is < 65536. */
            uint32_t fam = be32(v->p);
            if (dlt == DLT_NULL && fam > 0xffffu) {
                fam = le32(v->p);
            }
            *v = view_skip(*v, 4);
            return bsd_family(fam, net);
        }
    case DLT_RAW:
    case DLT_IPV4:
    case DLT_IPV6:
        return raw_ip(v, net);
    case DLT_LINUX_SLL:
        if (v->cap < 16) {
            return PCAPIN_DEC_TRUNCATED;
        }
        {
            const uint16_t type = be16(v->p + 14);
            *v = view_skip(*v, 16);
            return ethertype(type, v, net);
        }
    case DLT_LINUX_SLL2:
        if (v->cap < 20) {
            return PCAPIN_DEC_TRUNCATED;
        }
        {
            const uint16_t type = be16(v->p);
            *v = view_skip(*v, 20);
            return ethertype(type, v, net);
        }
    default:
        return PCAPIN_DEC_UNSUPPORTED_DLT;
    }
}

int pcapin_dlt_supported(int dlt)
{
    switch (dlt) {
    case DLT_EN10MB:
    case DLT_NULL:
    case DLT_LOOP:
    case DLT_RAW:
    case DLT_IPV4:
    case DLT_IPV6:
    case DLT_LINUX_SLL:
    case DLT_LINUX_SLL2:
        return 1;
    default:
        return 0;
    }
}

/* ---- IP layers ------------------------------------------------------------------ */

#define IPPROTO_TCP_NUM 6u

/**
 * Parse an IPv4 header; on success fills the segment's addresses and sets
 * *v to the TCP header, limited by the IP total length.
 */
static pcapin_decode_result_t decode_ipv4(view_t *v, tcpr_segment_t *seg,
                                          pcapin_stats_t *st)
{
    if (v->cap < 20) {
        return PCAPIN_DEC_TRUNCATED;
    }
    const uint8_t *h = v->p;
    const size_t ihl = (size_t)(h[0] & 0x0fu) * 4u;
    size_t total = be16(h + 2);
    if ((h[0] >> 4) != 4 || ihl < 20) {
        return PCAPIN_DEC_MALFORMED;
    }
    if (total == 0) { /* TSO/GSO on the sending host: length not yet set */
        st->ip_len_zero++;
        total = v->wire;
    }
    if (total < ihl) {
        return PCAPIN_DEC_MALFORMED;
    }
    if (v->cap < ihl) {
        return PCAPIN_DEC_TRUNCATED;
    }
    const uint16_t frag = be16(h + 6);
    if ((frag & 0x2000u) != 0 || (frag & 0x1fffu) != 0) {
        st->ipv4_fragments++;
        return PCAPIN_DEC_FRAGMENT;
    }
    if (h[9] != IPPROTO_TCP_NUM) {
        return PCAPIN_DEC_NON_TCP;
    }
    tcpr_endpoint_v4(&seg->src, h + 12, 0);
    tcpr_endpoint_v4(&seg->dst, h + 16, 0);
    /* The IP length bounds the payload (Ethernet padding is dropped).  If
       it claims more than the frame holds, the excess counts as missing
       bytes, so the reassembler reports a gap rather than inventing data. */
    *v = view_skip(view_limit(*v, total), ihl);
    return PCAPIN_DEC_TCP;
}

/** IPv6 extension headers we can step over. */
enum {
    IP6_HOPOPTS = 0, IP6_ROUTING = 43, IP6_FRAGMENT = 44, IP6_AH = 51,
    IP6_DSTOPTS = 60, IP6_MAX_EXT = 16
};

/**
 * Skip IPv6 extension headers starting with next-header value *nh at v.
 * Returns PCAPIN_DEC_TCP when *nh == TCP and v is at the TCP header.
 */
static pcapin_decode_result_t skip_ipv6_ext(uint8_t *nh, view_t *v,
                                            pcapin_stats_t *st)
{
    for (unsigned i = 0; i < IP6_MAX_EXT; i++) {
        size_t len;
        switch (*nh) {
        case IPPROTO_TCP_NUM:
            return PCAPIN_DEC_TCP;
        case IP6_HOPOPTS:
        case IP6_ROUTING:
        case IP6_DSTOPTS:
        case IP6_AH:
            if (v->cap < 2) {
                return PCAPIN_DEC_TRUNCATED;
            }
            len = *nh == IP6_AH ? ((size_t)v->p[1] + 2u) * 4u
                                : ((size_t)v->p[1] + 1u) * 8u;
            break;
        case IP6_FRAGMENT:
            if (v->cap < 8) {
                return PCAPIN_DEC_TRUNCATED;
            }
            if ((be16(v->p + 2) & 0xfff9u) != 0) { /* offset or M set */
                st->ipv6_fragments++;
                return PCAPIN_DEC_FRAGMENT;
            }
            len = 8; /* atomic fragment: whole packet, just skip */
            break;
        default:
            return PCAPIN_DEC_NON_TCP; /* ESP, no next header, UDP, ... */
        }
        if (len > v->wire) {
            return PCAPIN_DEC_MALFORMED;
        }
        if (len > v->cap) {
            return PCAPIN_DEC_TRUNCATED;
        }
        *nh = v->p[0];
        *v = view_skip(*v, len);
    }
    return PCAPIN_DEC_NON_TCP; /* too many extension headers */
}

/** Parse an IPv6 header (+ extensions); like decode_ipv4(). */
static pcapin_decode_result_t decode_ipv6(view_t *v, tcpr_segment_t *seg,
                                          pcapin_stats_t *st)
{
    if (v->cap < 40) {
        return PCAPIN_DEC_TRUNCATED;
    }
    const uint8_t *h = v->p;
    if ((h[0] >> 4) != 6) {
        return PCAPIN_DEC_MALFORMED;
    }
    size_t plen = be16(h + 4);
    if (plen == 0) { /* jumbogram or GSO: take the frame length */
        st->ip_len_zero++;
        plen = v->wire - 40u;
    }
    uint8_t nh = h[6];
    tcpr_endpoint_v6(&seg->src, h + 8, 0);
    tcpr_endpoint_v6(&seg->dst, h + 24, 0);
    *v = view_limit(view_skip(*v, 40), plen);
    return skip_ipv6_ext(&nh, v, st);
}

/* ---- TCP -------------------------------------------------------------------- */

/** Walk the TCP option list (captured part); false if malformed. */
static bool tcp_options_ok(const uint8_t *opt, size_t len)
{
    size_t i = 0;
    while (i < len) {
        const uint8_t kind = opt[i];
        if (kind == 0) { /* End of Option List */
            return true;
        }
        if (kind == 1) { /* No-Operation */
            i++;
            continue;
        }
        if (i + 1u >= len || opt[i + 1u] < 2u || i + opt[i + 1u] > len) {
            return false;
        }
        i += opt[i + 1u];
    }
    return true;
}

/** Parse the TCP header at v and fill ports, sequence, flags, payload. */
static pcapin_decode_result_t decode_tcp(view_t v, tcpr_segment_t *seg,
                                         pcapin_stats_t *st)
{
    if (v.cap < 20) {
        return PCAPIN_DEC_TRUNCATED;
    }
    const uint8_t *h = v.p;
    const size_t doff = (size_t)(h[12] >> 4) * 4u;
    if (doff < 20 || doff > v.wire) {
        return PCAPIN_DEC_MALFORMED;
    }
    seg->src.port = be16(h);
    seg->dst.port = be16(h + 2);
    seg->seq = be32(h + 4);
    seg->ack = be32(h + 8);
    seg->flags = (uint8_t)(h[13] & 0x3fu);
    if (!tcp_options_ok(h + 20, min_size(v.cap, doff) - 20u)) {
        st->bad_tcp_options++;
    }
    const size_t wire_payload = v.wire - doff;
    const size_t cap_payload = v.cap > doff ? v.cap - doff : 0u;
    seg->payload = cap_payload > 0 ? h + doff : NULL;
    seg->payload_len = cap_payload;
    seg->missing_len = wire_payload - cap_payload;
    if (seg->missing_len > 0) {
        st->snapped_packets++;
        st->snapped_bytes += seg->missing_len;
    }
    return PCAPIN_DEC_TCP;
}

/* ---- Packet decoder ------------------------------------------------------------ */

/** Count a non-TCP decode result. */
static void count_result(pcapin_decode_result_t r, pcapin_stats_t *st)
{
    switch (r) {
    case PCAPIN_DEC_NON_IP: st->non_ip++; break;
    case PCAPIN_DEC_NON_TCP: st->non_tcp++; break;
    case PCAPIN_DEC_TRUNCATED: st->truncated++; break;
    case PCAPIN_DEC_MALFORMED: st->malformed++; break;
    case PCAPIN_DEC_TCP: st->tcp_segments++; break;
    case PCAPIN_DEC_FRAGMENT:        /* counted where detected */
    case PCAPIN_DEC_UNSUPPORTED_DLT: /* refused at open time */
        break;
    }
}

pcapin_decode_result_t pcapin_decode(int dlt, const uint8_t *pkt, size_t caplen,
                                     size_t wirelen, const tcpr_time_t *ts,
                                     tcpr_segment_t *seg, pcapin_stats_t *st)
{
    pcapin_stats_t dummy;
    if (st == NULL) {
        memset(&dummy, 0, sizeof dummy);
        st = &dummy;
    }
    st->packets++;
    memset(seg, 0, sizeof *seg);
    if (ts != NULL) {
        seg->ts = *ts;
    }
    view_t v = {pkt, pkt != NULL ? caplen : 0u, wirelen < caplen ? caplen : wirelen};
    net_kind_t net = NET_NONE;
    pcapin_decode_result_t r = decode_link(dlt, &v, &net);
    if (r == PCAPIN_DEC_TCP) {
        r = net == NET_IPV4 ? decode_ipv4(&v, seg, st) : decode_ipv6(&v, seg, st);
    }
    if (r == PCAPIN_DEC_TCP) {
        r = decode_tcp(v, seg, st);
    }
    count_result(r, st);
    return r;
}

const char *pcapin_decode_result_str(pcapin_decode_result_t r)
{
    switch (r) {
    case PCAPIN_DEC_TCP: return "TCP segment";
    case PCAPIN_DEC_NON_IP: return "not IP";
    case PCAPIN_DEC_NON_TCP: return "not TCP";
    case PCAPIN_DEC_FRAGMENT: return "IP fragment (not reassembled)";
    case PCAPIN_DEC_TRUNCATED: return "headers truncated by snaplen";
    case PCAPIN_DEC_MALFORMED: return "malformed header";
    case PCAPIN_DEC_UNSUPPORTED_DLT: return "unsupported link type";
    }
    return "unknown";
}

/* ---- libpcap source --------------------------------------------------------------- */

struct pcapin {
    pcap_t *p;
    int dlt;
    bool nano;               /* timestamps are in nanoseconds */
    bool live;
    volatile sig_atomic_t broken; /* set by pcapin_break() */
    tcpr_ctx_t *reasm;       /* valid during pcapin_run() */
    pcapin_stats_t st;
    char err[PCAP_ERRBUF_SIZE + 128];
    char warn[PCAP_ERRBUF_SIZE + 128];
};

/** Apply a BPF filter; on failure writes the message to errbuf. */
static int apply_filter(pcap_t *p, const char *filter, char *errbuf, size_t errlen)
{
    struct bpf_program prog;
    if (filter == NULL || filter[0] == '\0') {
        return 0;
    }
    if (pcap_compile(p, &prog, filter, 1, PCAP_NETMASK_UNKNOWN) != 0) {
        snprintf(errbuf, errlen, "bad filter \"%s\": %s", filter, pcap_geterr(p));
        return -1;
    }
    const int rc = pcap_setfilter(p, &prog);
    pcap_freecode(&prog);
    if (rc != 0) {
        snprintf(errbuf, errlen, "cannot set filter \"%s\": %s", filter, pcap_geterr(p));
        return -1;
    }
    return 0;
}

/** Wrap an opened pcap_t: check its link type, set the filter. */
static pcapin_t *wrap(pcap_t *p, bool live, const char *filter, char *errbuf,
                      size_t errlen)
{
    const int dlt = pcap_datalink(p);
    if (!pcapin_dlt_supported(dlt)) {
        const char *name = pcap_datalink_val_to_name(dlt);
        snprintf(errbuf, errlen, "unsupported link type %d (%s)", dlt,
                 name != NULL ? name : "unknown");
        pcap_close(p);
        return NULL;
    }
    if (apply_filter(p, filter, errbuf, errlen) != 0) {
        pcap_close(p);
        return NULL;
    }
    pcapin_t *in = calloc(1, sizeof *in);
    if (in == NULL) {
        snprintf(errbuf, errlen, "out of memory");
        pcap_close(p);
        return NULL;
    }
    in->p = p;
    in->dlt = dlt;
    in->live = live;
    in->nano = pcap_get_tstamp_precision(p) == PCAP_TSTAMP_PRECISION_NANO;
    return in;
}

pcapin_t *pcapin_open_file(const char *path, const char *bpf_filter,
                           char *errbuf, size_t errlen)
{
    char pe[PCAP_ERRBUF_SIZE] = "";
    if (path == NULL) {
        snprintf(errbuf, errlen, "no capture file given");
        return NULL;
    }
    pcap_t *p = pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_NANO, pe);
    if (p == NULL) {
        snprintf(errbuf, errlen, "cannot open %s: %s", path, pe);
        return NULL;
    }
    return wrap(p, false, bpf_filter, errbuf, errlen);
}

/** Apply the pcap_set_* options before activation. */
static void set_live_options(pcap_t *p, const pcapin_live_opts_t *o)
{
    pcap_set_snaplen(p, o != NULL && o->snaplen > 0 ? o->snaplen : 262144);
    pcap_set_promisc(p, o != NULL && o->promisc);
    pcap_set_timeout(p, o != NULL && o->timeout_ms > 0 ? o->timeout_ms : 100);
    if (o != NULL && o->buffer_size > 0) {
        pcap_set_buffer_size(p, o->buffer_size);
    }
    if (o != NULL && o->immediate) {
        pcap_set_immediate_mode(p, 1);
    }
    /* Nanoseconds if the platform has them; otherwise stay in microseconds. */
    (void)pcap_set_tstamp_precision(p, PCAP_TSTAMP_PRECISION_NANO);
}

pcapin_t *pcapin_open_live(const char *ifname, const char *bpf_filter,
                           const pcapin_live_opts_t *opts, char *errbuf,
                           size_t errlen)
{
    char pe[PCAP_ERRBUF_SIZE] = "";
    if (ifname == NULL) {
        snprintf(errbuf, errlen, "no interface given");
        return NULL;
    }
    pcap_t *p = pcap_create(ifname, pe);
    if (p == NULL) {
        snprintf(errbuf, errlen, "cannot open interface %s: %s", ifname, pe);
        return NULL;
    }
    set_live_options(p, opts);
    const int rc = pcap_activate(p);
    if (rc < 0) {
        /* pcap_geterr() holds details for most codes; it may be empty. */
        const char *detail = pcap_geterr(p);
        snprintf(errbuf, errlen, "cannot capture on %s: %s%s%s%s", ifname,
                 pcap_statustostr(rc), detail[0] != '\0' ? " (" : "", detail,
                 detail[0] != '\0' ? ")" : "");
        pcap_close(p);
        return NULL;
    }
    char warn[sizeof ((pcapin_t *)0)->warn] = "";
    if (rc > 0) {
        snprintf(warn, sizeof warn, "%s: %s", pcap_statustostr(rc), pcap_geterr(p));
    }
    pcapin_t *in = wrap(p, true, bpf_filter, errbuf, errlen);
    if (in != NULL) {
        memcpy(in->warn, warn, sizeof warn);
    }
    return in;
}

/** pcap_dispatch() callback: decode one packet and feed the reassembler. */
static void on_packet(u_char *user, const struct pcap_pkthdr *h, const u_char *bytes)
{
    pcapin_t *in = (pcapin_t *)(void *)user;
    tcpr_time_t ts;
    ts.sec = (int64_t)h->ts.tv_sec;
    ts.nsec = (uint32_t)h->ts.tv_usec * (in->nano ? 1u : 1000u);
    tcpr_segment_t seg;
    if (pcapin_decode(in->dlt, bytes, h->caplen, h->len, &ts, &seg, &in->st) !=
        PCAPIN_DEC_TCP) {
        return;
    }
    if (tcpr_input(in->reasm, &seg) != TCPR_OK) {
        in->st.reasm_errors++;
    }
}

pcapin_status_t pcapin_run(pcapin_t *in, tcpr_ctx_t *reasm, uint64_t max_packets)
{
    if (in == NULL || reasm == NULL) {
        return PCAPIN_ERROR;
    }
    in->reasm = reasm;
    in->err[0] = '\0';
    uint64_t done = 0;
    pcapin_status_t status = PCAPIN_OK;
    while (!in->broken) {
        int cnt = -1;
        if (max_packets != 0) {
            if (done >= max_packets) {
                break;
            }
            const uint64_t left = max_packets - done;
            cnt = left > 65536u ? 65536 : (int)left;
        }
        const int rc = pcap_dispatch(in->p, cnt, on_packet, (u_char *)(void *)in);
        if (rc == PCAP_ERROR_BREAK) {
            status = PCAPIN_BROKEN;
            break;
        }
        if (rc < 0) {
            snprintf(in->err, sizeof in->err, "read error: %s", pcap_geterr(in->p));
            status = PCAPIN_ERROR;
            break;
        }
        if (rc == 0 && !in->live) {
            break; /* end of file */
        }
        done += (uint64_t)rc;
    }
    if (in->broken && status == PCAPIN_OK) {
        status = PCAPIN_BROKEN;
    }
    in->reasm = NULL;
    return status;
}

void pcapin_break(pcapin_t *in)
{
    if (in != NULL) {
        in->broken = 1;
        pcap_breakloop(in->p);
    }
}

const char *pcapin_error(const pcapin_t *in) { return in != NULL ? in->err : "no input"; }

const char *pcapin_warning(const pcapin_t *in) { return in != NULL ? in->warn : ""; }

int pcapin_datalink(const pcapin_t *in) { return in->dlt; }

const char *pcapin_datalink_name(const pcapin_t *in)
{
    const char *n = pcap_datalink_val_to_name(in->dlt);
    return n != NULL ? n : "unknown";
}

const pcapin_stats_t *pcapin_stats(const pcapin_t *in) { return &in->st; }

int pcapin_capture_drops(pcapin_t *in, uint64_t *received, uint64_t *dropped,
                         uint64_t *if_dropped)
{
    struct pcap_stat ps;
    if (in == NULL || !in->live) {
        return -1;
    }
    if (pcap_stats(in->p, &ps) != 0) {
        snprintf(in->err, sizeof in->err, "pcap_stats: %s", pcap_geterr(in->p));
        return -1;
    }
    if (received != NULL) {
        *received = ps.ps_recv;
    }
    if (dropped != NULL) {
        *dropped = ps.ps_drop;
    }
    if (if_dropped != NULL) {
        *if_dropped = ps.ps_ifdrop;
    }
    return 0;
}

void pcapin_close(pcapin_t *in)
{
    if (in == NULL) {
        return;
    }
    pcap_close(in->p);
    free(in);
}
