/* Unit tests of the generated state machines (iwk_mpa_setup.c, iwk_rdmap_stream.c).
 * Every expected (state, event) -> (next state, actions) case below is written by hand from the
 * RFC text cited next to it, not from the spec or the generator. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "iwk_mpa_setup.h"
#include "iwk_rdmap_stream.h"

/* ---- helpers ------------------------------------------------------------------------------ */

static struct iwk_mpa_initiator ini(unsigned rev, unsigned p2p, unsigned w, unsigned r, unsigned s)
{
    struct iwk_mpa_initiator m;
    iwk_mpa_initiator_init(&m);
    m.rev = (uint8_t)rev; m.p2p = (uint8_t)p2p; m.rtr_w = (uint8_t)w; m.rtr_r = (uint8_t)r; m.rtr_s = (uint8_t)s;
    m.want_m = 0; m.want_c = 0; m.ird = 1; m.ord = 1;
    return m;
}

static struct iwk_mpa_responder rsp(unsigned rev, unsigned w, unsigned r, unsigned s)
{
    struct iwk_mpa_responder m;
    iwk_mpa_responder_init(&m);
    m.rev = (uint8_t)rev; m.rtr_w = (uint8_t)w; m.rtr_r = (uint8_t)r; m.rtr_s = (uint8_t)s;
    m.want_m = 0; m.want_c = 0; m.can_markers = 1; m.ird = 1; m.ord = 1;
    return m;
}

/* An initiator that has sent its Request (RFC 5044 §7.1.2 rule 1). */
static void start(struct iwk_mpa_initiator *m)
{
    struct iwk_mpa_initiator_input in = {0};
    struct iwk_mpa_initiator_actions a;
    assert_int_not_equal(iwk_mpa_initiator_step(m, IWK_MPA_INITIATOR_EV_START, &in, &a), 0);
    assert_int_equal(a.send_request, 1);
    assert_int_equal(m->state, IWK_MPA_INITIATOR_WAIT_REPLY);
}

/* A well-formed rev 2 Reply with S=1. */
static struct iwk_mpa_initiator_input reply2(unsigned p2p, unsigned w, unsigned r, unsigned s,
                                             unsigned ird, unsigned ord)
{
    struct iwk_mpa_initiator_input in = {0};
    in.valid = 1; in.p_rev = 2; in.p_s = 1; in.p_p2p = (uint8_t)p2p;
    in.p_rtr_w = (uint8_t)w; in.p_rtr_r = (uint8_t)r; in.p_rtr_s = (uint8_t)s;
    in.p_ird = (uint16_t)ird; in.p_ord = (uint16_t)ord;
    return in;
}

static struct iwk_mpa_responder_input request2(unsigned p2p, unsigned w, unsigned r, unsigned s,
                                               unsigned ird, unsigned ord)
{
    struct iwk_mpa_responder_input in = {0};
    in.valid = 1; in.p_rev = 2; in.p_s = 1; in.p_p2p = (uint8_t)p2p;
    in.p_rtr_w = (uint8_t)w; in.p_rtr_r = (uint8_t)r; in.p_rtr_s = (uint8_t)s;
    in.p_ird = (uint16_t)ird; in.p_ord = (uint16_t)ord;
    return in;
}

static int rstep(struct iwk_mpa_responder *m, enum iwk_mpa_responder_event ev,
                 const struct iwk_mpa_responder_input *in, struct iwk_mpa_responder_actions *a)
{
    struct iwk_mpa_responder_input zero = {0};
    return iwk_mpa_responder_step(m, ev, in ? in : &zero, a);
}

static int istep(struct iwk_mpa_initiator *m, enum iwk_mpa_initiator_event ev,
                 const struct iwk_mpa_initiator_input *in, struct iwk_mpa_initiator_actions *a)
{
    struct iwk_mpa_initiator_input zero = {0};
    return iwk_mpa_initiator_step(m, ev, in ? in : &zero, a);
}

/* ---- MPA Responder ------------------------------------------------------------------------ */

/* RFC 6581 §9.2/§9.3: rev 2, A=1, the Initiator supports the Write RTR, so do we: the Reply has
 * A=1 and C=1; the zero-length Write that follows puts us in Full Operation (RFC 5044 §7.1.2
 * rule 4: only now may we send). */
static void resp_p2p_write_rtr(void **state)
{
    (void)state;
    struct iwk_mpa_responder m = rsp(2, 1, 1, 0);
    struct iwk_mpa_responder_actions a;
    struct iwk_mpa_responder_input in = request2(1, 1, 0, 0, 1, 1);
    assert_int_not_equal(rstep(&m, IWK_MPA_RESPONDER_EV_RX_REQUEST, &in, &a), 0);
    assert_int_equal(m.state, IWK_MPA_RESPONDER_WAIT_ULP);
    assert_int_equal(a.report, IWK_MPA_REPORT_REQUEST);
    assert_int_equal(a.send_reply, 0);                    /* the ULP decides first (§7.1.4.2) */
    assert_int_equal(m.p2p_neg, 1);
    assert_int_equal(m.offer_w, 1);
    assert_int_equal(m.offer_r, 0);                       /* not requested, a common option exists */
    assert_int_equal(m.rep_rev, 2);
    assert_int_not_equal(rstep(&m, IWK_MPA_RESPONDER_EV_ULP_ACCEPT, NULL, &a), 0);
    assert_int_equal(a.send_reply, 1);
    assert_int_equal(a.reply_r, 0);
    assert_int_equal(m.state, IWK_MPA_RESPONDER_WAIT_RTR);
    assert_int_equal(m.rx_fpdu, 1);
    assert_int_equal(m.tx_fpdu, 0);
    /* rule 4: no FPDU before one is received */
    assert_int_equal(rstep(&m, IWK_MPA_RESPONDER_EV_TX_FPDU, NULL, &a), 0);
    assert_int_equal(a.send_fpdu, 0);
    struct iwk_mpa_responder_input f = {0};
    f.kind = IWK_FPDU_RTR_WRITE;
    assert_int_not_equal(rstep(&m, IWK_MPA_RESPONDER_EV_RX_FPDU, &f, &a), 0);
    assert_int_equal(m.state, IWK_MPA_RESPONDER_RTS);
    assert_int_equal(m.tx_fpdu, 1);
    assert_int_equal(a.send_fpdu, 0);
    assert_int_not_equal(rstep(&m, IWK_MPA_RESPONDER_EV_TX_FPDU, NULL, &a), 0);
    assert_int_equal(a.send_fpdu, 1);
}

/* RFC 6581 §9.2: "If the responder does not support any of the initiator-specified RTR
 * indication options, then the responder MUST set at least one RTR indication type option it
 * supports." */
static void resp_offers_own_when_no_common(void **state)
{
    (void)state;
    struct iwk_mpa_responder m = rsp(2, 0, 1, 0);
    struct iwk_mpa_responder_actions a;
    struct iwk_mpa_responder_input in = request2(1, 1, 0, 1, 1, 1);
    rstep(&m, IWK_MPA_RESPONDER_EV_RX_REQUEST, &in, &a);
    assert_int_equal(m.offer_r, 1);
    assert_int_equal(m.offer_w + m.offer_s, 0);
}

/* RFC 5044 §7.1.1 M: M=1 in the Request means Markers are required in FPDUs sent by the
 * Responder; our own M goes in the Reply and governs what the Initiator sends. C: CRCs when
 * either frame has C=1. */
static void resp_markers_and_crc(void **state)
{
    (void)state;
    struct iwk_mpa_responder m = rsp(2, 1, 0, 0);
    struct iwk_mpa_responder_actions a;
    struct iwk_mpa_responder_input in = request2(0, 0, 0, 0, 1, 1);
    in.p_m = 1; in.p_c = 0;
    m.want_m = 0; m.want_c = 1;
    rstep(&m, IWK_MPA_RESPONDER_EV_RX_REQUEST, &in, &a);
    assert_int_equal(m.tx_markers, 1);
    assert_int_equal(m.rx_markers, 0);
    assert_int_equal(m.crc, 1);
    struct iwk_mpa_responder m2 = rsp(2, 1, 0, 0);
    in.p_m = 0; in.p_c = 0;
    rstep(&m2, IWK_MPA_RESPONDER_EV_RX_REQUEST, &in, &a);
    assert_int_equal(m2.tx_markers, 0);
    assert_int_equal(m2.crc, 0);
}

/* Markers required from a Responder that cannot send them (siw): reject, TCP stays open. */
static void resp_rejects_markers_it_cannot_send(void **state)
{
    (void)state;
    struct iwk_mpa_responder m = rsp(2, 1, 0, 0);
    struct iwk_mpa_responder_actions a;
    struct iwk_mpa_responder_input in = request2(0, 0, 0, 0, 1, 1);
    in.p_m = 1;
    m.can_markers = 0;
    rstep(&m, IWK_MPA_RESPONDER_EV_RX_REQUEST, &in, &a);
    assert_int_equal(m.state, IWK_MPA_RESPONDER_REJECTED);
    assert_int_equal(a.send_reply, 1);
    assert_int_equal(a.reply_r, 1);
    assert_int_equal(a.close, 0);
}

/* RFC 6581 §9.1: "The responder MUST set its ORD at most to the initiator IRD"; an initiator
 * ORD of 0x3FFF leaves the responder IRD unchanged and is answered with IRD 0x3FFF. */
static void resp_ird_ord(void **state)
{
    (void)state;
    struct iwk_mpa_responder m = rsp(2, 1, 0, 0);
    struct iwk_mpa_responder_actions a;
    m.ord = 4; m.ird = 3;
    struct iwk_mpa_responder_input in = request2(0, 0, 0, 0, 1, 2);
    rstep(&m, IWK_MPA_RESPONDER_EV_RX_REQUEST, &in, &a);
    assert_int_equal(m.neg_ord, 1);
    assert_int_equal(m.rep_ord, 1);
    assert_int_equal(m.rep_ird, 3);
    assert_int_equal(m.neg_ird, 3);
    assert_int_equal(m.peer_ird, 1);                  /* passed to the ULP */
    assert_int_equal(m.peer_ord, 2);
    struct iwk_mpa_responder m2 = rsp(2, 1, 0, 0);
    m2.ird = 3;
    in = request2(0, 0, 0, 0, 1, IWK_MPA_IRD_ORD_AUTO);
    rstep(&m2, IWK_MPA_RESPONDER_EV_RX_REQUEST, &in, &a);
    assert_int_equal(m2.rep_ird, IWK_MPA_IRD_ORD_AUTO);
    assert_int_equal(m2.neg_ird, 3);
}

/* RFC 6581 §9.1: "if the initiator ORD is 0 ... and the responder supports use of a zero-length
 * RDMA Read RTR indication, then the responder IRD can be set to 1". */
static void resp_raises_ird_for_read_rtr(void **state)
{
    (void)state;
    struct iwk_mpa_responder m = rsp(2, 0, 1, 0);
    struct iwk_mpa_responder_actions a;
    m.ird = 0;
    struct iwk_mpa_responder_input in = request2(1, 0, 1, 0, 1, 0);
    rstep(&m, IWK_MPA_RESPONDER_EV_RX_REQUEST, &in, &a);
    assert_int_equal(m.rep_ird, 1);
}

/* RFC 6581 §9.2/§9.3: an RTR we did not offer -> TERM Layer 2, Type 0, Code 7, close. */
static void resp_rtr_mismatch_terminates(void **state)
{
    (void)state;
    struct iwk_mpa_responder m = rsp(2, 0, 1, 0);
    struct iwk_mpa_responder_actions a;
    struct iwk_mpa_responder_input in = request2(1, 0, 1, 0, 1, 1);
    rstep(&m, IWK_MPA_RESPONDER_EV_RX_REQUEST, &in, &a);
    rstep(&m, IWK_MPA_RESPONDER_EV_ULP_ACCEPT, NULL, &a);
    struct iwk_mpa_responder_input f = {0};
    f.kind = IWK_FPDU_RTR_WRITE;
    rstep(&m, IWK_MPA_RESPONDER_EV_RX_FPDU, &f, &a);
    assert_int_equal(m.state, IWK_MPA_RESPONDER_CLOSED);
    assert_int_equal(a.send_term, 1);
    assert_int_equal(a.term_code, 0x2007);
    assert_int_equal(a.close, 1);
}

/* RFC 5040 §7.2 item 4 validates the source STag only for non-zero-length Read Requests: a
 * zero-length Read RTR with STag 0 is accepted and answered with a zero-length Read Response. */
static void resp_zero_length_read_rtr_stag0(void **state)
{
    (void)state;
    struct iwk_mpa_responder m = rsp(2, 0, 1, 0);
    struct iwk_mpa_responder_actions a;
    struct iwk_mpa_responder_input in = request2(1, 0, 1, 0, 1, 1);
    rstep(&m, IWK_MPA_RESPONDER_EV_RX_REQUEST, &in, &a);
    rstep(&m, IWK_MPA_RESPONDER_EV_ULP_ACCEPT, NULL, &a);
    struct iwk_mpa_responder_input f = {0};
    f.kind = IWK_FPDU_RTR_READ;
    f.stag = 0;
    rstep(&m, IWK_MPA_RESPONDER_EV_RX_FPDU, &f, &a);
    assert_int_equal(m.state, IWK_MPA_RESPONDER_RTS);
    assert_int_equal(a.send_term, 0);
    assert_int_equal(a.send_fpdu, 1);
    assert_int_equal(a.fpdu_kind, IWK_FPDU_READ_RESP);
}

/* RFC 5044 §7.1.2 rule 4 (client-server): the first valid FPDU, whatever it is, enables sending. */
static void resp_client_server_first_fpdu(void **state)
{
    (void)state;
    struct iwk_mpa_responder m = rsp(1, 0, 0, 0);
    struct iwk_mpa_responder_actions a;
    struct iwk_mpa_responder_input in = {0};
    in.valid = 1; in.p_rev = 1;
    rstep(&m, IWK_MPA_RESPONDER_EV_RX_REQUEST, &in, &a);
    rstep(&m, IWK_MPA_RESPONDER_EV_ULP_ACCEPT, NULL, &a);
    struct iwk_mpa_responder_input f = {0};
    f.kind = IWK_FPDU_DATA;
    rstep(&m, IWK_MPA_RESPONDER_EV_RX_FPDU, &f, &a);
    assert_int_equal(m.state, IWK_MPA_RESPONDER_RTS);
}

/* RFC 5044 §7.1.1 Rev / RFC 6581 §6: a rev-1-only Responder cannot interoperate with rev 2:
 * close and report; a rev 2 Responder MUST accept rev 1 Requests (and answers rev 1). */
static void resp_revisions(void **state)
{
    (void)state;
    struct iwk_mpa_responder m = rsp(1, 0, 0, 0);
    struct iwk_mpa_responder_actions a;
    struct iwk_mpa_responder_input in = request2(0, 0, 0, 0, 1, 1);
    rstep(&m, IWK_MPA_RESPONDER_EV_RX_REQUEST, &in, &a);
    assert_int_equal(m.state, IWK_MPA_RESPONDER_CLOSED);
    assert_int_equal(a.close, 1);
    assert_int_equal(a.report, IWK_MPA_REPORT_REVISION);
    struct iwk_mpa_responder m2 = rsp(2, 1, 0, 0);
    struct iwk_mpa_responder_input in1 = {0};
    in1.valid = 1; in1.p_rev = 1;
    rstep(&m2, IWK_MPA_RESPONDER_EV_RX_REQUEST, &in1, &a);
    assert_int_equal(m2.state, IWK_MPA_RESPONDER_WAIT_ULP);
    assert_int_equal(m2.rep_rev, 1);
    assert_int_equal(m2.enhanced, 0);
}

/* RFC 5044 §7.1.2 rule 2: improperly formatted Request -> close TCP; ULP rejects -> Reply R=1,
 * TCP open; §7.1.2 rule 8/10: timeout waiting for the Request -> close. */
static void resp_invalid_reject_timeout(void **state)
{
    (void)state;
    struct iwk_mpa_responder m = rsp(2, 1, 0, 0);
    struct iwk_mpa_responder_actions a;
    struct iwk_mpa_responder_input bad = {0};
    rstep(&m, IWK_MPA_RESPONDER_EV_RX_REQUEST, &bad, &a);
    assert_int_equal(m.state, IWK_MPA_RESPONDER_CLOSED);
    assert_int_equal(a.close, 1);
    struct iwk_mpa_responder m2 = rsp(2, 1, 0, 0);
    struct iwk_mpa_responder_input in = request2(0, 0, 0, 0, 1, 1);
    rstep(&m2, IWK_MPA_RESPONDER_EV_RX_REQUEST, &in, &a);
    rstep(&m2, IWK_MPA_RESPONDER_EV_ULP_REJECT, NULL, &a);
    assert_int_equal(m2.state, IWK_MPA_RESPONDER_REJECTED);
    assert_int_equal(a.send_reply, 1);
    assert_int_equal(a.reply_r, 1);
    assert_int_equal(a.close, 0);
    struct iwk_mpa_responder m3 = rsp(2, 1, 0, 0);
    rstep(&m3, IWK_MPA_RESPONDER_EV_TIMEOUT, NULL, &a);
    assert_int_equal(m3.state, IWK_MPA_RESPONDER_CLOSED);
    assert_int_equal(a.close, 1);
}

/* RFC 5044 §7.1.2 rules 2 and 4: an FPDU while the ULP still examines the Request (before FPDU
 * mode) is an error: close. */
static void resp_fpdu_before_fpdu_mode(void **state)
{
    (void)state;
    struct iwk_mpa_responder m = rsp(2, 1, 0, 0);
    struct iwk_mpa_responder_actions a;
    struct iwk_mpa_responder_input in = request2(0, 0, 0, 0, 1, 1);
    rstep(&m, IWK_MPA_RESPONDER_EV_RX_REQUEST, &in, &a);
    assert_int_equal(m.rx_fpdu, 0);
    rstep(&m, IWK_MPA_RESPONDER_EV_RX_FPDU, NULL, &a);
    assert_int_equal(m.state, IWK_MPA_RESPONDER_CLOSED);
    assert_int_equal(a.close, 1);
    assert_int_equal(a.report, IWK_MPA_REPORT_EARLY_FPDU);
}

/* ---- MPA Initiator ------------------------------------------------------------------------ */

/* RFC 5044 §7.1.2 rule 3: R=1 -> exit MPA, leave the TCP connection open. */
static void ini_reply_rejected(void **state)
{
    (void)state;
    struct iwk_mpa_initiator m = ini(2, 0, 0, 0, 0);
    struct iwk_mpa_initiator_actions a;
    start(&m);
    struct iwk_mpa_initiator_input in = reply2(0, 0, 0, 0, 1, 1);
    in.p_r = 1;
    istep(&m, IWK_MPA_INITIATOR_EV_RX_REPLY, &in, &a);
    assert_int_equal(m.state, IWK_MPA_INITIATOR_REJECTED);
    assert_int_equal(a.close, 0);
    assert_int_equal(a.report, IWK_MPA_REPORT_REJECTED);
    assert_int_equal(m.peer_ird, 1);                   /* RFC 6581 §9.1: IRD/ORD to the ULP */
}

/* RFC 5044 §7.1.1 Key / §7.1.2 rule 3: improperly formatted Reply -> close. */
static void ini_reply_invalid(void **state)
{
    (void)state;
    struct iwk_mpa_initiator m = ini(2, 0, 0, 0, 0);
    struct iwk_mpa_initiator_actions a;
    start(&m);
    struct iwk_mpa_initiator_input in = {0};
    istep(&m, IWK_MPA_INITIATOR_EV_RX_REPLY, &in, &a);
    assert_int_equal(m.state, IWK_MPA_INITIATOR_CLOSED);
    assert_int_equal(a.close, 1);
    assert_int_equal(a.report, IWK_MPA_REPORT_INVALID);
}

/* RFC 5044 §7.1.2 rule 10: timeout waiting for the Reply -> close. */
static void ini_timeout(void **state)
{
    (void)state;
    struct iwk_mpa_initiator m = ini(1, 0, 0, 0, 0);
    struct iwk_mpa_initiator_actions a;
    start(&m);
    istep(&m, IWK_MPA_INITIATOR_EV_TIMEOUT, NULL, &a);
    assert_int_equal(m.state, IWK_MPA_INITIATOR_CLOSED);
    assert_int_equal(a.close, 1);
    assert_int_equal(a.report, IWK_MPA_REPORT_TIMEOUT);
}

/* RFC 5044 §7.1.1 C and M: CRC if either C=1; the Reply's M says whether we send Markers. */
static void ini_crc_markers(void **state)
{
    (void)state;
    struct iwk_mpa_initiator m = ini(1, 0, 0, 0, 0);
    struct iwk_mpa_initiator_actions a;
    m.want_c = 0; m.want_m = 1;
    start(&m);
    struct iwk_mpa_initiator_input in = {0};
    in.valid = 1; in.p_rev = 1; in.p_c = 1; in.p_m = 0;
    istep(&m, IWK_MPA_INITIATOR_EV_RX_REPLY, &in, &a);
    assert_int_equal(m.state, IWK_MPA_INITIATOR_RTS);
    assert_int_equal(m.crc, 1);
    assert_int_equal(m.tx_markers, 0);
    assert_int_equal(m.rx_markers, 1);
    assert_int_equal(m.tx_fpdu, 1);
    assert_int_equal(a.send_fpdu, 0);                 /* client-server: no RTR */
}

/* RFC 6581 §9.1: "the initiator MUST set ... its ORD at most to the responder IRD"; an IRD of
 * 0x3FFF in the Reply leaves the local ORD unchanged. */
static void ini_ord_lowered(void **state)
{
    (void)state;
    struct iwk_mpa_initiator m = ini(2, 0, 0, 0, 0);
    struct iwk_mpa_initiator_actions a;
    m.ord = 8; m.ird = 4;
    start(&m);
    struct iwk_mpa_initiator_input in = reply2(0, 0, 0, 0, 2, 4);
    istep(&m, IWK_MPA_INITIATOR_EV_RX_REPLY, &in, &a);
    assert_int_equal(m.neg_ord, 2);
    assert_int_equal(m.neg_ird, 4);
    struct iwk_mpa_initiator m2 = ini(2, 0, 0, 0, 0);
    m2.ord = 8;
    start(&m2);
    in = reply2(0, 0, 0, 0, IWK_MPA_IRD_ORD_AUTO, 1);
    istep(&m2, IWK_MPA_INITIATOR_EV_RX_REPLY, &in, &a);
    assert_int_equal(m2.neg_ord, 8);
}

/* RFC 6581 §9.1: responder ORD above what our IRD can take -> TERM 2/0/6, terminate. */
static void ini_insufficient_ird(void **state)
{
    (void)state;
    struct iwk_mpa_initiator m = ini(2, 0, 0, 0, 0);
    struct iwk_mpa_initiator_actions a;
    m.ird = 1;
    start(&m);
    struct iwk_mpa_initiator_input in = reply2(0, 0, 0, 0, 1, 4);
    istep(&m, IWK_MPA_INITIATOR_EV_RX_REPLY, &in, &a);
    assert_int_equal(m.state, IWK_MPA_INITIATOR_CLOSED);
    assert_int_equal(a.send_term, 1);
    assert_int_equal(a.term_code, 0x2006);
}

/* RFC 6581 §9.2/§9.3: the initiator generates one of the negotiated RTRs first; with none in
 * common it sends TERM 2/0/7 and terminates. */
static void ini_p2p_rtr(void **state)
{
    (void)state;
    struct iwk_mpa_initiator m = ini(2, 1, 0, 1, 1);
    struct iwk_mpa_initiator_actions a;
    start(&m);
    struct iwk_mpa_initiator_input in = reply2(1, 0, 0, 1, 1, 1);
    istep(&m, IWK_MPA_INITIATOR_EV_RX_REPLY, &in, &a);
    assert_int_equal(m.state, IWK_MPA_INITIATOR_RTS);
    assert_int_equal(a.send_fpdu, 1);
    assert_int_equal(a.fpdu_kind, IWK_FPDU_RTR_SEND);
    assert_int_equal(m.rtr, IWK_FPDU_RTR_SEND);
    struct iwk_mpa_initiator m2 = ini(2, 1, 1, 0, 0);
    start(&m2);
    in = reply2(1, 0, 0, 1, 1, 1);
    istep(&m2, IWK_MPA_INITIATOR_EV_RX_REPLY, &in, &a);
    assert_int_equal(m2.state, IWK_MPA_INITIATOR_CLOSED);
    assert_int_equal(a.send_term, 1);
    assert_int_equal(a.term_code, 0x2007);
    assert_int_equal(a.close, 1);
    /* A=1 asked, A=0 answered: the Responder broke "MUST set Control Flag A to 1" */
    struct iwk_mpa_initiator m3 = ini(2, 1, 1, 0, 0);
    start(&m3);
    in = reply2(0, 1, 0, 0, 1, 1);
    istep(&m3, IWK_MPA_INITIATOR_EV_RX_REPLY, &in, &a);
    assert_int_equal(a.term_code, 0x2007);
}

/* RFC 5044 §7.1.2 rules 3/4: an FPDU before the Reply -> close (no FPDU before FPDU mode). */
static void ini_fpdu_before_reply(void **state)
{
    (void)state;
    struct iwk_mpa_initiator m = ini(2, 0, 0, 0, 0);
    struct iwk_mpa_initiator_actions a;
    start(&m);
    assert_int_equal(m.rx_fpdu, 0);
    istep(&m, IWK_MPA_INITIATOR_EV_RX_FPDU, NULL, &a);
    assert_int_equal(m.state, IWK_MPA_INITIATOR_CLOSED);
    assert_int_equal(a.close, 1);
}

/* Only specified transitions: an event with no transition changes nothing and returns 0. */
static void unspecified_event_ignored(void **state)
{
    (void)state;
    struct iwk_mpa_initiator m = ini(2, 0, 0, 0, 0);
    struct iwk_mpa_initiator before = m;
    struct iwk_mpa_initiator_actions a;
    memset(&a, 0xff, sizeof a);
    assert_int_equal(istep(&m, IWK_MPA_INITIATOR_EV_RX_REPLY, NULL, &a), 0);
    assert_memory_equal(&m, &before, sizeof m);
    assert_int_equal(a.send_request + a.close + a.send_term + a.send_fpdu, 0);
    assert_string_equal(iwk_mpa_initiator_state_name(m.state), "IDLE");
    assert_string_equal(iwk_mpa_initiator_transition_ref(1), "RFC 5044 §7.1.2 rule 1");
}

/* ---- RDMAP stream / queue pair ------------------------------------------------------------ */

static struct iwk_rdmap_qp qp(unsigned ord, unsigned ird)
{
    struct iwk_rdmap_qp m;
    struct iwk_rdmap_qp_input in = {0};
    struct iwk_rdmap_qp_actions a;
    iwk_rdmap_qp_init(&m);
    m.sq_depth = 4; m.ord = (uint16_t)ord; m.ird = (uint16_t)ird;
    assert_int_not_equal(iwk_rdmap_qp_step(&m, IWK_RDMAP_QP_EV_CONNECT, &in, &a), 0);
    assert_int_equal(m.state, IWK_RDMAP_QP_RTS);
    return m;
}

static int qstep(struct iwk_rdmap_qp *m, enum iwk_rdmap_qp_event ev, struct iwk_rdmap_qp_actions *a)
{
    struct iwk_rdmap_qp_input in = {0};
    return iwk_rdmap_qp_step(m, ev, &in, a);
}

/* RFC 5040 §5.4 and §6.2.1: a Terminate received in RTS: outstanding work completes in error,
 * nothing is placed afterwards (one Terminate per stream). */
static void qp_terminate_received(void **state)
{
    (void)state;
    struct iwk_rdmap_qp m = qp(2, 2);
    struct iwk_rdmap_qp_actions a;
    qstep(&m, IWK_RDMAP_QP_EV_POST_SEND, &a);
    assert_int_equal(a.send_msg, 1);
    qstep(&m, IWK_RDMAP_QP_EV_POST_READ, &a);
    assert_int_equal(a.send_read_req, 1);
    qstep(&m, IWK_RDMAP_QP_EV_RX_TERM, &a);
    assert_int_equal(m.state, IWK_RDMAP_QP_TERMINATE);
    assert_int_equal(a.complete_err, 2);
    assert_int_equal(m.sq_out, 0);
    assert_int_equal(a.send_term, 0);                  /* no Terminate in reply to a Terminate */
    qstep(&m, IWK_RDMAP_QP_EV_RX_MSG, &a);
    assert_int_equal(a.place, 0);
    assert_int_equal(a.drop, 1);
    qstep(&m, IWK_RDMAP_QP_EV_LLP_CLOSED, &a);
    assert_int_equal(m.state, IWK_RDMAP_QP_ERROR);
}

/* RFC 5040 §7.1 item 1: a local error: Terminate instead of the request, flush. */
static void qp_local_error(void **state)
{
    (void)state;
    struct iwk_rdmap_qp m = qp(1, 1);
    struct iwk_rdmap_qp_actions a;
    qstep(&m, IWK_RDMAP_QP_EV_POST_SEND, &a);
    qstep(&m, IWK_RDMAP_QP_EV_LOCAL_ERROR, &a);
    assert_int_equal(m.state, IWK_RDMAP_QP_TERMINATE);
    assert_int_equal(a.send_term, 1);
    assert_int_equal(a.term_code, 0x0000);
    assert_int_equal(a.complete_err, 1);
    /* RFC 5040 §5.4: after sending a Terminate, no more messages */
    assert_int_equal(qstep(&m, IWK_RDMAP_QP_EV_POST_SEND, &a), 0);
    assert_int_equal(a.send_msg, 0);
}

/* RFC 5040 §6.2: graceful close: FIN, then the peer's FIN with nothing outstanding -> Idle;
 * with work outstanding -> flushed, Error. */
static void qp_graceful_close(void **state)
{
    (void)state;
    struct iwk_rdmap_qp m = qp(1, 1);
    struct iwk_rdmap_qp_actions a;
    qstep(&m, IWK_RDMAP_QP_EV_CLOSE, &a);
    assert_int_equal(m.state, IWK_RDMAP_QP_CLOSING);
    assert_int_equal(a.llp_close, 1);
    qstep(&m, IWK_RDMAP_QP_EV_LLP_CLOSED, &a);
    assert_int_equal(m.state, IWK_RDMAP_QP_IDLE);
    assert_int_equal(a.complete_err, 0);
    /* a queue pair is not reconnected */
    assert_int_equal(qstep(&m, IWK_RDMAP_QP_EV_CONNECT, &a), 0);
    struct iwk_rdmap_qp m2 = qp(1, 1);
    qstep(&m2, IWK_RDMAP_QP_EV_POST_SEND, &a);
    qstep(&m2, IWK_RDMAP_QP_EV_CLOSE, &a);
    qstep(&m2, IWK_RDMAP_QP_EV_LLP_CLOSED, &a);
    assert_int_equal(m2.state, IWK_RDMAP_QP_ERROR);
    assert_int_equal(a.complete_err, 1);
}

/* RFC 5040 §6.1: "the RDMAP layer MUST NOT exceed the maximum number of outstanding, outbound
 * RDMA Read Requests": with ORD 1 the second Read is refused at post time (our choice), and a
 * Read Response frees the credit. */
static void qp_ord_exhausted(void **state)
{
    (void)state;
    struct iwk_rdmap_qp m = qp(1, 1);
    struct iwk_rdmap_qp_actions a;
    qstep(&m, IWK_RDMAP_QP_EV_POST_READ, &a);
    assert_int_equal(a.send_read_req, 1);
    qstep(&m, IWK_RDMAP_QP_EV_POST_READ, &a);
    assert_int_equal(a.send_read_req, 0);
    assert_int_equal(a.post_rejected, 1);
    assert_int_equal(m.rd_out, 1);
    qstep(&m, IWK_RDMAP_QP_EV_RX_READ_RESP, &a);
    assert_int_equal(a.complete_ok, 1);
    assert_int_equal(a.place, 1);
    assert_int_equal(m.rd_out, 0);
    qstep(&m, IWK_RDMAP_QP_EV_POST_READ, &a);
    assert_int_equal(a.send_read_req, 1);
}

/* RFC 5040 §6.1 (inbound limit) and RFC 5041 §7.2: a Read Request beyond our IRD -> Terminate. */
static void qp_ird_exceeded(void **state)
{
    (void)state;
    struct iwk_rdmap_qp m = qp(1, 1);
    struct iwk_rdmap_qp_actions a;
    qstep(&m, IWK_RDMAP_QP_EV_RX_READ_REQ, &a);
    assert_int_equal(m.state, IWK_RDMAP_QP_RTS);
    qstep(&m, IWK_RDMAP_QP_EV_RX_READ_REQ, &a);
    assert_int_equal(m.state, IWK_RDMAP_QP_TERMINATE);
    assert_int_equal(a.send_term, 1);
    assert_int_equal(a.term_code, 0x1202);
}

/* RFC 5040 §7.1 item 2: a Read Response nobody asked for is an error. */
static void qp_unexpected_read_response(void **state)
{
    (void)state;
    struct iwk_rdmap_qp m = qp(1, 1);
    struct iwk_rdmap_qp_actions a;
    qstep(&m, IWK_RDMAP_QP_EV_RX_READ_RESP, &a);
    assert_int_equal(m.state, IWK_RDMAP_QP_TERMINATE);
    assert_int_equal(a.term_code, 0x0206);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(resp_p2p_write_rtr),
        cmocka_unit_test(resp_offers_own_when_no_common),
        cmocka_unit_test(resp_markers_and_crc),
        cmocka_unit_test(resp_rejects_markers_it_cannot_send),
        cmocka_unit_test(resp_ird_ord),
        cmocka_unit_test(resp_raises_ird_for_read_rtr),
        cmocka_unit_test(resp_rtr_mismatch_terminates),
        cmocka_unit_test(resp_zero_length_read_rtr_stag0),
        cmocka_unit_test(resp_client_server_first_fpdu),
        cmocka_unit_test(resp_revisions),
        cmocka_unit_test(resp_invalid_reject_timeout),
        cmocka_unit_test(resp_fpdu_before_fpdu_mode),
        cmocka_unit_test(ini_reply_rejected),
        cmocka_unit_test(ini_reply_invalid),
        cmocka_unit_test(ini_timeout),
        cmocka_unit_test(ini_crc_markers),
        cmocka_unit_test(ini_ord_lowered),
        cmocka_unit_test(ini_insufficient_ird),
        cmocka_unit_test(ini_p2p_rtr),
        cmocka_unit_test(ini_fpdu_before_reply),
        cmocka_unit_test(unspecified_event_ignored),
        cmocka_unit_test(qp_terminate_received),
        cmocka_unit_test(qp_local_error),
        cmocka_unit_test(qp_graceful_close),
        cmocka_unit_test(qp_ord_exhausted),
        cmocka_unit_test(qp_ird_exceeded),
        cmocka_unit_test(qp_unexpected_read_response),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
