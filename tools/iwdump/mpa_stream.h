/*
 * mpa_stream.h - MPA (RFC 5044, RFC 6581) state machine of one TCP connection
 * for iwdump.
 *
 * An mpa_conn_t receives the two reassembled TCP byte streams of a connection
 * (tcp_reasm events: data, gaps, close) and turns them into MPA events:
 *
 *   - the MPA Request (Initiator -> Responder, "c2s") and Reply ("s2c")
 *     frames (RFC 5044 §7.1), which decide the per-direction framing:
 *       markers in the Responder's FPDUs  iff the Request has M = 1,
 *       markers in the Initiator's FPDUs  iff the Reply   has M = 1,
 *       CRC32c in both directions          iff either frame has C = 1;
 *   - FPDUs (RFC 5044 §4): ULPDU_Length, ULPDU, PAD, CRC, with the Markers
 *     removed (§4.3: one every 512 octets of the stream counted from the first
 *     octet after that direction's MPA frame) and the CRC checked (§4.4: over
 *     the FPDU as sent, Markers included, trailer least-significant octet
 *     first);
 *   - capture gaps, followed by a resynchronisation at the next valid FPDU.
 *
 * Directions here are MPA roles: MPA_DIR_C2S is the Initiator's stream (the
 * one that starts with "MPA ID Req Frame"), whatever tcp_reasm calls it.
 *
 * All state lives in the mpa_conn_t; the caller owns it.  No I/O.
 */
#ifndef IWDUMP_MPA_STREAM_H
#define IWDUMP_MPA_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "iwk_mpa.h"
#include "iwk_status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Notes: warnings and errors attached to one PDU --------------------- */

#define IWD_MAX_NOTES 8u
#define IWD_NOTE_CODE_LEN 40u
#define IWD_NOTE_TEXT_LEN 200u

typedef enum iwd_sev {
    IWD_WARN = 0,  /**< deviation from the RFCs; decoding goes on */
    IWD_ERROR = 1  /**< malformed: exit status 2 */
} iwd_sev_t;

typedef struct iwd_note {
    uint8_t sev;                      /**< iwd_sev_t */
    char code[IWD_NOTE_CODE_LEN];     /**< short identifier, e.g. "pad_nonzero" */
    char text[IWD_NOTE_TEXT_LEN];     /**< explanation with the RFC section */
} iwd_note_t;

typedef struct iwd_notes {
    unsigned n;        /**< entries used in v[] */
    unsigned dropped;  /**< notes that did not fit */
    iwd_note_t v[IWD_MAX_NOTES];
} iwd_notes_t;

void iwd_notes_clear(iwd_notes_t *notes);
/** Append a note (printf-style text). */
void iwd_note_add(iwd_notes_t *notes, iwd_sev_t sev, const char *code,
                  const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/** Number of notes of severity `sev`. */
unsigned iwd_notes_count(const iwd_notes_t *notes, iwd_sev_t sev);

/* ---- Events ------------------------------------------------------------- */

typedef enum mpa_dir {
    MPA_DIR_C2S = 0, /**< Initiator -> Responder */
    MPA_DIR_S2C = 1  /**< Responder -> Initiator */
} mpa_dir_t;

const char *mpa_dir_name(mpa_dir_t dir);

/** An MPA Request or Reply frame (RFC 5044 §7.1.1, RFC 6581 §5). */
typedef struct mpa_frame {
    bool is_reply;
    uint64_t stream_offset;
    size_t frame_len;            /**< 20 + PD_Length */
    uint8_t m, c, r, res, rev;   /**< res: the 4 Res bits after S */
    bool s;                      /**< RFC 6581 S bit (0x10 of the flags) */
    uint16_t pd_length;
    const uint8_t *pd;           /**< Private Data (valid during the callback) */
    size_t pd_len;
    bool has_v2;                 /**< rev 2 with S = 1: v2 holds IRD/ORD */
    struct iwk_mpa_v2_params v2;
} mpa_frame_t;

typedef enum mpa_crc_state {
    MPA_CRC_ABSENT = 0,  /**< neither side asked for CRCs (field not checked) */
    MPA_CRC_VALID = 1,
    MPA_CRC_INVALID = 2
} mpa_crc_state_t;

const char *mpa_crc_state_name(mpa_crc_state_t st);

/** One FPDU (RFC 5044 §4.1), Markers removed. */
typedef struct mpa_fpdu {
    uint64_t stream_offset;   /**< first octet (a Marker that begins it, or
                                   ULPDU_Length) */
    size_t wire_len;          /**< octets in the stream, Markers included */
    uint16_t ulpdu_len;       /**< ULPDU_Length */
    const uint8_t *ulpdu;     /**< ULPDU_Length octets, Markers removed
                                   (valid during the callback) */
    unsigned markers;         /**< Markers removed inside this FPDU */
    unsigned pad_len;         /**< 0..3 */
    mpa_crc_state_t crc;
    uint32_t crc_wire;        /**< CRC field value (LE) */
    uint32_t crc_calc;        /**< computed CRC32c (when CRCs are on) */
    uint64_t resync_skipped;  /**< octets skipped to find this FPDU after a
                                   gap or a framing loss (0 normally) */
} mpa_fpdu_t;

/** Summary of the connection's negotiation (valid once both frames seen). */
typedef struct mpa_params {
    bool req_seen, rep_seen;
    bool rejected;
    bool crc;                  /**< CRCs in both directions */
    bool markers[2];           /**< per mpa_dir_t */
    uint8_t rev;               /**< revision of the Reply (or Request) */
    bool p2p;                  /**< RFC 6581 A bit in both frames */
} mpa_params_t;

typedef struct mpa_callbacks {
    void (*on_frame)(void *user, mpa_dir_t dir, const mpa_frame_t *frame,
                     const iwd_notes_t *notes);
    void (*on_fpdu)(void *user, mpa_dir_t dir, const mpa_fpdu_t *fpdu,
                    const iwd_notes_t *notes);
    /** Bytes missing from the capture; `lost` octets of a partly received
        PDU before it were dropped with it. */
    void (*on_gap)(void *user, mpa_dir_t dir, uint64_t stream_offset,
                   uint64_t len, uint64_t lost, const iwd_notes_t *notes);
    /** A problem not tied to a decoded PDU (bad frame, truncated stream). */
    void (*on_problem)(void *user, mpa_dir_t dir, uint64_t stream_offset,
                       const iwd_notes_t *notes);
} mpa_callbacks_t;

typedef enum mpa_conn_kind {
    MPA_CONN_UNKNOWN = 0,  /**< not enough bytes yet to tell */
    MPA_CONN_MPA = 1,      /**< one stream starts with an MPA key */
    MPA_CONN_NOT_MPA = 2   /**< neither stream starts with an MPA key */
} mpa_conn_kind_t;

/** Per-direction counters. */
typedef struct mpa_dir_stats {
    uint64_t frames, fpdus;
    uint64_t crc_valid, crc_invalid, crc_absent;
    uint64_t markers;
    uint64_t gaps, gap_bytes, skipped_bytes;
} mpa_dir_stats_t;

typedef struct mpa_conn mpa_conn_t;

/** Create a connection; NULL on allocation failure. */
mpa_conn_t *mpa_conn_create(const mpa_callbacks_t *cb, void *user);
void mpa_conn_destroy(mpa_conn_t *conn);

/**
 * Feed stream bytes of TCP direction `tcp_dir` (0 = the SYN sender).  The
 * MPA role of each TCP direction is decided by the first key seen.
 * Returns 0, or -1 on allocation failure.
 */
int mpa_conn_data(mpa_conn_t *conn, unsigned tcp_dir, uint64_t stream_offset,
                  const uint8_t *data, size_t len);
/** `len` bytes at `stream_offset` are missing from the capture. */
void mpa_conn_gap(mpa_conn_t *conn, unsigned tcp_dir, uint64_t stream_offset,
                  uint64_t len);
/** TCP direction ended; `clean` = it reached its FIN. */
void mpa_conn_close(mpa_conn_t *conn, unsigned tcp_dir, bool clean);

mpa_conn_kind_t mpa_conn_kind(const mpa_conn_t *conn);
/** The MPA direction of TCP direction `tcp_dir` (once kind is MPA). */
mpa_dir_t mpa_conn_role(const mpa_conn_t *conn, unsigned tcp_dir);
const mpa_params_t *mpa_conn_params(const mpa_conn_t *conn);
const mpa_dir_stats_t *mpa_conn_stats(const mpa_conn_t *conn, mpa_dir_t dir);

#ifdef __cplusplus
}
#endif

#endif /* IWDUMP_MPA_STREAM_H */
