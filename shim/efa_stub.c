/* libefa.so.1 for iwkit-run: every symbol Debian 12's rdma-core 44 libefa.so.1 exports, none of which
 * iwkit can do (they drive one vendor's hardware). perftest links this library and calls it only
 * for a device of that vendor, never for the iwkit device; a call still fails cleanly: constructors
 * return NULL, the rest EOPNOTSUPP, each with errno EOPNOTSUPP. */
#include "provider_stub.h"

IWKIT_STUB_PTR(efadv_cq_from_ibv_cq_ex)
IWKIT_STUB_PTR(efadv_create_cq)
IWKIT_STUB_PTR(efadv_create_driver_qp)
IWKIT_STUB_PTR(efadv_create_qp_ex)
IWKIT_STUB_INT(efadv_query_ah)
IWKIT_STUB_INT(efadv_query_device)
