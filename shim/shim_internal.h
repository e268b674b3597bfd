/* shim_internal.h - what librdmacm.so.1 (rdmacm.c) needs from the iwkit libibverbs.so.1 (ibverbs.c):
 * the iwkit objects behind the verbs ones. Exported from libibverbs.so.1 in the IWKIT_SHIM_PRIVATE
 * version node only. */
#ifndef IWKIT_SHIM_INTERNAL_H
#define IWKIT_SHIM_INTERNAL_H

#include <infiniband/verbs.h>

#include "iwkit/verbs.h"

struct iwk_context *iwkit_shim_context(struct ibv_context *ctx);
struct iwk_qp *iwkit_shim_qp(struct ibv_qp *qp);
/* A connection thread's hold on a QP: NULL once ibv_destroy_qp has begun, which waits (and
 * destroys nothing) until every holder released it; a holder checks iwkit_shim_qp_dying() at
 * least every 100 ms. */
struct iwk_qp *iwkit_shim_qp_hold(struct ibv_qp *qp);
void iwkit_shim_qp_release(struct ibv_qp *qp);
int iwkit_shim_qp_dying(struct ibv_qp *qp);
/* Records the QP state rdma_cm reached (RTS on ESTABLISHED, ERR after DISCONNECTED). */
void iwkit_shim_qp_set_state(struct ibv_qp *qp, enum ibv_qp_state state);

#endif
