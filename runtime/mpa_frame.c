/* runtime/mpa_frame.c - MPA FPDU framing for the iwkit runtime (RFC 5044 §4): ULPDU_Length,
 * pad to a 4-octet boundary, CRC32c over the FPDU as sent (Markers included, §4.4), Markers every
 * 512 octets of the stream counted from the start of FPDU mode (§4.3; FPDUPTR = octets from the
 * FPDU's first octet to the Marker: the fpdu_start convention of spec/mpa.iws, not the RFC's).
 * The transmit side builds an iovec from the generated framer's plan that points at the caller's
 * buffers; the receive side reads
 * with readv straight into the destination, Markers into a 4-octet scratch. */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "iwk_internal.h"
#include "iwk_mpa.h"
#include "iwkit/crc32c.h"
#include "iwk_mpa_stream.h"

static const uint8_t zero_pad[4];

/* ---- transmit ------------------------------------------------------------------------------ */
/* The FPDU's layout (where Markers go and what they say, pad, what the CRC covers) is the plan of
 * the generated framer (iwk_mpa_stream_tx_plan, spec/mpa.iws stream mpa_stream); this code only
 * points an iovec at the caller's buffers for each run of the plan. The runtime sends the
 * fpdu_start FPDUPTR convention, the one its receive side checks. */

struct tx_builder {
    struct iwk_fpdu *f;
    uint32_t crc;
    uint8_t crc_on;
    uint32_t nmk;
    /* the body is hdr[0 .. hlen-1] then the payload pieces; a cursor walks the payload once */
    const uint8_t *hdr;
    uint32_t hlen;
    const struct iovec *pay;
    int npay;
    int pi;               /* payload piece of the cursor */
    size_t po;            /* offset inside it */
    uint32_t crc_taken;   /* octets of the CRC field already placed */
};

static void tb_iov(struct tx_builder *b, const void *ptr, size_t len, int covered)
{
    struct iwk_fpdu *f = b->f;
    if (len == 0)
        return;
    if (covered && b->crc_on)
        b->crc = iwk_crc32c_update(b->crc, ptr, len);
    f->total += len;
    if (f->iovcnt > 0) {   /* contiguous with the previous piece (length field and header): extend */
        struct iovec *last = &f->iov[f->iovcnt - 1];
        if ((const uint8_t *)last->iov_base + last->iov_len == (const uint8_t *)ptr) {
            last->iov_len += len;
            return;
        }
    }
    f->iov[f->iovcnt].iov_base = (void *)(uintptr_t)ptr;
    f->iov[f->iovcnt].iov_len = len;
    f->iovcnt++;
}

/* Body octets [off, off + len): header octets first, then payload from the cursor on. */
static void tb_body(struct tx_builder *b, uint32_t off, uint32_t len, int covered)
{
    if (off < b->hlen) {
        uint32_t n = b->hlen - off < len ? b->hlen - off : len;
        tb_iov(b, b->hdr + off, n, covered);
        len -= n;
    }
    while (len > 0 && b->pi < b->npay) {
        size_t room = b->pay[b->pi].iov_len - b->po;
        size_t n = room < len ? room : len;
        tb_iov(b, (const uint8_t *)b->pay[b->pi].iov_base + b->po, n, covered);
        b->po += n;
        len -= (uint32_t)n;
        if (b->po == b->pay[b->pi].iov_len) {
            b->pi++;
            b->po = 0;
        }
    }
}

static void tb_run(struct tx_builder *b, const struct iwk_mpa_stream_run *r)
{
    struct iwk_fpdu *f = b->f;
    switch (r->kind) {
    case IWK_MPA_STREAM_RUN_MARKER: {
        uint8_t *mk = (uint8_t *)&f->markers[b->nmk++];
        iwk_mpa_stream_marker_octets(mk, r->pointer);
        tb_iov(b, mk, r->len, r->covered);
        break;
    }
    case IWK_MPA_STREAM_RUN_LENGTH:
        tb_iov(b, f->head, r->len, r->covered); /* the length field is never cut by a Marker */
        break;
    case IWK_MPA_STREAM_RUN_BODY:
        tb_body(b, r->body_off, r->len, r->covered);
        break;
    case IWK_MPA_STREAM_RUN_PAD:
        tb_iov(b, zero_pad, r->len, r->covered);
        break;
    default: /* CRC: every covered run came before it */
        if (b->crc_taken == 0)
            iwk_mpa_stream_crc_octets(f->trailer, b->crc_on ? iwk_crc32c_final(b->crc) : 0u);
        tb_iov(b, f->trailer + b->crc_taken, r->len, 0);
        b->crc_taken += r->len;
        break;
    }
}

void iwk_fpdu_build(struct iwk_mpa_tx *tx, struct iwk_fpdu *f, const uint8_t *hdr, uint32_t hlen,
                    const struct iovec *pay, int npay, uint32_t plen)
{
    const uint32_t ulen = hlen + plen;
    struct iwk_mpa_stream_tx st;
    struct iwk_mpa_stream_run runs[IWK_MPA_STREAM_MAX_RUNS];
    iwk_mpa_stream_tx_init(&st, 0, tx->markers, IWK_MPA_STREAM_CONV_FPDU_START);
    st.pos = tx->pos;
    const size_t nr = iwk_mpa_stream_tx_plan(&st, ulen, runs, IWK_MPA_STREAM_MAX_RUNS);
    f->head[0] = (uint8_t)(ulen >> 8);
    f->head[1] = (uint8_t)ulen;
    memcpy(f->head + 2, hdr, hlen);
    f->head_len = 2u + hlen;
    f->iovcnt = 0;
    f->iov_first = 0;
    f->total = 0;
    f->sent = 0;
    struct tx_builder b = { .f = f, .crc = iwk_crc32c_init(), .crc_on = tx->crc, .hdr = f->head + 2,
                            .hlen = hlen, .pay = pay, .npay = npay };
    for (size_t i = 0; i < nr; i++)
        tb_run(&b, &runs[i]);
    tx->pos += f->total;
}

uint32_t iwk_mpa_mulpdu(uint32_t mss, int markers)
{
    uint32_t emss = mss < 64u ? 64u : mss;
    if (emss > IWK_MAX_ULPDU + 6u)
        emss = IWK_MAX_ULPDU + 6u;
    uint32_t room = emss - 6u; /* ULPDU_Length and CRC */
    if (markers)
        room -= 4u * ((emss + IWK_MARKER_INTERVAL - 1u) / IWK_MARKER_INTERVAL);
    uint32_t m = ((room - 2u) & ~3u) + 2u; /* no pad needed: 2 + ULPDU is a multiple of 4 */
    return m > 65534u ? 65534u : m;
}

/* ---- receive ------------------------------------------------------------------------------- */

void iwk_mpa_rx_fpdu_begin(struct iwk_mpa_rx *rx)
{
    rx->fpdu_start = rx->pos;
    rx->crc_state = iwk_crc32c_init();
    rx->mk_have = 0; /* reused as "CRC field started" */
}

#define RX_MAX_IOV 320 /* a whole 64 KiB FPDU with its Markers in one readv */

struct rx_piece {
    uint8_t *ptr;
    size_t len;
    uint8_t marker;
    uint8_t mk_off;             /* Marker pieces: offset of the first octet inside the Marker */
};

/* Plans one readv: destination runs and Marker pieces, in stream order. Each Marker gets its
 * own 4-octet slot in mkbuf (one readv can cross several). */
static int rx_plan(const struct iwk_mpa_rx *rx, const struct iovec *dst, int ndst, size_t want,
                   struct rx_piece *pc, uint8_t (*mkbuf)[4])
{
    int n = 0, nmk = 0;
    uint64_t p = rx->pos;
    for (int i = 0; i < ndst && want > 0 && n < RX_MAX_IOV - 1; i++) {
        uint8_t *ptr = dst[i].iov_base;
        size_t len = dst[i].iov_len < want ? dst[i].iov_len : want;
        while (len > 0 && n < RX_MAX_IOV - 1) {
            uint32_t in = (uint32_t)(p % IWK_MARKER_INTERVAL);
            if (rx->markers && in < 4u) {
                pc[n++] = (struct rx_piece){ mkbuf[nmk++] + in, 4u - in, 1, (uint8_t)in };
                p += 4u - in;
                continue;
            }
            size_t run = len;
            if (rx->markers && run > IWK_MARKER_INTERVAL - in)
                run = IWK_MARKER_INTERVAL - in;
            pc[n++] = (struct rx_piece){ ptr, run, 0, 0 };
            ptr += run;
            len -= run;
            want -= run;
            p += run;
        }
    }
    return n;
}

/* RFC 5044 §4.2: the Reserved field is ignored on receive and FPDUPTR's two least significant
 * bits are taken as zero (the FPDU start is 4-aligned, so the distance back always is). */
static void rx_marker_done(struct iwk_mpa_rx *rx, uint64_t marker_pos)
{
    struct iwk_mpa_marker m;
    if (iwk_mpa_marker_parse(rx->mk, sizeof rx->mk, &m) != IWK_OK ||
        (uint32_t)(m.fpduptr - m.fpduptr % 4u) != (uint32_t)(marker_pos - rx->fpdu_start))
        rx->marker_error = 1;
}

/* Where a data run of one read goes: the CRC of the current FPDU up to crc_end, then the CRC
 * field (not covered), then from next_start a new FPDU begins (its CRC starts again; a Marker
 * right there is its first octets, RFC 5044 §4.3). Offsets count data octets of this read. */
struct rx_bounds {
    size_t d;           /* data octets consumed so far in this call */
    size_t crc_end;
    size_t next_start;
};

static void rx_switch_fpdu(struct iwk_mpa_rx *rx, struct iwk_pcap_rxrec *rec)
{
    rx->crc_prev = iwk_crc32c_final(rx->crc_state);
    rx->switched = 1;
    if (rec != NULL)
        iwk_pcap_rx_flush(rec); /* recordings are cut at FPDU boundaries */
    iwk_mpa_rx_fpdu_begin(rx);
}

static void rx_data(struct iwk_mpa_rx *rx, struct rx_bounds *b, const uint8_t *p, size_t k,
                    struct iwk_pcap_rxrec *rec)
{
    while (k > 0) {
        size_t run = k;
        int covered = b->d < b->crc_end;
        if (covered && run > b->crc_end - b->d)
            run = b->crc_end - b->d;
        if (!covered && b->d < b->next_start && run > b->next_start - b->d)
            run = b->next_start - b->d;
        if (covered && rx->crc)
            rx->crc_state = iwk_crc32c_update(rx->crc_state, p, run);
        if (!covered)
            rx->mk_have = 1; /* inside the CRC field: a Marker here is not covered (§4.4) */
        if (rec != NULL) {
            struct iovec v = { .iov_base = (void *)(uintptr_t)p, .iov_len = run };
            iwk_pcap_rx_append(rec, &v, 1, run);
        }
        rx->pos += run;
        b->d += run;
        p += run;
        k -= run;
        if (b->d == b->next_start) {
            rx_switch_fpdu(rx, rec);
            b->crc_end = b->next_start = SIZE_MAX; /* the rest belongs to the new FPDU */
        }
    }
}

/* Copies read-ahead octets into the planned pieces, in order; returns how many. */
static size_t stash_take(struct iwk_mpa_rx *rx, const struct iovec *iov, int n)
{
    size_t got = 0;
    for (int i = 0; i < n && rx->stash_len > 0; i++) {
        size_t k = iov[i].iov_len < rx->stash_len ? iov[i].iov_len : rx->stash_len;
        memcpy(iov[i].iov_base, rx->stash + rx->stash_off, k);
        rx->stash_off += (uint32_t)k;
        rx->stash_len -= (uint32_t)k;
        got += k;
        if (k < iov[i].iov_len)
            break;
    }
    if (rx->stash_len == 0)
        rx->stash_off = 0;
    return got;
}

/* Reads the pieces not filled from the read-ahead (the first `got` octets are); a small read
 * that found the read-ahead empty also reads ahead into it. Octets stored in the pieces,
 * 0 at end of stream, -EAGAIN, -errno. */
static long read_rest(struct iwk_mpa_rx *rx, int fd, struct iovec *iov, int n, size_t got, size_t planned)
{
    int first = 0;
    size_t skip = got;
    while (first < n && skip >= iov[first].iov_len)
        skip -= iov[first++].iov_len;
    if (first == n)
        return 0;
    struct iovec v[RX_MAX_IOV + 1];
    size_t room = 0;
    int k = 0;
    for (int i = first; i < n; i++, k++) {
        v[k] = iov[i];
        if (i == first) {
            v[k].iov_base = (uint8_t *)v[k].iov_base + skip;
            v[k].iov_len -= skip;
        }
        room += v[k].iov_len;
    }
    int ahead = got == 0 && planned <= IWK_RX_STASH_SMALL;
    if (ahead)
        v[k++] = (struct iovec){ .iov_base = rx->stash, .iov_len = sizeof rx->stash };
    ssize_t r = readv(fd, v, k);
    if (r < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK ? -EAGAIN : -errno;
    rx->drained = (size_t)r < room + (ahead ? sizeof rx->stash : 0u);
    if (ahead && (size_t)r > room) {
        rx->stash_off = 0;
        rx->stash_len = (uint32_t)((size_t)r - room);
        r = (ssize_t)room;
    }
    return (long)r;
}

int iwk_mpa_rx_emptied(const struct iwk_mpa_rx *rx, long stored)
{
    return (size_t)stored < rx->planned || (rx->stash_len == 0 && rx->drained);
}

long iwk_mpa_rx_read(struct iwk_mpa_rx *rx, int fd, const struct iovec *dst, int ndst, size_t want,
                     size_t crc_end, size_t next_start, struct iwk_pcap_rxrec *rec)
{
    struct rx_piece pc[RX_MAX_IOV];
    struct iovec iov[RX_MAX_IOV];
    uint8_t mkbuf[RX_MAX_IOV][4];
    struct rx_bounds b = { .d = 0, .crc_end = crc_end, .next_start = next_start };
    long stored = 0;
    while (stored == 0) {
        int n = rx_plan(rx, dst, ndst, want, pc, mkbuf);
        size_t planned = 0; /* data octets this read can take (the plan may stop short of want) */
        for (int i = 0; i < n; i++) {
            iov[i].iov_base = pc[i].ptr;
            iov[i].iov_len = pc[i].len;
            planned += pc[i].marker ? 0u : pc[i].len;
        }
        rx->planned = planned;
        size_t got = stash_take(rx, iov, n);
        /* read ahead to its end and the socket was empty then: what came since is a new event
         * (edge-triggered epoll) or poll() reports it; no readv that would find nothing */
        long r = got > 0 && rx->stash_len == 0 && rx->drained ? -EAGAIN : read_rest(rx, fd, iov, n, got, planned);
        if (r < 0 && got == 0)
            return r;
        if (r == 0 && got == 0)
            return 0;
        r = r < 0 ? (long)got : r + (long)got; /* the error, or the end, comes with the next call */
        size_t left = (size_t)r;
        for (int i = 0; i < n && left > 0; i++) {
            size_t k = pc[i].len < left ? pc[i].len : left;
            if (pc[i].marker) {
                uint64_t mpos = rx->pos - (rx->pos % IWK_MARKER_INTERVAL);
                if (rx->crc && rx->mk_have == 0)
                    rx->crc_state = iwk_crc32c_update(rx->crc_state, pc[i].ptr, k);
                memcpy(rx->mk + pc[i].mk_off, pc[i].ptr, k); /* a Marker may span two reads */
                if (rec != NULL) {
                    struct iovec v = { .iov_base = pc[i].ptr, .iov_len = k };
                    iwk_pcap_rx_append(rec, &v, 1, k);
                }
                rx->pos += k;
                if (rx->pos % IWK_MARKER_INTERVAL == 4u)
                    rx_marker_done(rx, mpos);
            } else {
                rx_data(rx, &b, pc[i].ptr, k, rec);
                stored += (long)k;
            }
            left -= k;
        }
    }
    return stored;
}
