/*
 * decode.h - DDP (RFC 5041) and RDMAP (RFC 5040, RFC 7306) decoding of one
 * ULPDU for iwdump, plus the per-connection semantic checks that need
 * history: MSN per queue (RFC 5041 §4.3), MO continuity, Read Request <->
 * Read Response matching (RFC 5040 §4.4, §5.2.1), byte-swapped Read
 * Requests, the RFC 6581 RTR, and RFC 5044 §7.1.2 rule 4 (the Responder
 * waits for the Initiator's first FPDU).
 *
 * Uses the generated parsers (iwk_ddp.h, iwk_rdmap.h); reports sender-rule
 * violations found by *_validate(IWK_CHECK_ALL) as warnings.
 */
#ifndef IWDUMP_DECODE_H
#define IWDUMP_DECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "iwk_ddp.h"
#include "iwk_rdmap.h"
#include "iwk_status.h"
#include "mpa_stream.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Everything iwdump prints about one ULPDU. */
typedef struct decode_rec {
    bool hdr_ok;              /**< DDP and RDMAP control decoded */
    iwk_status status;        /**< first malformation (IWK_OK if none) */
    uint8_t t, l, ddp_rsvd, dv;
    uint8_t rv, rdmap_rsvd, opcode;
    /* tagged (RFC 5041 §4.2) */
    uint32_t stag;
    uint64_t to;
    /* untagged (RFC 5041 §4.3) */
    uint32_t inv_stag;        /**< RsvdULP[8:39]: Invalidate STag or reserved */
    uint32_t qn, msn, mo;
    size_t payload_len;       /**< octets after the DDP and RDMAP headers */
    /* RDMA Read Request (RFC 5040 §4.4) */
    bool has_rr;
    struct iwk_rdmap_read_request rr;       /**< as specified (big-endian) */
    struct iwk_rdmap_read_request rr_le;    /**< fields read little-endian */
    bool rr_swapped;          /**< heuristic: the sender used host (LE) order */
    /* Terminate (RFC 5040 §4.8) */
    bool has_term;
    struct iwk_rdmap_terminate term;
    bool term_rr_ok;          /**< term_rr holds the copied Read Request */
    struct iwk_rdmap_read_request term_rr;
    /* RFC 7306 */
    bool has_areq, has_aresp, has_imm;
    struct iwk_rdmap_atomic_request areq;
    struct iwk_rdmap_atomic_response aresp;
    struct iwk_rdmap_immediate_data imm;
    bool rtr;                 /**< RFC 6581 §7 Ready-to-Receive message */
    iwd_notes_t notes;
} decode_rec_t;

/** Canonical lower-case opcode name used in the JSON output ("send", ...),
    or "unknown". */
const char *decode_opcode_str(uint8_t opcode);

/** Names for the Terminate fields (RFC 5040 §4.8, RFC 5041 §7.2,
    RFC 5044 §8); "?" when unknown. */
const char *decode_term_layer_str(uint8_t layer);
const char *decode_term_etype_str(uint8_t layer, uint8_t etype);
const char *decode_term_ecode_str(uint8_t layer, uint8_t etype, uint8_t ecode);

/**
 * Header-level plausibility used by MPA resynchronisation: DV = 1, RV in
 * {0, 1}, reserved bits zero, a defined opcode whose T bit and queue number
 * match RFC 5040 §4.1, a length that holds the headers.  `avail` octets of
 * the ULPDU (whose length is `ulpdu_len`) are at `ulpdu`; at least
 * min(ulpdu_len, 18) are needed (else false).
 */
bool decode_plausible(const uint8_t *ulpdu, size_t avail, uint16_t ulpdu_len);

/** Per-connection decoding state (MSNs, pending reads, ...). */
typedef struct decode_conn decode_conn_t;

decode_conn_t *decode_conn_create(void);
void decode_conn_destroy(decode_conn_t *dc);

/** Negotiated parameters the decoder needs (p2p for the RTR). */
void decode_conn_set_params(decode_conn_t *dc, const mpa_params_t *params);

/** A capture gap in `dir`: forget MSN/MO expectations of that direction. */
void decode_conn_gap(decode_conn_t *dc, mpa_dir_t dir);

/** Decode one ULPDU sent in `dir` at `stream_offset` into *rec. */
void decode_ulpdu(decode_conn_t *dc, mpa_dir_t dir, uint64_t stream_offset,
                  const uint8_t *ulpdu, size_t len, decode_rec_t *rec);

#ifdef __cplusplus
}
#endif

#endif /* IWDUMP_DECODE_H */
