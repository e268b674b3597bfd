/*
 * tcp_reasm.c - TCP stream reassembly for iwdump (see tcp_reasm.h).
 *
 * Data structures
 *   - tcpr_ctx_t owns a chained hash table of flows (keyed by the unordered
 *     endpoint pair) and a creation-ordered doubly linked list of the same
 *     flows (for deterministic flush/expire order).
 *   - Each direction (dirstate_t) holds a delivery cursor `next_off` (64-bit
 *     stream offset), the sequence number of offset 0 (`base_seq`), and a
 *     sorted, non-overlapping singly linked list of buffered chunks that all
 *     lie strictly beyond the cursor (invariant: head->off > next_off after
 *     every drain).
 *
 * Sequence numbers are mapped to stream offsets relative to the cursor with
 * signed 32-bit serial-number arithmetic, so a direction may carry any number
 * of bytes (wraparound of the 32-bit space is handled), provided segments are
 * within +-2^31 of the cursor, which TCP guarantees.
 *
 * Gaps are coalesced: consecutive lost ranges (a hole followed by snapped
 * bytes, say) are reported as one on_gap() event, emitted before the next
 * on_data()/on_close() or at the end of the tcpr_input() call.
 */
#include "tcp_reasm.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- Internal types ----------------------------------------------------- */

/** A buffered out-of-order piece of one direction's stream. */
typedef struct chunk {
    struct chunk *next;
    uint64_t off;      /* stream offset of the first byte */
    size_t len;        /* bytes (> 0) */
    tcpr_time_t ts;    /* capture time of the segment that carried it */
    bool lost;         /* seen on the wire but not captured: no data */
    uint8_t data[];    /* len bytes, unless lost */
} chunk_t;

/** Reassembly state of one direction. */
typedef struct dirstate {
    bool have_base;     /* base_seq is valid */
    bool isn_known;     /* base_seq derived from a SYN / SYN+ACK */
    bool closed;        /* on_close was called */
    bool fin_seen;      /* fin_off is valid */
    uint32_t base_seq;  /* sequence number of stream offset 0 */
    uint64_t next_off;  /* delivery cursor: next offset to report */
    uint64_t fin_off;   /* stream offset the FIN occupies */
    chunk_t *head;      /* buffered chunks, sorted by off */
    chunk_t *tail;      /* last chunk (append fast path) */
    size_t buffered;    /* memory charged: data bytes + chunk headers */
    uint64_t gap_off;   /* pending (coalesced) gap: start ... */
    size_t gap_len;     /* ... and length, 0 = none pending */
    tcpr_dir_stats_t st;
} dirstate_t;

struct tcpr_flow {
    struct tcpr_flow *hnext;   /* hash chain */
    struct tcpr_flow *lprev;   /* creation-ordered list */
    struct tcpr_flow *lnext;
    uint32_t hash;
    uint64_t id;
    tcpr_endpoint_t ep[2];     /* ep[0] = client, ep[1] = server */
    bool client_from_syn;
    tcpr_time_t last_ts;
    dirstate_t d[2];           /* indexed by tcpr_dir_t */
    void *user;
};

struct tcpr_ctx {
    tcpr_config_t cfg;
    tcpr_callbacks_t cb;
    void *user;
    tcpr_flow_t **buckets;
    size_t nbuckets;           /* power of two */
    tcpr_flow_t *first;        /* creation-ordered list */
    tcpr_flow_t *last;
    uint64_t next_id;
    bool in_cb;                /* re-entrancy guard */
    tcpr_ctx_stats_t st;
};

#define INITIAL_BUCKETS 256u
#define CHUNK_OVERHEAD (sizeof(chunk_t))

/* ---- Small helpers ------------------------------------------------------ */

static size_t addr_len(const tcpr_endpoint_t *ep)
{
    return ep->family == TCPR_AF_INET4 ? 4u : 16u;
}

static bool ep_equal(const tcpr_endpoint_t *a, const tcpr_endpoint_t *b)
{
    return a->family == b->family && a->port == b->port &&
           memcmp(a->addr, b->addr, addr_len(a)) == 0;
}

/** Total order on endpoints (family, address, port). */
static int ep_cmp(const tcpr_endpoint_t *a, const tcpr_endpoint_t *b)
{
    if (a->family != b->family) {
        return a->family < b->family ? -1 : 1;
    }
    const int c = memcmp(a->addr, b->addr, addr_len(a));
    if (c != 0) {
        return c;
    }
    if (a->port != b->port) {
        return a->port < b->port ? -1 : 1;
    }
    return 0;
}

static uint32_t fnv1a(uint32_t h, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 16777619u;
    }
    return h;
}

static uint32_t ep_hash(uint32_t h, const tcpr_endpoint_t *ep)
{
    const uint8_t port[2] = {(uint8_t)(ep->port >> 8), (uint8_t)ep->port};
    h = fnv1a(h, &ep->family, 1);
    h = fnv1a(h, ep->addr, addr_len(ep));
    return fnv1a(h, port, sizeof port);
}

/** Hash of the unordered endpoint pair. */
static uint32_t pair_hash(const tcpr_endpoint_t *a, const tcpr_endpoint_t *b)
{
    const bool swap = ep_cmp(a, b) > 0;
    uint32_t h = 2166136261u;
    h = ep_hash(h, swap ? b : a);
    return ep_hash(h, swap ? a : b);
}

static bool time_before(const tcpr_time_t *a, const tcpr_time_t *b)
{
    return a->sec < b->sec || (a->sec == b->sec && a->nsec < b->nsec);
}

/** Signed difference a - b, serial-number arithmetic mod 2^32. */
static int64_t seq_diff(uint32_t a, uint32_t b)
{
    const uint32_t d = a - b;
    return d <= 0x7fffffffu ? (int64_t)d : (int64_t)d - 4294967296LL;
}

/** Stream offset of sequence number `seq` in direction `d` (may be < 0). */
static int64_t seq_to_off(const dirstate_t *d, uint32_t seq)
{
    const uint32_t cursor_seq = d->base_seq + (uint32_t)d->next_off;
    return (int64_t)d->next_off + seq_diff(seq, cursor_seq);
}

static tcpr_dir_t other_dir(tcpr_dir_t dir)
{
    return dir == TCPR_DIR_C2S ? TCPR_DIR_S2C : TCPR_DIR_C2S;
}

/* ---- Public trivial functions -------------------------------------------- */

void tcpr_config_init(tcpr_config_t *cfg)
{
    if (cfg == NULL) {
        return;
    }
    cfg->max_buffer_bytes = TCPR_DEFAULT_MAX_BUFFER;
    cfg->gap_after_bytes = 0;
    cfg->gap_on_ack = false;
}

const char *tcpr_strerror(tcpr_err_t err)
{
    switch (err) {
    case TCPR_OK: return "success";
    case TCPR_ERR_NOMEM: return "out of memory";
    case TCPR_ERR_INVALID: return "invalid argument";
    case TCPR_ERR_REENTRANT: return "called from inside a tcp_reasm callback";
    }
    return "unknown error";
}

const char *tcpr_close_reason_str(tcpr_close_reason_t reason)
{
    switch (reason) {
    case TCPR_CLOSE_FIN: return "FIN";
    case TCPR_CLOSE_RST: return "RST";
    case TCPR_CLOSE_END_OF_CAPTURE: return "end of capture";
    case TCPR_CLOSE_IDLE: return "idle";
    case TCPR_CLOSE_SUPERSEDED: return "superseded by a new SYN";
    }
    return "unknown";
}

void tcpr_endpoint_v4(tcpr_endpoint_t *ep, const uint8_t addr[4], uint16_t port)
{
    memset(ep, 0, sizeof *ep);
    ep->family = TCPR_AF_INET4;
    memcpy(ep->addr, addr, 4);
    ep->port = port;
}

void tcpr_endpoint_v6(tcpr_endpoint_t *ep, const uint8_t addr[16], uint16_t port)
{
    memset(ep, 0, sizeof *ep);
    ep->family = TCPR_AF_INET6;
    memcpy(ep->addr, addr, 16);
    ep->port = port;
}

char *tcpr_endpoint_str(const tcpr_endpoint_t *ep, char *buf, size_t buflen)
{
    char a[INET6_ADDRSTRLEN];
    if (buf == NULL || buflen == 0) {
        return buf;
    }
    if (ep == NULL) {
        snprintf(buf, buflen, "?");
        return buf;
    }
    const int af = ep->family == TCPR_AF_INET4 ? AF_INET : AF_INET6;
    if (inet_ntop(af, ep->addr, a, sizeof a) == NULL) {
        snprintf(a, sizeof a, "?");
    }
    if (ep->family == TCPR_AF_INET4) {
        snprintf(buf, buflen, "%s:%u", a, (unsigned)ep->port);
    } else {
        snprintf(buf, buflen, "[%s]:%u", a, (unsigned)ep->port);
    }
    return buf;
}

/* ---- Flow accessors ------------------------------------------------------ */

uint64_t tcpr_flow_id(const tcpr_flow_t *flow) { return flow->id; }

const tcpr_endpoint_t *tcpr_flow_src(const tcpr_flow_t *flow, tcpr_dir_t dir)
{
    return &flow->ep[dir == TCPR_DIR_C2S ? 0 : 1];
}

const tcpr_endpoint_t *tcpr_flow_dst(const tcpr_flow_t *flow, tcpr_dir_t dir)
{
    return &flow->ep[dir == TCPR_DIR_C2S ? 1 : 0];
}

bool tcpr_flow_client_from_syn(const tcpr_flow_t *flow)
{
    return flow->client_from_syn;
}

bool tcpr_flow_isn_known(const tcpr_flow_t *flow, tcpr_dir_t dir)
{
    return flow->d[dir].isn_known;
}

uint32_t tcpr_flow_base_seq(const tcpr_flow_t *flow, tcpr_dir_t dir)
{
    return flow->d[dir].base_seq;
}

uint64_t tcpr_flow_next_offset(const tcpr_flow_t *flow, tcpr_dir_t dir)
{
    return flow->d[dir].next_off;
}

bool tcpr_flow_closed(const tcpr_flow_t *flow, tcpr_dir_t dir)
{
    return flow->d[dir].closed;
}

const tcpr_dir_stats_t *tcpr_flow_stats(const tcpr_flow_t *flow, tcpr_dir_t dir)
{
    return &flow->d[dir].st;
}

void *tcpr_flow_user(const tcpr_flow_t *flow) { return flow->user; }

void tcpr_flow_set_user(tcpr_flow_t *flow, void *ptr) { flow->user = ptr; }

const tcpr_ctx_stats_t *tcpr_ctx_stats(const tcpr_ctx_t *ctx) { return &ctx->st; }

/* ---- Event emission ------------------------------------------------------ */

/** Report the pending coalesced gap of `dir`, if any. */
static void flush_gap(tcpr_ctx_t *ctx, tcpr_flow_t *flow, tcpr_dir_t dir)
{
    dirstate_t *d = &flow->d[dir];
    if (d->gap_len == 0) {
        return;
    }
    d->st.gap_events++;
    if (ctx->cb.on_gap != NULL) {
        ctx->cb.on_gap(ctx->user, flow, dir, d->gap_off, d->gap_len);
    }
    d->gap_len = 0;
}

/** Declare `len` bytes at the cursor lost and advance the cursor. */
static void emit_gap(tcpr_ctx_t *ctx, tcpr_flow_t *flow, tcpr_dir_t dir, size_t len)
{
    dirstate_t *d = &flow->d[dir];
    if (len == 0) {
        return;
    }
    if (d->gap_len == 0) {
        d->gap_off = d->next_off;
    }
    d->gap_len += len;
    d->st.gap_bytes += len;
    d->next_off += len;
    (void)ctx;
}

/** Deliver `len` captured bytes at the cursor and advance it. */
static void emit_data(tcpr_ctx_t *ctx, tcpr_flow_t *flow, tcpr_dir_t dir,
                      const uint8_t *data, size_t len, const tcpr_time_t *ts)
{
    dirstate_t *d = &flow->d[dir];
    if (len == 0) {
        return;
    }
    flush_gap(ctx, flow, dir);
    d->st.delivered_bytes += len;
    if (ctx->cb.on_data != NULL) {
        ctx->cb.on_data(ctx->user, flow, dir, d->next_off, data, len, ts);
    }
    d->next_off += len;
}

/** Deliver a range at the cursor that is either data or lost. */
static void emit_range(tcpr_ctx_t *ctx, tcpr_flow_t *flow, tcpr_dir_t dir,
                       const uint8_t *data, size_t len, bool lost,
                       const tcpr_time_t *ts)
{
    if (lost) {
        emit_gap(ctx, flow, dir, len);
    } else {
        emit_data(ctx, flow, dir, data, len, ts);
    }
}

/* ---- Chunk buffer --------------------------------------------------------- */

static void free_chunks(dirstate_t *d)
{
    chunk_t *c = d->head;
    while (c != NULL) {
        chunk_t *n = c->next;
        free(c);
        c = n;
    }
    d->head = NULL;
    d->tail = NULL;
    d->buffered = 0;
}

static size_t chunk_charge(size_t len, bool lost)
{
    return CHUNK_OVERHEAD + (lost ? 0u : len);
}

/** Deliver (and free) buffered chunks that start at the cursor. */
static void drain(tcpr_ctx_t *ctx, tcpr_flow_t *flow, tcpr_dir_t dir)
{
    dirstate_t *d = &flow->d[dir];
    while (d->head != NULL && d->head->off == d->next_off) {
        chunk_t *c = d->head;
        d->head = c->next;
        if (d->head == NULL) {
            d->tail = NULL;
        }
        d->buffered -= chunk_charge(c->len, c->lost);
        emit_range(ctx, flow, dir, c->data, c->len, c->lost, &c->ts);
        free(c);
    }
}

/**
 * Declare the first hole lost: report a gap from the cursor to the first
 * buffered chunk, then deliver the contiguous chunks after it.
 * Returns false if nothing is buffered (no hole to skip).
 */
static bool skip_first_hole(tcpr_ctx_t *ctx, tcpr_flow_t *flow, tcpr_dir_t dir)
{
    dirstate_t *d = &flow->d[dir];
    if (d->head == NULL) {
        return false;
    }
    emit_gap(ctx, flow, dir, (size_t)(d->head->off - d->next_off));
    drain(ctx, flow, dir);
    return true;
}

/** Count bytes of [s, s+len) not covered by buffered chunks. */
static size_t uncovered_bytes(const dirstate_t *d, uint64_t s, size_t len,
                              size_t *pieces)
{
    const uint64_t e = s + len;
    uint64_t pos = s;
    size_t n = 0;
    *pieces = 0;
    for (const chunk_t *c = d->head; c != NULL && pos < e; c = c->next) {
        const uint64_t ce = c->off + c->len;
        if (ce <= pos) {
            continue;
        }
        if (c->off > pos) {
            const uint64_t pe = c->off < e ? c->off : e;
            n += (size_t)(pe - pos);
            (*pieces)++;
        }
        pos = ce;
    }
    if (pos < e) {
        n += (size_t)(e - pos);
        (*pieces)++;
    }
    return n;
}

/** Allocate a chunk for [off, off+len). */
static chunk_t *chunk_new(uint64_t off, const uint8_t *data, size_t len,
                          bool lost, const tcpr_time_t *ts)
{
    chunk_t *c = malloc(sizeof *c + (lost ? 0u : len));
    if (c == NULL) {
        return NULL;
    }
    c->next = NULL;
    c->off = off;
    c->len = len;
    c->ts = *ts;
    c->lost = lost;
    if (!lost) {
        memcpy(c->data, data, len);
    }
    return c;
}

/** Count differing bytes between a duplicate and the buffered first copy. */
static size_t count_conflicts(const chunk_t *c, uint64_t s, const uint8_t *data,
                              bool lost, size_t len)
{
    size_t n = 0;
    if (c->lost || lost) {
        return 0;
    }
    const uint8_t *old = c->data + (size_t)(s - c->off);
    for (size_t i = 0; i < len; i++) {
        n += old[i] != data[i];
    }
    return n;
}

/**
 * Insert the parts of [s, s+len) not yet buffered into the sorted chunk
 * list (first copy wins; overlapping bytes are counted as retransmitted).
 * Requires s > next_off or the range to overlap the head chunk.
 */
static tcpr_err_t buffer_range(dirstate_t *d, uint64_t s, const uint8_t *data,
                               size_t len, bool lost, const tcpr_time_t *ts)
{
    const uint64_t e = s + len;
    chunk_t **link = &d->head;
    chunk_t *prev = NULL;

    /* Fast path: append after the last chunk. */
    if (d->tail != NULL && s >= d->tail->off + d->tail->len) {
        link = &d->tail->next;
        prev = d->tail;
    }
    uint64_t pos = s;
    while (pos < e) {
        chunk_t *c = *link;
        if (c != NULL && c->off + c->len <= pos) { /* entirely before */
            prev = c;
            link = &c->next;
            continue;
        }
        if (c != NULL && c->off <= pos) { /* overlap with existing copy */
            const uint64_t oe = c->off + c->len < e ? c->off + c->len : e;
            const size_t n = (size_t)(oe - pos);
            d->st.retransmitted_bytes += n;
            d->st.overlap_conflict_bytes += count_conflicts(
                c, pos, lost ? NULL : data + (size_t)(pos - s), lost, n);
            pos = oe;
            prev = c;
            link = &c->next;
            continue;
        }
        /* A new piece up to the next chunk (or the end). */
        const uint64_t pe = (c != NULL && c->off < e) ? c->off : e;
        const size_t n = (size_t)(pe - pos);
        chunk_t *nc = chunk_new(pos, lost ? NULL : data + (size_t)(pos - s), n,
                                lost, ts);
        if (nc == NULL) {
            return TCPR_ERR_NOMEM;
        }
        nc->next = c;
        *link = nc;
        if (c == NULL) {
            d->tail = nc;
        }
        d->buffered += chunk_charge(n, lost);
        prev = nc;
        link = &nc->next;
        pos = pe;
    }
    (void)prev;
    if (d->buffered > d->st.max_buffered_bytes) {
        d->st.max_buffered_bytes = d->buffered;
    }
    return TCPR_OK;
}

/* ---- Closing --------------------------------------------------------------- */

/** Close `dir` (once): report pending gap, drop leftovers, call on_close. */
static void close_dir(tcpr_ctx_t *ctx, tcpr_flow_t *flow, tcpr_dir_t dir,
                      tcpr_close_reason_t reason)
{
    dirstate_t *d = &flow->d[dir];
    if (d->closed) {
        return;
    }
    flush_gap(ctx, flow, dir);
    for (const chunk_t *c = d->head; c != NULL; c = c->next) {
        d->st.after_close_bytes += c->len; /* only possible beyond a FIN */
    }
    free_chunks(d);
    d->closed = true;
    if (ctx->cb.on_close != NULL) {
        ctx->cb.on_close(ctx->user, flow, dir, reason);
    }
}

/** Close `dir` with FIN if its stream has reached the FIN. */
static void check_fin(tcpr_ctx_t *ctx, tcpr_flow_t *flow, tcpr_dir_t dir)
{
    const dirstate_t *d = &flow->d[dir];
    if (!d->closed && d->fin_seen && d->next_off >= d->fin_off) {
        close_dir(ctx, flow, dir, TCPR_CLOSE_FIN);
    }
}

/**
 * No more data can come for `dir`: deliver everything buffered (gaps for the
 * holes), a gap up to a FIN beyond it, and close.
 */
static void finish_dir(tcpr_ctx_t *ctx, tcpr_flow_t *flow, tcpr_dir_t dir,
                       tcpr_close_reason_t reason)
{
    dirstate_t *d = &flow->d[dir];
    if (d->closed) {
        return;
    }
    while (skip_first_hole(ctx, flow, dir)) {
    }
    if (d->fin_seen && d->next_off < d->fin_off) {
        emit_gap(ctx, flow, dir, (size_t)(d->fin_off - d->next_off));
    }
    if (d->fin_seen && reason != TCPR_CLOSE_RST) {
        reason = TCPR_CLOSE_FIN;
    }
    close_dir(ctx, flow, dir, reason);
}

/* ---- Flow table ------------------------------------------------------------- */

static tcpr_flow_t *flow_lookup(const tcpr_ctx_t *ctx, const tcpr_segment_t *seg,
                                uint32_t hash, tcpr_dir_t *dir)
{
    for (tcpr_flow_t *f = ctx->buckets[hash & (ctx->nbuckets - 1u)]; f != NULL;
         f = f->hnext) {
        if (f->hash != hash) {
            continue;
        }
        if (ep_equal(&f->ep[0], &seg->src) && ep_equal(&f->ep[1], &seg->dst)) {
            *dir = TCPR_DIR_C2S;
            return f;
        }
        if (ep_equal(&f->ep[1], &seg->src) && ep_equal(&f->ep[0], &seg->dst)) {
            *dir = TCPR_DIR_S2C;
            return f;
        }
    }
    return NULL;
}

/** Double the bucket array (best effort: on failure keep the old one). */
static void table_grow(tcpr_ctx_t *ctx)
{
    const size_t n = ctx->nbuckets * 2u;
    tcpr_flow_t **b = calloc(n, sizeof *b);
    if (b == NULL) {
        return;
    }
    for (tcpr_flow_t *f = ctx->first; f != NULL; f = f->lnext) {
        const size_t i = f->hash & (n - 1u);
        f->hnext = b[i];
        b[i] = f;
    }
    free(ctx->buckets);
    ctx->buckets = b;
    ctx->nbuckets = n;
}

static void table_unlink(tcpr_ctx_t *ctx, tcpr_flow_t *flow)
{
    tcpr_flow_t **pp = &ctx->buckets[flow->hash & (ctx->nbuckets - 1u)];
    while (*pp != NULL && *pp != flow) {
        pp = &(*pp)->hnext;
    }
    if (*pp == flow) {
        *pp = flow->hnext;
    }
    if (flow->lprev != NULL) {
        flow->lprev->lnext = flow->lnext;
    } else {
        ctx->first = flow->lnext;
    }
    if (flow->lnext != NULL) {
        flow->lnext->lprev = flow->lprev;
    } else {
        ctx->last = flow->lprev;
    }
}

/** Create a flow for `seg`; sets *dir to the segment's direction. */
static tcpr_flow_t *flow_create(tcpr_ctx_t *ctx, const tcpr_segment_t *seg,
                                uint32_t hash, tcpr_dir_t *dir)
{
    tcpr_flow_t *f = calloc(1, sizeof *f);
    if (f == NULL) {
        return NULL;
    }
    const bool syn = (seg->flags & TCPR_SYN) != 0;
    const bool synack = syn && (seg->flags & TCPR_ACK) != 0;
    /* A SYN+ACK comes from the server; anything else names the client. */
    *dir = synack ? TCPR_DIR_S2C : TCPR_DIR_C2S;
    f->ep[*dir == TCPR_DIR_C2S ? 0 : 1] = seg->src;
    f->ep[*dir == TCPR_DIR_C2S ? 1 : 0] = seg->dst;
    f->client_from_syn = syn;
    f->hash = hash;
    f->id = ctx->next_id++;
    if (ctx->st.flows_active + 1u > ctx->nbuckets) {
        table_grow(ctx);
    }
    const size_t i = hash & (ctx->nbuckets - 1u);
    f->hnext = ctx->buckets[i];
    ctx->buckets[i] = f;
    f->lprev = ctx->last;
    if (ctx->last != NULL) {
        ctx->last->lnext = f;
    } else {
        ctx->first = f;
    }
    ctx->last = f;
    ctx->st.flows_created++;
    ctx->st.flows_active++;
    if (ctx->cb.on_open != NULL) {
        ctx->cb.on_open(ctx->user, f);
    }
    return f;
}

/** Close both directions with `reason`, call on_flow_end, free the flow. */
static void flow_end(tcpr_ctx_t *ctx, tcpr_flow_t *flow, tcpr_close_reason_t reason)
{
    finish_dir(ctx, flow, TCPR_DIR_C2S, reason);
    finish_dir(ctx, flow, TCPR_DIR_S2C, reason);
    if (ctx->cb.on_flow_end != NULL) {
        ctx->cb.on_flow_end(ctx->user, flow);
    }
    table_unlink(ctx, flow);
    free_chunks(&flow->d[0]);
    free_chunks(&flow->d[1]);
    free(flow);
    ctx->st.flows_ended++;
    ctx->st.flows_active--;
}

/** Does a SYN (without ACK) from direction `dir` start a new connection? */
static bool syn_starts_new_flow(const tcpr_flow_t *flow, tcpr_dir_t dir,
                                const tcpr_segment_t *seg)
{
    const dirstate_t *d = &flow->d[dir];
    if (d->isn_known && (uint32_t)(seg->seq + 1u) == d->base_seq) {
        return false; /* retransmitted SYN */
    }
    if (flow->d[0].closed && flow->d[1].closed) {
        return true; /* port reuse after a completed connection */
    }
    return d->have_base; /* a different ISN on a live direction */
}

/* ---- Segment processing ------------------------------------------------------ */

/** Learn the ISN from a SYN / SYN+ACK for the sender's direction. */
static void handle_syn(tcpr_ctx_t *ctx, tcpr_flow_t *flow, tcpr_dir_t dir,
                       const tcpr_segment_t *seg)
{
    dirstate_t *d = &flow->d[dir];
    const uint32_t base = seg->seq + 1u;
    if (!d->have_base) {
        d->have_base = true;
        d->isn_known = true;
        d->base_seq = base;
    } else if (!d->isn_known || d->base_seq != base) {
        ctx->st.ignored_syns++;
    }
    /* A SYN+ACK acknowledges the client's ISN: learn it if unseen. */
    dirstate_t *o = &flow->d[other_dir(dir)];
    if ((seg->flags & TCPR_ACK) != 0 && !o->have_base) {
        o->have_base = true;
        o->isn_known = true;
        o->base_seq = seg->ack;
    }
}

/**
 * Accept stream range [s, s+len) (data or lost) of direction `dir`, where
 * s >= next_off.  Delivers what is at the cursor, buffers the rest, and
 * enforces the buffer bound by declaring holes lost.
 */
static tcpr_err_t accept_range(tcpr_ctx_t *ctx, tcpr_flow_t *flow,
                               tcpr_dir_t dir, uint64_t s, const uint8_t *data,
                               size_t len, bool lost, const tcpr_time_t *ts)
{
    dirstate_t *d = &flow->d[dir];
    for (;;) {
        if (s < d->next_off) { /* a skipped hole moved the cursor past s */
            const size_t dup = (size_t)(d->next_off - s) < len
                                   ? (size_t)(d->next_off - s) : len;
            d->st.retransmitted_bytes += dup;
            s += dup;
            len -= dup;
            if (!lost) {
                data += dup;
            }
        }
        if (len == 0) {
            return TCPR_OK;
        }
        if (s == d->next_off) { /* at the cursor: deliver without copying */
            size_t n = len;
            if (d->head != NULL && d->head->off < s + len) {
                n = (size_t)(d->head->off - s);
            }
            emit_range(ctx, flow, dir, data, n, lost, ts);
            s += n;
            len -= n;
            if (!lost) {
                data += n;
            }
            drain(ctx, flow, dir);
            continue; /* the rest (if any) overlaps what was buffered */
        }
        size_t pieces = 0;
        const size_t fresh = uncovered_bytes(d, s, len, &pieces);
        const size_t charge = (lost ? 0u : fresh) + pieces * CHUNK_OVERHEAD;
        if (fresh != 0 && d->buffered + charge > ctx->cfg.max_buffer_bytes) {
            /* Over the bound: declare the first hole lost.  It ends at the
               first byte we hold, buffered or in this segment (s). */
            uint64_t hole_end = s;
            if (d->head != NULL && d->head->off < hole_end) {
                hole_end = d->head->off;
            }
            emit_gap(ctx, flow, dir, (size_t)(hole_end - d->next_off));
            drain(ctx, flow, dir);
            continue;
        }
        return buffer_range(d, s, data, len, lost, ts);
    }
}

/** Apply gap_after_bytes: skip holes while too much is buffered. */
static void enforce_gap_after(tcpr_ctx_t *ctx, tcpr_flow_t *flow, tcpr_dir_t dir)
{
    const size_t limit = ctx->cfg.gap_after_bytes;
    if (limit == 0) {
        return;
    }
    while (flow->d[dir].buffered > limit && skip_first_hole(ctx, flow, dir)) {
    }
}

/**
 * Handle the payload (and FIN) of a non-RST segment in direction `dir`.
 * `start` is the stream offset of the first payload byte.
 */
static tcpr_err_t handle_payload(tcpr_ctx_t *ctx, tcpr_flow_t *flow,
                                 tcpr_dir_t dir, int64_t start,
                                 const tcpr_segment_t *seg)
{
    dirstate_t *d = &flow->d[dir];
    const uint8_t *data = seg->payload;
    size_t cap = seg->payload_len;  /* captured bytes left */
    size_t miss = seg->missing_len; /* snapped bytes after them */
    const int64_t end = start + (int64_t)(cap + miss);
    tcpr_err_t rc = TCPR_OK;

    d->st.snapped_bytes += miss;
    if ((seg->flags & TCPR_FIN) != 0 && !d->fin_seen && end >= 0) {
        d->fin_seen = true;
        d->fin_off = (uint64_t)end;
    }
    /* Trim bytes before the cursor: retransmissions (or pre-capture). */
    const int64_t cur = (int64_t)d->next_off;
    if (start < cur && cap + miss > 0) {
        const uint64_t dup64 = (uint64_t)(cur - start);
        const size_t dup = dup64 < (uint64_t)(cap + miss) ? (size_t)dup64 : cap + miss;
        const size_t dcap = dup < cap ? dup : cap;
        d->st.retransmitted_bytes += dup;
        d->st.retransmitted_segments++;
        data += dcap;
        cap -= dcap;
        miss -= dup - dcap;
        start += (int64_t)dup;
    }
    /* Anything beyond the FIN (or after close) is ignored. */
    if (d->closed) {
        d->st.after_close_bytes += cap + miss;
        return TCPR_OK;
    }
    if (d->fin_seen && start + (int64_t)(cap + miss) > (int64_t)d->fin_off) {
        const int64_t room = (int64_t)d->fin_off - start;
        const size_t keep = room > 0 ? (size_t)room : 0u;
        const size_t over = cap + miss - keep;
        d->st.after_close_bytes += over;
        if (keep <= cap) {
            cap = keep;
            miss = 0;
        } else {
            miss = keep - cap;
        }
    }
    if (cap + miss > 0 && start > cur) {
        d->st.out_of_order_segments++;
    }
    if (cap > 0) {
        rc = accept_range(ctx, flow, dir, (uint64_t)start, data, cap, false, &seg->ts);
    }
    if (rc == TCPR_OK && miss > 0) {
        rc = accept_range(ctx, flow, dir, (uint64_t)start + cap, NULL, miss, true,
                          &seg->ts);
    }
    enforce_gap_after(ctx, flow, dir);
    check_fin(ctx, flow, dir);
    return rc;
}

/**
 * gap_on_ack: an ACK from `dir` acknowledges stream bytes of the opposite
 * direction; bytes acknowledged but never seen are lost to the capture.
 */
static void handle_ack(tcpr_ctx_t *ctx, tcpr_flow_t *flow, tcpr_dir_t dir,
                       uint32_t ack)
{
    const tcpr_dir_t od = other_dir(dir);
    dirstate_t *o = &flow->d[od];
    if (!o->have_base || o->closed) {
        return;
    }
    int64_t acked = seq_to_off(o, ack);
    if (o->fin_seen && acked > (int64_t)o->fin_off) {
        acked = (int64_t)o->fin_off; /* the FIN itself takes one number */
    }
    while (acked > (int64_t)o->next_off) {
        if (o->head != NULL && o->head->off <= (uint64_t)acked) {
            skip_first_hole(ctx, flow, od);
        } else {
            emit_gap(ctx, flow, od, (size_t)((uint64_t)acked - o->next_off));
        }
    }
    check_fin(ctx, flow, od);
}

/** Validate a segment's pointers and families. */
static bool segment_valid(const tcpr_segment_t *seg)
{
    const bool fam_ok =
        (seg->src.family == TCPR_AF_INET4 || seg->src.family == TCPR_AF_INET6) &&
        seg->src.family == seg->dst.family;
    return fam_ok && (seg->payload != NULL || seg->payload_len == 0);
}

/** Find or create the flow of `seg`, handling 4-tuple reuse by a new SYN. */
static tcpr_flow_t *flow_for_segment(tcpr_ctx_t *ctx, const tcpr_segment_t *seg,
                                     tcpr_dir_t *dir)
{
    const uint32_t hash = pair_hash(&seg->src, &seg->dst);
    tcpr_flow_t *flow = flow_lookup(ctx, seg, hash, dir);
    const bool pure_syn = (seg->flags & (TCPR_SYN | TCPR_ACK)) == TCPR_SYN;
    if (flow != NULL && pure_syn && syn_starts_new_flow(flow, *dir, seg)) {
        flow_end(ctx, flow, TCPR_CLOSE_SUPERSEDED);
        flow = NULL;
    }
    if (flow == NULL) {
        flow = flow_create(ctx, seg, hash, dir);
    }
    return flow;
}

tcpr_err_t tcpr_input(tcpr_ctx_t *ctx, const tcpr_segment_t *seg)
{
    if (ctx == NULL || seg == NULL || !segment_valid(seg)) {
        return TCPR_ERR_INVALID;
    }
    if (ctx->in_cb) {
        return TCPR_ERR_REENTRANT;
    }
    ctx->in_cb = true;
    ctx->st.segments++;
    tcpr_dir_t dir = TCPR_DIR_C2S;
    tcpr_flow_t *flow = flow_for_segment(ctx, seg, &dir);
    if (flow == NULL) {
        ctx->in_cb = false;
        return TCPR_ERR_NOMEM;
    }
    flow->last_ts = seg->ts;
    dirstate_t *d = &flow->d[dir];
    d->st.segments++;
    const bool syn = (seg->flags & TCPR_SYN) != 0;
    if (syn) {
        handle_syn(ctx, flow, dir, seg);
    }
    if (!d->have_base) { /* no SYN captured: the first byte seen is offset 0 */
        d->have_base = true;
        d->base_seq = seg->seq;
    }
    tcpr_err_t rc = TCPR_OK;
    if ((seg->flags & TCPR_RST) != 0) {
        finish_dir(ctx, flow, dir, TCPR_CLOSE_RST);
        finish_dir(ctx, flow, other_dir(dir), TCPR_CLOSE_RST);
    } else {
        const int64_t start = seq_to_off(d, seg->seq + (syn ? 1u : 0u));
        rc = handle_payload(ctx, flow, dir, start, seg);
        if (ctx->cfg.gap_on_ack && (seg->flags & TCPR_ACK) != 0) {
            handle_ack(ctx, flow, dir, seg->ack);
        }
    }
    flush_gap(ctx, flow, TCPR_DIR_C2S);
    flush_gap(ctx, flow, TCPR_DIR_S2C);
    ctx->in_cb = false;
    return rc;
}

/* ---- Context lifecycle -------------------------------------------------------- */

tcpr_ctx_t *tcpr_create(const tcpr_config_t *cfg, const tcpr_callbacks_t *cb,
                        void *user)
{
    tcpr_config_t c;
    tcpr_config_init(&c);
    if (cfg != NULL) {
        c = *cfg;
    }
    if (c.max_buffer_bytes == 0) {
        return NULL;
    }
    tcpr_ctx_t *ctx = calloc(1, sizeof *ctx);
    if (ctx == NULL) {
        return NULL;
    }
    ctx->buckets = calloc(INITIAL_BUCKETS, sizeof *ctx->buckets);
    if (ctx->buckets == NULL) {
        free(ctx);
        return NULL;
    }
    ctx->nbuckets = INITIAL_BUCKETS;
    ctx->cfg = c;
    if (cb != NULL) {
        ctx->cb = *cb;
    }
    ctx->user = user;
    return ctx;
}

/** End every flow (in creation order); with `cutoff`, only those idle since before it. */
static void end_flows(tcpr_ctx_t *ctx, tcpr_close_reason_t reason,
                      const tcpr_time_t *cutoff)
{
    tcpr_flow_t *f = ctx->first;
    while (f != NULL) {
        tcpr_flow_t *next = f->lnext;
        if (cutoff == NULL || time_before(&f->last_ts, cutoff)) {
            flow_end(ctx, f, reason);
        }
        f = next;
    }
}

tcpr_err_t tcpr_flush(tcpr_ctx_t *ctx)
{
    if (ctx == NULL) {
        return TCPR_ERR_INVALID;
    }
    if (ctx->in_cb) {
        return TCPR_ERR_REENTRANT;
    }
    ctx->in_cb = true;
    end_flows(ctx, TCPR_CLOSE_END_OF_CAPTURE, NULL);
    ctx->in_cb = false;
    return TCPR_OK;
}

tcpr_err_t tcpr_expire(tcpr_ctx_t *ctx, const tcpr_time_t *now, uint64_t idle_ns)
{
    if (ctx == NULL || now == NULL) {
        return TCPR_ERR_INVALID;
    }
    if (ctx->in_cb) {
        return TCPR_ERR_REENTRANT;
    }
    /* cutoff = now - idle_ns, computed without overflow */
    tcpr_time_t cutoff = *now;
    const uint64_t idle_s = idle_ns / 1000000000u;
    const uint32_t idle_rem = (uint32_t)(idle_ns % 1000000000u);
    cutoff.sec -= (int64_t)idle_s;
    if (cutoff.nsec < idle_rem) {
        cutoff.sec -= 1;
        cutoff.nsec += 1000000000u;
    }
    cutoff.nsec -= idle_rem;
    ctx->in_cb = true;
    end_flows(ctx, TCPR_CLOSE_IDLE, &cutoff);
    ctx->in_cb = false;
    return TCPR_OK;
}

void tcpr_destroy(tcpr_ctx_t *ctx)
{
    if (ctx == NULL) {
        return;
    }
    tcpr_flow_t *f = ctx->first;
    while (f != NULL) {
        tcpr_flow_t *next = f->lnext;
        free_chunks(&f->d[0]);
        free_chunks(&f->d[1]);
        free(f);
        f = next;
    }
    free(ctx->buckets);
    free(ctx);
}
