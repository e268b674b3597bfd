/*
 * tcp_reasm.h - TCP stream reassembly for iwdump.
 *
 * Turns captured TCP segments (already parsed out of their link/IP headers,
 * see pcap_input.h) into two ordered byte streams per connection, delivered
 * through callbacks.  The module knows nothing about libpcap: it is a set of
 * pure functions over tcpr_segment_t values, so it can be unit tested with
 * hand-made segments.
 *
 * Model
 * -----
 * A *flow* is one TCP connection, keyed by its 4-tuple (IPv4 or IPv6).  It
 * has two *directions*: TCPR_DIR_C2S (client -> server) and TCPR_DIR_S2C.
 * The client is the side that sent the SYN (SYN without ACK); if only the
 * SYN+ACK was captured, its receiver is the client; if no SYN was captured at
 * all, the sender of the first captured segment is the client.  The
 * direction numbering of a flow never changes afterwards.  A caller with
 * better knowledge (iwdump: "the side that sent the MPA Request is the
 * initiator") maps directions itself; tcpr_flow_src()/tcpr_flow_dst() give
 * the endpoints of each direction, tcpr_flow_client_from_syn() says how the
 * client was chosen.
 *
 * Each direction is a stream of bytes numbered from 0: offset 0 is the first
 * byte after the SYN (or, without a captured SYN, the first captured byte).
 * Every stream byte is reported exactly once and in order: either by
 * on_data() (bytes the capture holds) or by on_gap() (bytes the capture does
 * not hold).  Offsets are 64-bit, so sequence-number wraparound (2^32) is
 * invisible to the caller.
 *
 * Retransmissions: bytes below the delivery cursor are dropped and counted;
 * overlapping out-of-order copies keep the first copy received (bytes that
 * differ between copies are counted in overlap_conflict_bytes).
 *
 * Holes: data beyond a hole is buffered (bounded per direction by
 * max_buffer_bytes).  The hole is declared lost and reported as one GAP event
 * with the exact byte count, after which the buffered data follows, when
 *   - the buffer bound would be exceeded, or
 *   - more than gap_after_bytes are buffered beyond it (if configured), or
 *   - the peer acknowledges data beyond it (only with gap_on_ack; off by
 *     default because merged/multi-queue captures may show an ACK before the
 *     data it acknowledges), or
 *   - the flow ends: RST, tcpr_flush() at end of capture, tcpr_expire(), or a
 *     new connection (new SYN) on the same 4-tuple.
 * Bytes the capture saw on the wire but did not store (snaplen, caplen < len)
 * arrive as tcpr_segment_t.missing_len and are reported as a gap at once.
 *
 * Closing: a direction closes when its stream reaches the FIN (reason FIN),
 * when either side sends RST (both directions, reason RST), or at
 * tcpr_flush()/tcpr_expire()/supersession.  A FIN beyond a hole waits for the
 * hole like data does.  Closed flows stay in the table (so late ACKs do not
 * create new flows) until a new SYN reuses the 4-tuple, tcpr_expire(),
 * tcpr_flush() or tcpr_destroy().
 *
 * Threading and re-entrancy: all state lives in the tcpr_ctx_t the caller
 * owns; there is no global state.  A context is not thread-safe.  Callbacks
 * must not call tcpr_input/tcpr_flush/tcpr_expire/tcpr_destroy on the same
 * context (those return TCPR_ERR_REENTRANT if they do); they may call the
 * accessors and tcpr_flow_set_user().
 */
#ifndef IWDUMP_TCP_REASM_H
#define IWDUMP_TCP_REASM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Basic types ------------------------------------------------------- */

/** Capture timestamp (nanosecond resolution; pcap_input fills nsec). */
typedef struct tcpr_time {
    int64_t sec;
    uint32_t nsec; /**< 0 .. 999999999 */
} tcpr_time_t;

/** Address family of an endpoint. */
typedef enum tcpr_family {
    TCPR_AF_INET4 = 4,
    TCPR_AF_INET6 = 6
} tcpr_family_t;

/** One end of a TCP connection: address and port in host byte order. */
typedef struct tcpr_endpoint {
    uint8_t family;   /**< tcpr_family_t */
    uint8_t addr[16]; /**< network byte order; IPv4 uses addr[0..3], rest 0 */
    uint16_t port;    /**< host byte order */
} tcpr_endpoint_t;

/* TCP header flag bits, as in the TCP header's flags octet. */
#define TCPR_FIN 0x01u
#define TCPR_SYN 0x02u
#define TCPR_RST 0x04u
#define TCPR_PSH 0x08u
#define TCPR_ACK 0x10u
#define TCPR_URG 0x20u

/** One captured TCP segment, as handed to tcpr_input(). */
typedef struct tcpr_segment {
    tcpr_endpoint_t src;
    tcpr_endpoint_t dst;
    uint32_t seq;          /**< sequence number (host byte order) */
    uint32_t ack;          /**< acknowledgement number, valid if TCPR_ACK */
    uint8_t flags;         /**< TCPR_* bits */
    const uint8_t *payload; /**< captured payload bytes (may be NULL if 0) */
    size_t payload_len;    /**< number of captured payload bytes */
    size_t missing_len;    /**< payload bytes on the wire after the captured
                                ones but not in the capture (snaplen) */
    tcpr_time_t ts;        /**< capture time */
} tcpr_segment_t;

/** Direction within a flow. */
typedef enum tcpr_dir {
    TCPR_DIR_C2S = 0, /**< client -> server */
    TCPR_DIR_S2C = 1  /**< server -> client */
} tcpr_dir_t;

/** Why a direction was closed. */
typedef enum tcpr_close_reason {
    TCPR_CLOSE_FIN = 0,        /**< stream reached the sender's FIN */
    TCPR_CLOSE_RST = 1,        /**< either side sent RST */
    TCPR_CLOSE_END_OF_CAPTURE, /**< tcpr_flush(): capture ended first */
    TCPR_CLOSE_IDLE,           /**< tcpr_expire(): idle timeout */
    TCPR_CLOSE_SUPERSEDED      /**< a new SYN reused the 4-tuple */
} tcpr_close_reason_t;

/** Error codes (0 is success). */
typedef enum tcpr_err {
    TCPR_OK = 0,
    TCPR_ERR_NOMEM = -1,     /**< allocation failed; the segment was dropped */
    TCPR_ERR_INVALID = -2,   /**< bad argument (NULL, unknown family, ...) */
    TCPR_ERR_REENTRANT = -3  /**< called from inside a callback */
} tcpr_err_t;

/** Per-direction counters (all in bytes unless named *_segments). */
typedef struct tcpr_dir_stats {
    uint64_t segments;               /**< segments seen in this direction */
    uint64_t delivered_bytes;        /**< bytes passed to on_data */
    uint64_t gap_bytes;              /**< bytes reported by on_gap */
    uint64_t gap_events;             /**< number of on_gap calls */
    uint64_t retransmitted_bytes;    /**< duplicate bytes dropped */
    uint64_t retransmitted_segments; /**< segments with any duplicate byte */
    uint64_t out_of_order_segments;  /**< segments that started beyond the
                                          delivery cursor (had to wait) */
    uint64_t overlap_conflict_bytes; /**< duplicates whose content differed
                                          from the buffered first copy */
    uint64_t snapped_bytes;          /**< missing_len reported by capture */
    uint64_t after_close_bytes;      /**< payload after FIN/close, ignored */
    uint64_t max_buffered_bytes;     /**< high-water mark of the buffer */
} tcpr_dir_stats_t;

/** Whole-context counters. */
typedef struct tcpr_ctx_stats {
    uint64_t segments;       /**< tcpr_input() calls accepted */
    uint64_t flows_created;
    uint64_t flows_ended;
    uint64_t flows_active;   /**< flows currently in the table */
    uint64_t ignored_syns;   /**< SYNs that could not start/confirm a flow */
} tcpr_ctx_stats_t;

/** Opaque types. */
typedef struct tcpr_ctx tcpr_ctx_t;
typedef struct tcpr_flow tcpr_flow_t;

/* ---- Callbacks ---------------------------------------------------------- */

/**
 * Callbacks; any may be NULL.  `user` is the pointer given to tcpr_create().
 * `data` passed to on_data is valid only during the call.
 */
typedef struct tcpr_callbacks {
    /** A flow was created (before any other event of that flow). */
    void (*on_open)(void *user, tcpr_flow_t *flow);
    /** `len` (> 0) stream bytes at `stream_offset` of direction `dir`;
        `ts` is the capture time of the segment that carried them. */
    void (*on_data)(void *user, tcpr_flow_t *flow, tcpr_dir_t dir,
                    uint64_t stream_offset, const uint8_t *data, size_t len,
                    const tcpr_time_t *ts);
    /** `missing` (> 0) bytes at `stream_offset` are not in the capture. */
    void (*on_gap)(void *user, tcpr_flow_t *flow, tcpr_dir_t dir,
                   uint64_t stream_offset, size_t missing);
    /** Direction `dir` ended; called once per direction. */
    void (*on_close)(void *user, tcpr_flow_t *flow, tcpr_dir_t dir,
                     tcpr_close_reason_t reason);
    /** The flow is about to be freed (both directions closed before);
        release anything attached with tcpr_flow_set_user() here. */
    void (*on_flow_end)(void *user, tcpr_flow_t *flow);
} tcpr_callbacks_t;

/* ---- Configuration ------------------------------------------------------ */

typedef struct tcpr_config {
    /** Per-direction bound on buffered out-of-order payload (bytes).
        Default TCPR_DEFAULT_MAX_BUFFER. Must be > 0. */
    size_t max_buffer_bytes;
    /** If > 0: declare the first hole lost as soon as more than this many
        bytes are buffered beyond it.  Default 0 (only the bound applies). */
    size_t gap_after_bytes;
    /** Declare a hole lost when the opposite direction ACKs beyond it. */
    bool gap_on_ack;
} tcpr_config_t;

#define TCPR_DEFAULT_MAX_BUFFER ((size_t)16u * 1024u * 1024u)

/** Fill `cfg` with the defaults. */
void tcpr_config_init(tcpr_config_t *cfg);

/* ---- Context ------------------------------------------------------------ */

/**
 * Create a context.  `cfg` may be NULL (defaults); `cb` may be NULL (no
 * callbacks).  Returns NULL on allocation failure or invalid configuration.
 */
tcpr_ctx_t *tcpr_create(const tcpr_config_t *cfg, const tcpr_callbacks_t *cb,
                        void *user);

/**
 * Feed one segment.  Callbacks run before this returns.  On TCPR_ERR_NOMEM
 * the segment's payload could not be buffered: it is dropped (a later gap
 * will cover it) and the context stays consistent.
 */
tcpr_err_t tcpr_input(tcpr_ctx_t *ctx, const tcpr_segment_t *seg);

/**
 * End of capture: every open direction delivers what it has buffered
 * (announcing gaps for holes, and for a FIN beyond a hole), then closes with
 * TCPR_CLOSE_FIN if its FIN was reached, else TCPR_CLOSE_END_OF_CAPTURE;
 * every flow then ends (on_flow_end) and is freed.
 */
tcpr_err_t tcpr_flush(tcpr_ctx_t *ctx);

/**
 * End flows whose last segment is older than `idle_ns` before `now` the same
 * way tcpr_flush() does, but with reason TCPR_CLOSE_IDLE.  For long live
 * captures; call it every so often.
 */
tcpr_err_t tcpr_expire(tcpr_ctx_t *ctx, const tcpr_time_t *now,
                       uint64_t idle_ns);

/** Free everything without calling any callback.  NULL is allowed. */
void tcpr_destroy(tcpr_ctx_t *ctx);

/** Context counters. */
const tcpr_ctx_stats_t *tcpr_ctx_stats(const tcpr_ctx_t *ctx);

/** Human-readable text for an error code or close reason. */
const char *tcpr_strerror(tcpr_err_t err);
const char *tcpr_close_reason_str(tcpr_close_reason_t reason);

/* ---- Flow accessors (valid while the flow exists) ------------------------ */

/** Sequential flow number within the context, starting at 0. */
uint64_t tcpr_flow_id(const tcpr_flow_t *flow);
/** Source / destination endpoint of direction `dir`. */
const tcpr_endpoint_t *tcpr_flow_src(const tcpr_flow_t *flow, tcpr_dir_t dir);
const tcpr_endpoint_t *tcpr_flow_dst(const tcpr_flow_t *flow, tcpr_dir_t dir);
/** true if the client role was decided by a captured SYN or SYN+ACK. */
bool tcpr_flow_client_from_syn(const tcpr_flow_t *flow);
/** true if direction `dir` has its stream origin from a SYN (ISN known). */
bool tcpr_flow_isn_known(const tcpr_flow_t *flow, tcpr_dir_t dir);
/** Sequence number of stream offset 0 in `dir` (valid once it carried a
    segment). */
uint32_t tcpr_flow_base_seq(const tcpr_flow_t *flow, tcpr_dir_t dir);
/** Next stream offset to be delivered in `dir`. */
uint64_t tcpr_flow_next_offset(const tcpr_flow_t *flow, tcpr_dir_t dir);
/** Whether `dir` is closed. */
bool tcpr_flow_closed(const tcpr_flow_t *flow, tcpr_dir_t dir);
/** Counters of direction `dir`. */
const tcpr_dir_stats_t *tcpr_flow_stats(const tcpr_flow_t *flow,
                                        tcpr_dir_t dir);
/** Opaque per-flow pointer for the caller (NULL initially). */
void *tcpr_flow_user(const tcpr_flow_t *flow);
void tcpr_flow_set_user(tcpr_flow_t *flow, void *ptr);

/* ---- Helpers ------------------------------------------------------------ */

/**
 * Format "a.b.c.d:port" or "[v6]:port" into buf (always NUL-terminated when
 * buflen > 0).  Returns buf.
 */
char *tcpr_endpoint_str(const tcpr_endpoint_t *ep, char *buf, size_t buflen);

/** Sizes for tcpr_endpoint_str buffers. */
#define TCPR_ENDPOINT_STRLEN 56u

/** Build an IPv4 / IPv6 endpoint (addr in network byte order). */
void tcpr_endpoint_v4(tcpr_endpoint_t *ep, const uint8_t addr[4],
                      uint16_t port);
void tcpr_endpoint_v6(tcpr_endpoint_t *ep, const uint8_t addr[16],
                      uint16_t port);

#ifdef __cplusplus
}
#endif

#endif /* IWDUMP_TCP_REASM_H */
