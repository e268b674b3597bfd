/* iwkit/verbs.h - the public API of the iwkit software iWARP stack (RDMAP/DDP/MPA over TCP).
 *
 * Shaped like libibverbs + librdmacm so that RDMA programmers feel at home:
 *   context -> protection domain -> memory regions (STags) -> completion queues -> queue pairs,
 *   work requests posted to send/receive queues, work completions polled from a CQ, and
 *   connection management (listen / connect / accept / reject / disconnect) with MPA private data.
 *
 * Threads: every object may be used from any thread. Each context runs one progress thread that
 * owns the sockets' receive side (epoll, no busy-waiting); posting a work request writes to the
 * socket directly from the caller's thread when the socket can take it. Errors are negative errno
 * values (or -IWK_E* below); a connection that fails ends with a Terminate message carrying the
 * RFC 5040 §4.8 layer/type/code, reported in iwk_qp_info().
 */
#ifndef IWKIT_VERBS_H
#define IWKIT_VERBS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#ifdef __cplusplus
extern "C" {
#endif

struct iwk_context;
struct iwk_pd;
struct iwk_mr;
struct iwk_cq;
struct iwk_qp;
struct iwk_listener;
struct iwk_conn_request;

/* ---- context --------------------------------------------------------------------------------- */

enum iwk_context_flags {
    /* Manual progress (like libfabric's FI_PROGRESS_MANUAL): the progress thread does not receive
     * on the QPs of a CQ; the application's iwk_cq_poll, iwk_cq_wait and iwk_cq_progress calls do,
     * in its own thread, so no thread hand-off sits on the latency path. Nothing arrives (no
     * placement, no Read Response, no completion) while the application calls none of them.
     * The completion channel (iwk_cq_req_notify) is refused: -EOPNOTSUPP. docs/runtime.md. */
    IWK_CTX_APP_PROGRESS = 1u << 0,
};
struct iwk_context_attr {
    const char *pcap_path; /* non-NULL: record every connection of this context into this pcap file */
    uint32_t flags;        /* enum iwk_context_flags */
};
int iwk_context_open(const struct iwk_context_attr *attr, struct iwk_context **out);
void iwk_context_close(struct iwk_context *ctx); /* after every QP, CQ, MR, PD, listener is gone */

/* ---- protection domains and memory registration (RFC 5040 §2.1, RFC 5042 §5) ----------------- */

int iwk_pd_alloc(struct iwk_context *ctx, struct iwk_pd **out);
int iwk_pd_free(struct iwk_pd *pd); /* -EBUSY while MRs or QPs use it */

enum iwk_access {
    IWK_ACCESS_LOCAL_WRITE = 1u << 0,   /* receives, Read Response data and atomic results land here */
    IWK_ACCESS_REMOTE_WRITE = 1u << 1,  /* target of the peer's RDMA Write (needs LOCAL_WRITE) */
    IWK_ACCESS_REMOTE_READ = 1u << 2,   /* source of the peer's RDMA Read */
    IWK_ACCESS_REMOTE_ATOMIC = 1u << 3, /* target of the peer's atomics (needs LOCAL_WRITE) */
};

struct iwk_mr {
    void *addr;      /* start of the registered region; its Tagged Offset 0 is the address itself */
    size_t length;
    uint32_t lkey;   /* local STag (same value as rkey) */
    uint32_t rkey;   /* remote STag: 24-bit index, 8-bit key (RFC 5040 §2.1 "STag") */
    uint32_t access; /* enum iwk_access */
};
/* Tagged Offsets are virtual addresses (as siw and libibverbs use them): remote_addr = mr->addr + n. */
int iwk_mr_reg(struct iwk_pd *pd, void *addr, size_t length, uint32_t access, struct iwk_mr **out);
int iwk_mr_dereg(struct iwk_mr *mr);
/* Local invalidation (RFC 5040 §5.3 semantics): the STag stops working for remote access. */
int iwk_mr_invalidate(struct iwk_mr *mr);
/* Gives a new key to an invalidated STag and validates it again (like a fast-register). */
int iwk_mr_rekey(struct iwk_mr *mr, uint8_t key);

/* ---- completion queues ---------------------------------------------------------------------- */

enum iwk_wc_status {
    IWK_WC_SUCCESS = 0,
    IWK_WC_LOC_LEN_ERR,      /* a received message was longer than the posted buffer */
    IWK_WC_LOC_PROT_ERR,     /* a local STag/lkey did not cover the buffer */
    IWK_WC_REM_ACCESS_ERR,   /* the peer refused our STag use (Terminate, protection error) */
    IWK_WC_REM_OP_ERR,       /* the peer reported another error (Terminate) */
    IWK_WC_WR_FLUSH_ERR,     /* flushed: the queue pair left RTS before this request completed */
    IWK_WC_FATAL_ERR,        /* local error on the connection (CRC, framing, TCP lost) */
};

enum iwk_wc_opcode {
    IWK_WC_SEND, IWK_WC_RDMA_WRITE, IWK_WC_RDMA_READ, IWK_WC_FETCH_ADD, IWK_WC_CMP_SWAP,
    IWK_WC_WRITE_IMM, IWK_WC_IMM, /* send side */
    IWK_WC_RECV, IWK_WC_RECV_IMM, /* receive side: a Send, or Immediate Data (RFC 7306 §6) */
};

enum iwk_wc_flags {
    IWK_WC_WITH_INV = 1u << 0, /* the Send invalidated wc.invalidated_rkey (RFC 5040 §5.3) */
    IWK_WC_WITH_IMM = 1u << 1, /* wc.imm_data holds the 8 octets of Immediate Data (RFC 7306 §6) */
    IWK_WC_WITH_SE = 1u << 2,  /* the message carried a Solicited Event */
};

struct iwk_wc {
    uint64_t wr_id;
    enum iwk_wc_status status;
    enum iwk_wc_opcode opcode;
    uint32_t byte_len;          /* receive: octets placed */
    uint32_t flags;             /* enum iwk_wc_flags */
    uint32_t invalidated_rkey;
    uint64_t imm_data;          /* big-endian octets as sent, read as a host-order uint64 by memcpy */
    struct iwk_qp *qp;
};

int iwk_cq_create(struct iwk_context *ctx, uint32_t depth, struct iwk_cq **out);
int iwk_cq_destroy(struct iwk_cq *cq); /* -EBUSY while a QP uses it */
/* Takes up to n completions; returns how many (0: none), never blocks. With
 * IWK_CTX_APP_PROGRESS it first receives (iwk_cq_progress) when the CQ is empty. */
int iwk_cq_poll(struct iwk_cq *cq, int n, struct iwk_wc *wc);
/* Receives what has arrived for the CQ's queue pairs, in the caller's thread (places Writes,
 * answers Reads, completes work requests); when nothing has, waits up to timeout_ms (0: not at
 * all, -1: forever) for data or a completion. Returns how many completions the CQ holds (0: none
 * yet). For IWK_CTX_APP_PROGRESS, e.g. while waiting in memory for an RDMA Write. */
int iwk_cq_progress(struct iwk_cq *cq, int timeout_ms);
/* Blocks until the CQ is not empty, or timeout_ms passes (-1: forever). 0 or -ETIMEDOUT. */
int iwk_cq_wait(struct iwk_cq *cq, int timeout_ms);
/* Completion channel for epoll: the fd becomes readable when a completion arrives after
 * iwk_cq_req_notify() (solicited_only: only Solicited-Event receives and errors, RFC 5040 §5.3);
 * iwk_cq_ack() consumes the event. */
int iwk_cq_fd(const struct iwk_cq *cq);
int iwk_cq_req_notify(struct iwk_cq *cq, int solicited_only);
void iwk_cq_ack(struct iwk_cq *cq);

/* ---- queue pairs and work requests ---------------------------------------------------------- */

struct iwk_sge {
    uint64_t addr;   /* virtual address inside the MR named by lkey */
    uint32_t length;
    uint32_t lkey;
};

enum iwk_wr_opcode {
    IWK_WR_SEND, IWK_WR_SEND_INV, IWK_WR_RDMA_WRITE, IWK_WR_RDMA_READ,
    IWK_WR_FETCH_ADD, IWK_WR_CMP_SWAP,  /* RFC 7306 §5: 8-octet result into sg_list[0] */
    IWK_WR_WRITE_IMM,                   /* RDMA Write, then Immediate Data (RFC 7306 §6) */
    IWK_WR_IMM,                         /* Immediate Data alone */
};

enum iwk_send_flags {
    IWK_SEND_SIGNALED = 1u << 0,  /* generate a completion on success (errors always complete) */
    IWK_SEND_SOLICITED = 1u << 1, /* Send with SE / Immediate Data with SE */
    IWK_SEND_FENCE = 1u << 2,     /* wait for earlier Reads/atomics to complete first */
};

struct iwk_send_wr {
    uint64_t wr_id;
    enum iwk_wr_opcode opcode;
    uint32_t flags;                /* enum iwk_send_flags */
    const struct iwk_sge *sg_list;
    uint32_t num_sge;
    uint64_t remote_addr;          /* Write, Read, atomics: peer's Tagged Offset */
    uint32_t rkey;                 /* Write, Read, atomics: peer's STag */
    uint32_t invalidate_rkey;      /* SEND_INV: STag the peer invalidates */
    uint64_t compare_add;          /* FETCH_ADD: add value; CMP_SWAP: compare value */
    uint64_t swap;                 /* CMP_SWAP: swap value */
    uint64_t imm_data;             /* WRITE_IMM, IMM: 8 octets, sent as stored in memory */
};

struct iwk_recv_wr {
    uint64_t wr_id;
    const struct iwk_sge *sg_list;
    uint32_t num_sge;
};

struct iwk_qp_attr {
    struct iwk_cq *send_cq;
    struct iwk_cq *recv_cq;
    uint32_t max_send_wr; /* 1..255 (the rdmap_qp machine counts to 255), default 128 when 0 */
    uint32_t max_recv_wr; /* 1..65536, default 128 when 0 */
    uint32_t max_sge;     /* 1..32, default 8 when 0 */
};
int iwk_qp_create(struct iwk_pd *pd, const struct iwk_qp_attr *attr, struct iwk_qp **out);
/* Disconnects abortively if still connected, flushes, frees. */
int iwk_qp_destroy(struct iwk_qp *qp);

/* Posting returns 0 or -EINVAL (bad WR), -ENOMEM (queue full), -ENOTCONN (not in RTS), -EACCES
 * (an SGE is not inside the region its lkey names, or lacks LOCAL_WRITE where data lands): local
 * protection is checked at post time, so IWK_WC_LOC_PROT_ERR is not produced by this version. */
int iwk_post_send(struct iwk_qp *qp, const struct iwk_send_wr *wr);
int iwk_post_recv(struct iwk_qp *qp, const struct iwk_recv_wr *wr);

/* ---- connection parameters, interop profiles (RFC 5044 §7.1, RFC 6581) ---------------------- */

enum iwk_crc_mode { IWK_CRC_REQUIRED, IWK_CRC_OPTIONAL, IWK_CRC_OFF };
enum iwk_rtr { IWK_RTR_NONE = 0, IWK_RTR_WRITE = 1, IWK_RTR_READ = 2, IWK_RTR_SEND = 4 };

struct iwk_conn_param {
    uint8_t mpa_rev;          /* 1 or 2 (RFC 6581 enhanced setup) */
    enum iwk_crc_mode crc;    /* REQUIRED: C=1 in our frame; OPTIONAL and OFF: C=0, so CRCs are used only
                                 when the peer sets C=1 (RFC 5044 §7.1.1: CRC if either end asks) */
    uint8_t markers;          /* 1: we want Markers in what we receive (M=1) */
    uint8_t can_markers;      /* 1: we can send Markers when the peer asks */
    uint8_t rtr;              /* peer-to-peer: IWK_RTR_* mask of RTR types we can send/accept; 0: client-server */
    uint16_t ird, ord;        /* inbound/outbound Read (and atomic) depth, 1..16383 */
    const void *private_data; /* up to 512 - 4 octets (rev 2 uses 4 for IRD/ORD) */
    uint16_t private_data_len;
    int timeout_ms;           /* MPA setup timeout (RFC 5044 §7.1.2 rule 10), default 10000 when 0 */
    uint32_t socket_buffer;   /* SO_SNDBUF and SO_RCVBUF of the connection's socket in octets (4096..
                                 64 MiB); 0: the kernel's autotuning. Hundreds of busy QPs in one
                                 process: 262144 keeps their aggregate goodput near one QP's, where
                                 autotuned buffers grow until the kernel's copies dominate (README) */
    uint16_t first_fpdu_delay_ms; /* Initiator: pause after the Reply before the first FPDU (the RTR
                                     too). Linux siw as Responder attaches the socket to its QP only
                                     after sending the Reply and leaves an FPDU that arrives before
                                     that unprocessed; the "siw" profile sets 200. */
};
/* Named interop profiles: "rfc" (rev 2, CRC required, markers allowed, RTR write|read|send),
 * "siw" (rev 2, CRC optional, no markers - siw cannot send them, RTR write|read as siw offers,
 *        200 ms first_fpdu_delay_ms),
 * "chelsio" (rev 2, CRC required, no markers, RTR read, IRD/ORD 16).
 * Returns 0 or -ENOENT; fills *p with defaults first. */
int iwk_conn_param_profile(struct iwk_conn_param *p, const char *name);

/* ---- connection management ------------------------------------------------------------------ */

/* Connects the QP to host:port and runs MPA setup as Initiator; blocks until RTS or failure.
 * -ECONNREFUSED (TCP refused), -IWK_ECONNREJECTED (peer rejected; iwk_qp_info has its private data),
 * -EPROTO (negotiation failed: the reason is in iwk_qp_info().error), -ETIMEDOUT. */
int iwk_connect(struct iwk_qp *qp, const char *host, uint16_t port, const struct iwk_conn_param *p);

int iwk_listen(struct iwk_context *ctx, const char *host, uint16_t port, int backlog,
               struct iwk_listener **out);
uint16_t iwk_listener_port(const struct iwk_listener *l); /* the bound port (useful with port 0) */
int iwk_listener_fd(const struct iwk_listener *l);        /* readable when a connection waits */
void iwk_listener_close(struct iwk_listener *l);

/* Waits for a TCP connection and its MPA Request (timeout_ms, -1 forever). The request holds the
 * peer's private data and parameters; answer it with accept or reject. */
int iwk_get_request(struct iwk_listener *l, int timeout_ms, struct iwk_conn_request **out);
struct iwk_conn_request_info {
    uint8_t mpa_rev;
    uint8_t crc, markers;     /* C and M of the Request */
    uint8_t rtr;              /* RTR types offered (IWK_RTR_*), peer-to-peer when non-zero */
    uint16_t ird, ord;        /* the Initiator's (rev 2 only) */
    const uint8_t *private_data;
    uint16_t private_data_len;
};
const struct iwk_conn_request_info *iwk_conn_request_info(const struct iwk_conn_request *r);
/* Sends the Reply and binds the connection to qp, which is in RTS when this returns. As RFC 5044
 * §7.1.2 rule 4 wants, nothing is sent before the Initiator's first FPDU (or RTR) has arrived:
 * work posted before that waits in the send queue. */
int iwk_accept(struct iwk_conn_request *r, struct iwk_qp *qp, const struct iwk_conn_param *p);
/* Sends a Reply with R=1 and the given private data, then closes (RFC 5044 §7.1.2 rule 2). */
int iwk_reject(struct iwk_conn_request *r, const void *private_data, uint16_t len);

/* Graceful close (RFC 5040 §6.2): waits up to timeout_ms for outstanding work, then TCP FIN. */
int iwk_disconnect(struct iwk_qp *qp, int timeout_ms);

enum iwk_qp_state { IWK_QPS_IDLE, IWK_QPS_CONNECTING, IWK_QPS_RTS, IWK_QPS_CLOSING,
                    IWK_QPS_TERMINATE, IWK_QPS_ERROR };

struct iwk_qp_info {
    enum iwk_qp_state state;
    /* negotiated (valid in RTS) */
    uint8_t mpa_rev, crc, tx_markers, rx_markers, rtr; /* rtr: the RTR type used, IWK_RTR_* */
    uint16_t ird, ord;
    uint32_t mulpdu;           /* largest ULPDU we send */
    /* the peer's private data from the Request/Reply */
    uint8_t peer_private_data[512];
    uint16_t peer_private_data_len;
    /* why the connection ended: 0 when it did not fail. Terminate layer/type/code (RFC 5040
     * §4.8) sent or received, and a text. */
    int error;                 /* negative errno style reason, 0 when none */
    uint8_t term_sent, term_received;
    uint8_t term_layer, term_etype, term_ecode;
    char reason[128];
    /* counters; rx_bytes also counts what is read and dropped after a Terminate (octets still in
     * the 4 KiB read-ahead are not counted yet) */
    uint64_t tx_fpdus, rx_fpdus, tx_bytes, rx_bytes;
    /* the socket's SO_SNDBUF / SO_RCVBUF as the kernel reports them now (Linux reports twice what
     * iwk_conn_param.socket_buffer set; autotuned ones grow with traffic); 0 without a socket */
    uint32_t socket_sndbuf, socket_rcvbuf;
};
int iwk_qp_info(const struct iwk_qp *qp, struct iwk_qp_info *out);
/* Waits until the QP leaves RTS/CLOSING (peer closed or error), up to timeout_ms. */
int iwk_qp_wait_closed(struct iwk_qp *qp, int timeout_ms);

/* The TCP endpoints of a connection (the socket's getsockname / getpeername; a listener's request
 * before it is answered): 0, or -ENOTCONN when the QP has no socket. Either pointer may be NULL. */
int iwk_qp_addrs(const struct iwk_qp *qp, struct sockaddr_storage *local, struct sockaddr_storage *peer);
int iwk_conn_request_addrs(const struct iwk_conn_request *r, struct sockaddr_storage *local,
                           struct sockaddr_storage *peer);

/* Extra errno-style codes (negative values are returned). */
#define IWK_ECONNREJECTED 1001

/* For tests: sends raw octets on the QP's TCP stream as if they were FPDUs (bad-input tests). */
int iwk_qp_inject_raw(struct iwk_qp *qp, const void *buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif
