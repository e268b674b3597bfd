/* runtime/iwk_internal.h - internal objects of the iwkit software iWARP stack (not installed).
 *
 * Layers, one per file: context.c (context, progress thread, PD, MR/STag table, CQ),
 * mpa_frame.c (MPA FPDU framing: length, pad, CRC32c, Markers; RFC 5044 §4),
 * mpa_conn.c (MPA connection setup driving the generated mpa_initiator/mpa_responder machines,
 * and the connection-management API; RFC 5044 §7, RFC 6581), ddp_place.c (DDP placement checks:
 * tagged STag/TO, untagged QN/MSN/MO; RFC 5041, RFC 5042), rdmap_qp.c (queue pairs, work requests,
 * RDMAP messages, Terminate, flush; RFC 5040, RFC 7306, driving the generated rdmap_qp machine).
 */
#ifndef IWK_INTERNAL_H
#define IWK_INTERNAL_H

#include <pthread.h>
#include <stdint.h>
#include <sys/uio.h>

#include "iwk_mpa_setup.h"
#include "iwk_rdmap_stream.h"
#include "iwkit/verbs.h"
#include "pcap_rec.h"

#define IWK_MAX_SGE 32u
#define IWK_MAX_SEND_WR 255u          /* the rdmap_qp machine counts up to QP_MAX_DEPTH */
#define IWK_MAX_RECV_WR 65536u
#define IWK_MARKER_INTERVAL 512u      /* RFC 5044 §4.3 */
#define IWK_MAX_ULPDU 65535u          /* ULPDU_Length is 16 bits (RFC 5044 §4.1) */
#define IWK_DDP_TAGGED_HLEN 14u       /* RFC 5041 §4.2 */
#define IWK_DDP_UNTAGGED_HLEN 18u     /* RFC 5041 §4.3 */
#define IWK_CTRL_MAX 64u              /* largest RDMAP header after the DDP header (Terminate 52, atomic 52) */
#define IWK_QN_SEND 0u
#define IWK_QN_READ 1u
#define IWK_QN_TERM 2u
#define IWK_QN_ATOMIC_RESP 3u
#define IWK_NQN 4u
#define IWK_CQ_MAX_DRIVE 16u          /* QPs of a CQ that iwk_cq_wait reads for itself */
#define IWK_RX_STASH 4096u            /* read-ahead per QP for small FPDUs (iwk_mpa_rx.stash) */
#define IWK_RX_STASH_SMALL 1024u      /* reads planned up to this size also fill the read-ahead */

/* ---- context ------------------------------------------------------------------------------- */

struct iwk_context {
    pthread_mutex_t lock;       /* MR table, object counts, progress thread start */
    int epfd;                   /* epoll: every connected QP's socket */
    int wake_fd;                /* eventfd: wakes the progress thread (stop) */
    pthread_t thread;
    int thread_started;
    int stop;
    struct iwk_mr_obj **mrs;    /* open-addressing table by random STag index (context.c) */
    uint32_t mr_cap;            /* its slots: a power of two, at most half used */
    uint32_t n_pd, n_cq, n_qp, n_mr;
    struct iwk_pcap *pcap;
    uint64_t gen;               /* progress-loop iterations (a QP is freed only after one passed) */
    pthread_cond_t gen_cond;
    uint8_t app_progress;       /* IWK_CTX_APP_PROGRESS: QPs of a CQ receive only in the app's calls */
};
/* Waits until the progress thread finished the iteration in which it may still see fd events. */
void iwk_ctx_quiesce(struct iwk_context *ctx);

struct iwk_pd {
    struct iwk_context *ctx;
    uint32_t n_users;           /* MRs and QPs */
};

/* A registered region; `pub` is what the user sees (its first member). */
struct iwk_mr_obj {
    struct iwk_mr pub;
    struct iwk_pd *pd;
    uint8_t valid;              /* 0 after invalidation (RFC 5040 §5.3, §6.6) */
};

int iwk_ctx_start_progress(struct iwk_context *ctx);
int iwk_ctx_watch(struct iwk_context *ctx, int fd, void *qp, uint32_t events, int add);
void iwk_ctx_unwatch(struct iwk_context *ctx, int fd);
/* Watches a timerfd for a QP (its events go to iwk_qp_on_timer). */
int iwk_ctx_watch_timer(struct iwk_context *ctx, int tfd, void *qp);

/* STag lookup for placement: 0 and the region, or an RFC 5040 §4.8 protection error code. */
enum iwk_stag_check {
    IWK_STAG_OK = 0,
    IWK_STAG_INVALID,      /* unknown, invalidated, or key mismatch */
    IWK_STAG_OTHER_PD,     /* not associated with this stream's PD */
    IWK_STAG_ACCESS,       /* missing access right */
    IWK_STAG_BOUNDS,       /* outside base and bounds */
    IWK_STAG_WRAP,         /* TO + length wraps */
};
/* Checks STag `stag` for `len` octets at Tagged Offset `to` with `access`, for PD `pd`; on
 * success *dst is where the octets go (or come from). Holds ctx->lock only while it looks. */
enum iwk_stag_check iwk_stag_resolve(struct iwk_context *ctx, const struct iwk_pd *pd, uint32_t stag,
                                     uint64_t to, uint64_t len, uint32_t access, uint8_t **dst);
/* Invalidates a remote STag named by a Send with Invalidate: only a valid STag of this PD that was
 * registered for remote access (RFC 5040 §5.3, RFC 5042 §6.4.5); 0 or -EINVAL / -EACCES. */
int iwk_stag_invalidate(struct iwk_context *ctx, const struct iwk_pd *pd, uint32_t stag);

/* ---- completion queues ---------------------------------------------------------------------- */

struct iwk_cq {
    struct iwk_context *ctx;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct iwk_wc *ring;
    uint32_t depth, head, count;
    uint32_t overflow;          /* completions lost because the CQ was full (reported as an error) */
    int event_fd;
    int armed;                  /* 0, 1 all, 2 solicited only */
    uint32_t n_users;
    /* iwk_cq_wait receives for the queue pairs of this CQ in the caller's thread (no hand-off
     * through the progress thread on the latency path); wake_fd tells it of completions that
     * other threads push meanwhile. */
    int wake_fd;
    uint32_t waiters;
    uint32_t driving;           /* iwk_cq_wait calls using qps[] right now */
    struct iwk_qp *qps[IWK_CQ_MAX_DRIVE];
    uint32_t nqps;
};
void iwk_cq_push(struct iwk_cq *cq, const struct iwk_wc *wc, int solicited);
void iwk_cq_attach(struct iwk_cq *cq, struct iwk_qp *qp);
/* The epoll events the progress thread watches on a connected QP's socket for receiving:
 * EPOLLIN | EPOLLRDHUP, or only EPOLLRDHUP when the application receives (app_rx, or a thread
 * in iwk_cq_wait / iwk_cq_progress is driving the socket right now: app_driving). */
uint32_t iwk_qp_rx_events(const struct iwk_qp *qp);
/* Sets the QP socket's epoll events from its state (receive side, EPOLLOUT wanted); qp->lock held. */
void iwk_qp_rearm(struct iwk_qp *qp);
void iwk_cq_detach(struct iwk_cq *cq, struct iwk_qp *qp);

/* ---- MPA framing (mpa_frame.c) -------------------------------------------------------------- */

/* Transmit side of an MPA stream in FPDU mode. `pos` counts octets sent since FPDU mode began
 * (RFC 5044 §4.3: Markers at every multiple of 512 from there). */
struct iwk_mpa_tx {
    uint8_t crc;
    uint8_t markers;
    uint64_t pos;
};

/* One FPDU ready for writev: ULPDU_Length + header, payload pieces, pad, CRC, Markers between. */
#define IWK_FPDU_MAX_IOV (IWK_MAX_SGE + 2u * (IWK_MAX_ULPDU / IWK_MARKER_INTERVAL + 2u) + 8u)
struct iwk_fpdu {
    uint8_t head[2u + IWK_DDP_UNTAGGED_HLEN + IWK_CTRL_MAX]; /* ULPDU_Length, DDP (+RDMAP) header */
    uint32_t head_len;
    uint8_t trailer[3u + 4u];   /* pad, CRC */
    uint32_t markers[IWK_MAX_ULPDU / IWK_MARKER_INTERVAL + 4u];
    struct iovec iov[IWK_FPDU_MAX_IOV];
    int iovcnt;
    int iov_first;              /* first iov not yet fully written */
    size_t total;               /* octets on the wire, Markers included */
    size_t sent;
};

/* Builds an FPDU from a header (DDP/RDMAP, hlen octets) and `plen` payload octets gathered from
 * `pay` (npay pieces); computes pad and CRC, inserts Markers; advances tx->pos. */
void iwk_fpdu_build(struct iwk_mpa_tx *tx, struct iwk_fpdu *f, const uint8_t *hdr, uint32_t hlen,
                    const struct iovec *pay, int npay, uint32_t plen);
/* Largest ULPDU to send for this TCP MSS (RFC 5044 §5: the FPDU fits one segment). */
uint32_t iwk_mpa_mulpdu(uint32_t mss, int markers);

/* Receive side: reads from a nonblocking socket into destinations, stepping over Markers and
 * feeding the CRC (RFC 5044 §4.3, §4.4). */
struct iwk_mpa_rx {
    uint8_t crc;
    uint8_t markers;
    uint64_t pos;               /* octets received since FPDU mode began */
    uint64_t fpdu_start;        /* pos of the current FPDU's first octet */
    uint32_t crc_state;
    uint8_t mk[4];              /* a Marker being read */
    uint32_t mk_have;
    uint8_t marker_error;       /* a Marker's FPDUPTR did not point at the FPDU start */
    uint8_t switched;           /* a read crossed into the next FPDU: crc_prev is the last one's */
    size_t planned;             /* data octets the last readv asked for: fewer read means empty */
    uint32_t crc_prev;
    /* Octets read ahead from the socket, not yet taken (raw stream: Markers, CRCs and all). A
     * small read (a header, a small FPDU) also fills it, so that one readv takes in many small
     * FPDUs; large payloads are still read straight into their target memory. */
    uint32_t stash_off, stash_len;
    uint8_t drained;            /* the last readv found the socket empty (took less than offered) */
    uint8_t stash[IWK_RX_STASH];
};
/* Reads up to `want` octets into dst (ndst pieces, at least `want` octets in all): first from
 * the read-ahead, then with one readv, Markers stepped over. Data octets [0, crc_end) of this call are covered by the current
 * FPDU's CRC, [crc_end, next_start) are its CRC field, and at next_start the next FPDU begins:
 * crc_prev gets the finished CRC, `switched` is set and the CRC starts again (SIZE_MAX: no such
 * boundary). Returns octets stored (> 0), 0 at end of stream, -EAGAIN, or -errno. */
long iwk_mpa_rx_read(struct iwk_mpa_rx *rx, int fd, const struct iovec *dst, int ndst, size_t want,
                     size_t crc_end, size_t next_start, struct iwk_pcap_rxrec *rec);
/* After iwk_mpa_rx_read stored `stored` octets: 1 when the socket is known to be empty (the read
 * took less than planned, or the read-ahead is used up and its readv found the socket empty). */
int iwk_mpa_rx_emptied(const struct iwk_mpa_rx *rx, long stored);
void iwk_mpa_rx_fpdu_begin(struct iwk_mpa_rx *rx);

/* ---- queue pairs (rdmap_qp.c) --------------------------------------------------------------- */

/* A work request on the send side, from the user or generated by the stack (responses). */
enum iwk_job_kind {
    IWK_JOB_WR,          /* a user work request */
    IWK_JOB_READ_RESP,   /* RDMA Read Response to an inbound Read Request (RFC 5040 §5.2.2) */
    IWK_JOB_ATOMIC_RESP, /* Atomic Response (RFC 7306 §5.2.2) */
    IWK_JOB_TERMINATE,   /* Terminate (RFC 5040 §4.8) */
    IWK_JOB_RTR,         /* the RTR FPDU of RFC 6581 §9.3 (or the zero-length Read Response to one) */
};

struct iwk_job {
    struct iwk_job *next;
    enum iwk_job_kind kind;
    struct iwk_send_wr wr;
    struct iwk_sge sge[IWK_MAX_SGE];
    struct iovec src[IWK_MAX_SGE]; /* resolved local buffers */
    int nsrc;
    uint64_t len;                  /* total payload octets */
    uint64_t off;                  /* payload octets framed so far */
    uint8_t issued;                /* fed to the rdmap_qp machine */
    uint8_t sent;                  /* every FPDU handed to TCP */
    uint8_t done;                  /* completed (Read/atomic: response received) */
    enum iwk_wc_status status;
    uint8_t phase;                 /* WRITE_IMM: 0 the Write, 1 the Immediate Data */
    uint32_t msn;                  /* untagged messages: the MSN, given at first segment */
    /* Read Response / Atomic Response / Terminate / RTR: */
    uint32_t sink_stag;
    uint64_t sink_to;
    uint8_t ctrl[IWK_DDP_UNTAGGED_HLEN + IWK_CTRL_MAX]; /* a Terminate's with its DDP header (up to 70) */
    uint32_t ctrl_len;
    uint8_t rtr_kind;
    uint8_t counts_ird;            /* an inbound Read/atomic: READ_RESPOND when sent */
    uint8_t *result;               /* atomic: where the 8-octet original value goes */
    uint32_t req_id;               /* atomic */
    uint64_t got;                  /* Read: response octets placed */
};

/* Terminate message header: untagged DDP header (QN 2) + RDMAP Terminate header (RFC 5040 §4.8);
 * `bad` is the DDP (+RDMAP) header of the segment in error (NULL: none). Returns its length. */
uint32_t iwk_terminate_header(uint8_t *out, uint32_t msn, uint16_t code, const uint8_t *bad, uint32_t bad_len,
                              uint32_t seg_len);

struct iwk_recv_entry {
    uint64_t wr_id;
    uint64_t len;
    int ndst;
    struct iovec dst[IWK_MAX_SGE]; /* last: receive-queue slots store only ndst of them */
};

/* RX_HEAD: ULPDU_Length and the DDP header (16 octets tagged, 20 untagged); RX_BODY: with one
 * readv when it is all there, the payload (straight into its destination, or into the staging
 * buffer when CRCs are on), pad, CRC, and the first 16 octets of the next FPDU. */
#define IWK_RX_HEAD_LEN 16u
enum iwk_rx_phase { RX_HEAD, RX_BODY, RX_DEAD };

struct iwk_rx {
    enum iwk_rx_phase phase;
    uint8_t fpdu_open;             /* the current FPDU's first octet was read (CRC running) */
    uint8_t head[2u + IWK_DDP_UNTAGGED_HLEN];
    uint32_t head_have, head_need;
    uint32_t ulpdu_len;
    uint32_t hdr_len;              /* DDP header octets */
    uint8_t seg_hdr[IWK_DDP_UNTAGGED_HLEN]; /* the current segment's DDP header, for a Terminate's */
    uint32_t seg_hdr_len;          /* D bit (RFC 5040 §4.8); 0 between segments */
    /* the current segment */
    uint8_t tagged, last, opcode;
    uint32_t qn, msn, mo, stag, inv_stag;
    uint64_t to;
    uint32_t plen;                 /* payload octets */
    struct iovec dst[IWK_MAX_SGE + 1];
    int ndst;
    uint32_t got;
    uint8_t ctrl[IWK_CTRL_MAX];
    uint8_t discard[256];
    uint8_t trailer[8];
    uint32_t pad;
    uint32_t body_got, body_len;   /* RX_BODY progress */
    uint8_t next_head[IWK_RX_HEAD_LEN];
    uint8_t staged;                /* CRC on: this FPDU's payload is read into `stage` first */
    uint8_t *stage;                /* staging buffer (grown to the largest payload seen) */
    uint32_t stage_cap;
    uint8_t short_read;            /* the last read returned less than asked: the socket is empty */
    /* untagged reassembly state per queue (RFC 5041 §5.3) */
    uint32_t expect_msn[IWK_NQN];
    uint64_t msg_len;              /* current Send: octets placed so far */
    int cur_recv_valid;
    struct iwk_recv_entry cur_recv;
    uint8_t rtr_pending;           /* responder: first FPDU/RTR not yet seen */
    uint8_t rtr_resp_pending;      /* initiator: a Read RTR waits for its zero-length Response */
    /* the last segment of an RDMA Write: its last octet, stored last with a release store (ddp_rx.c
     * set_dst_write) at write_last (NULL: none) */
    uint8_t *write_last;
    uint8_t write_last_octet;
};

struct iwk_qp {
    struct iwk_context *ctx;
    struct iwk_pd *pd;
    struct iwk_cq *send_cq, *recv_cq;
    uint32_t max_send_wr, max_recv_wr, max_sge;
    /* Two locks; a thread that needs both takes rx_lock first (flush_all, holding qp->lock, only
     * tries it).
     * - rx_lock: held by the thread that receives, whichever it is: the progress thread, a thread
     *   in iwk_cq_wait / iwk_cq_progress / iwk_cq_poll, or iwk_qp_on_timer. Its holder alone uses
     *   rx, mrx and rxrec (rx.cur_recv included: flushing it too, iwk_qp_flush_recvs), and writes
     *   rx_fpdus / rx_bytes. iwk_qp_start sets them up before the socket is watched.
     * - lock (qp->lock): everything else below: the send side, the rdmap_qp machine and state,
     *   info, the receive queue rq, rx_flush, mresp (its p2p_neg does not change after setup).
     *   The receiving thread takes it for each of those. Fields both sides use are written with both locks held (rx.rtr_pending,
     *   rx_closed) and read under either.
     * - the fields marked atomic are used with __atomic builtins, under no lock. */
    pthread_mutex_t lock;
    pthread_cond_t cond;           /* state changes, drained send queue */
    int fd;
    enum iwk_qp_state state;
    struct iwk_rdmap_qp fsm;       /* generated: RFC 5040 §6 */
    /* send side */
    struct iwk_job *sq_head, *sq_tail;      /* user WRs, in posting order, until they complete */
    struct iwk_job *sq_tx;                  /* first user WR not yet fully sent */
    struct iwk_job *resp_head, *resp_tail;  /* responses and Terminate, sent before user WRs */
    uint32_t sq_count;
    struct iwk_job *tx_cur;        /* job whose FPDU is being written */
    uint32_t tx_plen;              /* payload octets in that FPDU */
    struct iwk_fpdu tx_fpdu;
    int tx_fpdu_busy;
    int want_out;                  /* EPOLLOUT armed */
    struct iwk_mpa_tx mtx;
    uint32_t mulpdu;
    uint32_t tx_msn[IWK_NQN];      /* next MSN per queue we send on (RFC 5041 §5.1) */
    uint8_t tx_allowed;            /* MPA: we may send FPDUs (responder: after the first one in) */
    uint8_t fin_sent;
    uint32_t atomic_req_id;
    uint8_t fin_pending;           /* graceful close asked: FIN once the send side is drained */
    uint32_t term_seg_len;         /* ULPDU length of the segment a Terminate names (M bit), 0: none */
    /* receive side */
    uint8_t *rq;                   /* ring of max_recv_wr slots of rq_stride octets (iwk_rq_slot) */
    size_t rq_stride;
    uint32_t rq_head, rq_count;
    uint8_t rx_flush;              /* flush_all asked for the receives to be flushed (iwk_qp_flush_recvs) */
    pthread_mutex_t rx_lock;       /* held by the thread that receives (above) */
    uint64_t rx_fpdus, rx_bytes;   /* atomic: counters of iwk_qp_info, written by the rx_lock holder */
    int rx_kick;                   /* atomic: data may be waiting; the rx_lock holder reads again */
    int app_driving;               /* atomic: threads in iwk_cq_wait polling this socket */
    uint8_t app_rx;                /* IWK_CTX_APP_PROGRESS and in a CQ's qps[]: no EPOLLIN for the progress thread */
    int rx_hup;                    /* atomic: the peer closed: read to the end, not to a short read */
    struct iwk_rx rx;
    struct iwk_mpa_rx mrx;
    struct iwk_mpa_responder mresp; /* responder: the MPA machine until the first FPDU (RFC 5044 §7.1.2 rule 4) */
    uint8_t watched;
    int rtr_timer_fd;              /* responder, peer-to-peer: no RTR in time (RFC 5044 §7.1.2 rule 10) */
    /* connection */
    struct iwk_qp_info info;
    struct iwk_pcap_flow rec;
    struct iwk_pcap_rxrec rxrec;   /* received octets, recorded per FPDU */
    int rx_closed;
};

/* getsockname / getpeername of a connection's socket (iwk_qp_addrs, iwk_conn_request_addrs). */
int iwk_socket_addrs(int fd, struct sockaddr_storage *local, struct sockaddr_storage *peer);

/* Called by mpa_conn.c once MPA setup reached FPDU mode on a connected socket. `first_tx`:
 * the RTR or zero-length FPDU the MPA machine asked to send first (0: none). */
int iwk_qp_start(struct iwk_qp *qp, int fd, const struct iwk_qp_info *neg, int responder_waits,
                 int rtr_kind_to_send, int rtr_read_pending);
/* Steps the rdmap_qp machine with `ev` and carries out its actions: Terminate (with term_code
 * when non-zero, else the machine's code; `bad` is the offending segment's header), flush, FIN,
 * reset. qp->lock held. Returns the transition taken (0: none). */
int iwk_qp_event(struct iwk_qp *qp, enum iwk_rdmap_qp_event ev, uint16_t term_code, const uint8_t *bad,
                 uint32_t bad_len, const char *why);
void iwk_tx_pump(struct iwk_qp *qp);   /* qp->lock held */
void iwk_qp_reap(struct iwk_qp *qp);   /* qp->lock held */
/* Flushes the receives when flush_all asked for it (qp->rx_flush); the caller holds rx_lock and
 * qp->lock. */
void iwk_qp_flush_recvs(struct iwk_qp *qp);
/* Progress thread entry points. */
void iwk_qp_on_readable(struct iwk_qp *qp);
void iwk_qp_on_writable(struct iwk_qp *qp);
void iwk_qp_on_hangup(struct iwk_qp *qp);
/* iwk_cq_wait's thread: receive now (the progress thread leaves this QP to it meanwhile). */
void iwk_qp_rx_drive(struct iwk_qp *qp);
/* Receive-queue slots hold only max_sge pieces (idle QPs stay small). */
void iwk_rq_put(struct iwk_qp *qp, uint32_t i, const struct iwk_recv_entry *e);
void iwk_rq_get(const struct iwk_qp *qp, uint32_t i, struct iwk_recv_entry *e);
void iwk_qp_on_timer(struct iwk_qp *qp);
/* Responder: arms the MPA machine's RTR timer (peer-to-peer only). */
int iwk_qp_arm_rtr_timer(struct iwk_qp *qp, int timeout_ms);

#endif
