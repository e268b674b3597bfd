/* libibverbs.so.1 over iwkit: the verbs of Debian 12's rdma-core 44 (default symbol versions) on
 * iwkit's public API (include/iwkit/verbs.h). One device, "iwk0" (IWKIT_DEVICE renames it), an
 * iWARP RNIC with one Ethernet port; nothing here touches sysfs, /dev/infiniband or netlink.
 * The data-path verbs the applications inline (ibv_post_send, ibv_post_recv, ibv_poll_cq,
 * ibv_req_notify_cq, ibv_post_srq_recv) jump through struct ibv_context's ops table; the
 * extended ones (verbs_context) fall back to the exported legacy functions because abi_compat
 * is not __VERBS_ABI_IS_EXTENDED. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <infiniband/verbs.h>

#include "iwkit/verbs.h"
#include "shim_internal.h"

/* The applications' inline functions read these fields at these offsets: rdma-core 44's layout. */
_Static_assert(offsetof(struct ibv_context, ops) == 8, "ibv_context.ops");
_Static_assert(offsetof(struct ibv_context_ops, poll_cq) == 11 * sizeof(void *), "ops.poll_cq");
_Static_assert(offsetof(struct ibv_context_ops, req_notify_cq) == 12 * sizeof(void *), "ops.req_notify_cq");
_Static_assert(offsetof(struct ibv_context_ops, post_srq_recv) == 20 * sizeof(void *), "ops.post_srq_recv");
_Static_assert(offsetof(struct ibv_context_ops, post_send) == 25 * sizeof(void *), "ops.post_send");
_Static_assert(offsetof(struct ibv_context_ops, post_recv) == 26 * sizeof(void *), "ops.post_recv");
_Static_assert(sizeof(struct ibv_context_ops) == 32 * sizeof(void *), "ibv_context_ops size");
_Static_assert(offsetof(struct ibv_context, abi_compat) == 8 + 32 * sizeof(void *) + 12 + 4 + sizeof(pthread_mutex_t),
               "ibv_context.abi_compat");
_Static_assert(offsetof(struct verbs_context, context) + sizeof(struct ibv_context) == sizeof(struct verbs_context),
               "verbs_context ends with ibv_context");
_Static_assert(offsetof(struct ibv_cq, context) == 0 && offsetof(struct ibv_qp, context) == 0 &&
                   offsetof(struct ibv_srq, context) == 0,
               "inline verbs find the context at offset 0");
_Static_assert(offsetof(struct ibv_wc, qp_num) == 28 && sizeof(struct ibv_wc) == 48, "ibv_wc");
_Static_assert(offsetof(struct ibv_send_wr, wr) == 40 && sizeof(struct ibv_sge) == 16, "ibv_send_wr");
_Static_assert(offsetof(struct ibv_device, name) == 24 && sizeof(struct ibv_device) == 24 + 2 * 64 + 2 * 256,
               "ibv_device");
_Static_assert(sizeof(struct ibv_sge) == sizeof(struct iwk_sge) &&
                   offsetof(struct ibv_sge, lkey) == offsetof(struct iwk_sge, lkey),
               "ibv_sge and iwk_sge");

#define SHIM_MAX_SEND_WR 255u    /* iwk_qp_attr.max_send_wr */
#define SHIM_MAX_RECV_WR 65536u  /* iwk_qp_attr.max_recv_wr */
#define SHIM_MAX_SGE 32u
#define SHIM_MAX_INLINE 512u     /* inline data is copied into a registered bounce slot */
#define SHIM_MAX_CQE (1 << 20)
#define SHIM_MAX_RD_ATOM 255     /* rdma_cm's responder_resources / initiator_depth are octets */

struct shim_context {
    struct ibv_context ibv;
    struct iwk_context *iwk;
};
struct shim_pd {
    struct ibv_pd ibv;
    struct iwk_pd *iwk;
};
struct shim_mr {
    struct ibv_mr ibv;
    struct iwk_mr *iwk;
};
struct shim_cq {
    struct ibv_cq ibv;
    struct iwk_cq *iwk;
};
struct shim_qp {
    struct ibv_qp ibv;
    struct iwk_qp *iwk;
    struct ibv_qp_cap cap;
    int sq_sig_all;
    pthread_mutex_t inline_lock;
    uint8_t *inline_buf;         /* (max_send_wr + 1) slots of cap.max_inline_data octets */
    struct iwk_mr *inline_mr;
    uint32_t inline_next;
    /* librdmacm's connection thread holds the QP while it connects and watches for the end;
     * ibv_destroy_qp marks it dying and waits for the holders to let go. */
    pthread_mutex_t hold_lock;
    pthread_cond_t hold_cond;
    uint32_t holders;
    int dying;
};

/* ---- QP numbers: a work completion names its iwk_qp; ibv_wc wants the qp_num ------------------ */

static pthread_mutex_t qpn_lock = PTHREAD_MUTEX_INITIALIZER;
static uint32_t qpn_next = 1;
static struct shim_qp **qpn_table;
static size_t qpn_cap;

static uint32_t qpn_add(struct shim_qp *qp)
{
    pthread_mutex_lock(&qpn_lock);
    size_t i = 0;
    while (i < qpn_cap && qpn_table[i] != NULL)
        i++;
    if (i == qpn_cap) {
        size_t ncap = qpn_cap ? qpn_cap * 2 : 64;
        struct shim_qp **t = realloc(qpn_table, ncap * sizeof *t);
        if (t == NULL) {
            pthread_mutex_unlock(&qpn_lock);
            return 0;
        }
        memset(t + qpn_cap, 0, (ncap - qpn_cap) * sizeof *t);
        qpn_table = t;
        qpn_cap = ncap;
    }
    qpn_table[i] = qp;
    uint32_t n = qpn_next++;
    pthread_mutex_unlock(&qpn_lock);
    return n;
}

static void qpn_remove(const struct shim_qp *qp)
{
    pthread_mutex_lock(&qpn_lock);
    for (size_t i = 0; i < qpn_cap; i++)
        if (qpn_table[i] == qp)
            qpn_table[i] = NULL;
    pthread_mutex_unlock(&qpn_lock);
}

static uint32_t qpn_of(const struct iwk_qp *iwk)
{
    uint32_t n = 0;
    pthread_mutex_lock(&qpn_lock);
    for (size_t i = 0; i < qpn_cap && n == 0; i++)
        if (qpn_table[i] != NULL && qpn_table[i]->iwk == iwk)
            n = qpn_table[i]->ibv.qp_num;
    pthread_mutex_unlock(&qpn_lock);
    return n;
}

/* ---- devices ---------------------------------------------------------------------------------- */

static struct ibv_device shim_device;
static pthread_once_t shim_device_once = PTHREAD_ONCE_INIT;

static void shim_device_init(void)
{
    const char *name = getenv("IWKIT_DEVICE");
    if (name == NULL || name[0] == '\0' || strlen(name) >= sizeof shim_device.name)
        name = "iwk0";
    shim_device.node_type = IBV_NODE_RNIC;
    shim_device.transport_type = IBV_TRANSPORT_IWARP;
    snprintf(shim_device.name, sizeof shim_device.name, "%s", name);
    snprintf(shim_device.dev_name, sizeof shim_device.dev_name, "%s", name);
    /* no sysfs device: the paths stay empty */
}

struct ibv_device **ibv_get_device_list(int *num_devices)
{
    pthread_once(&shim_device_once, shim_device_init);
    struct ibv_device **list = calloc(2, sizeof *list);
    if (list == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    list[0] = &shim_device;
    if (num_devices != NULL)
        *num_devices = 1;
    return list;
}

void ibv_free_device_list(struct ibv_device **list)
{
    free(list);
}

const char *ibv_get_device_name(struct ibv_device *device)
{
    return device->name;
}

int ibv_get_device_index(struct ibv_device *device)
{
    (void)device;
    return 0;
}

/* A stable locally administered EUI-64 (no hardware behind it): 02:69:77:6b ("iwk") + 0. */
__be64 ibv_get_device_guid(struct ibv_device *device)
{
    (void)device;
    return htobe64(0x0269776bfe000000ull);
}

/* ---- contexts --------------------------------------------------------------------------------- */

static int shim_post_send(struct ibv_qp *qp, struct ibv_send_wr *wr, struct ibv_send_wr **bad);
static int shim_post_recv(struct ibv_qp *qp, struct ibv_recv_wr *wr, struct ibv_recv_wr **bad);
static int shim_post_srq_recv(struct ibv_srq *srq, struct ibv_recv_wr *wr, struct ibv_recv_wr **bad);
static int shim_poll_cq(struct ibv_cq *cq, int n, struct ibv_wc *wc);
static int shim_req_notify_cq(struct ibv_cq *cq, int solicited_only);

/* Every ibv_context of the process shares one iwkit context (one progress thread, one IWKIT_PCAP
 * recording): an application's own ibv_open_device and librdmacm's meet on the same connections. */
static pthread_mutex_t iwk_shared_lock = PTHREAD_MUTEX_INITIALIZER;
static struct iwk_context *iwk_shared;
static uint32_t iwk_shared_users;

static int shared_context_get(struct iwk_context **out)
{
    int rc = 0;
    pthread_mutex_lock(&iwk_shared_lock);
    if (iwk_shared_users == 0) {
        struct iwk_context_attr attr = {.pcap_path = getenv("IWKIT_PCAP"), .flags = 0};
        rc = iwk_context_open(&attr, &iwk_shared);
    }
    if (rc == 0) {
        iwk_shared_users++;
        *out = iwk_shared;
    }
    pthread_mutex_unlock(&iwk_shared_lock);
    return rc;
}

static void shared_context_put(void)
{
    pthread_mutex_lock(&iwk_shared_lock);
    if (--iwk_shared_users == 0) {
        iwk_context_close(iwk_shared);
        iwk_shared = NULL;
    }
    pthread_mutex_unlock(&iwk_shared_lock);
}

struct ibv_context *ibv_open_device(struct ibv_device *device)
{
    if (device != &shim_device) {
        errno = ENODEV;
        return NULL;
    }
    struct shim_context *c = calloc(1, sizeof *c);
    if (c == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    int rc = shared_context_get(&c->iwk);
    if (rc < 0) {
        free(c);
        errno = -rc;
        return NULL;
    }
    c->ibv.device = device;
    c->ibv.ops.poll_cq = shim_poll_cq;
    c->ibv.ops.req_notify_cq = shim_req_notify_cq;
    c->ibv.ops.post_send = shim_post_send;
    c->ibv.ops.post_recv = shim_post_recv;
    c->ibv.ops.post_srq_recv = shim_post_srq_recv;
    c->ibv.cmd_fd = -1;
    c->ibv.async_fd = eventfd(0, EFD_CLOEXEC); /* iwkit raises no affiliated async events yet */
    c->ibv.num_comp_vectors = 1;
    pthread_mutex_init(&c->ibv.mutex, NULL);
    c->ibv.abi_compat = NULL;
    return &c->ibv;
}

int ibv_close_device(struct ibv_context *context)
{
    struct shim_context *c = (struct shim_context *)context;
    shared_context_put();
    if (c->ibv.async_fd >= 0)
        close(c->ibv.async_fd);
    pthread_mutex_destroy(&c->ibv.mutex);
    free(c);
    return 0;
}

struct ibv_context *ibv_import_device(int cmd_fd)
{
    (void)cmd_fd;
    errno = EOPNOTSUPP;
    return NULL;
}

struct iwk_context *iwkit_shim_context(struct ibv_context *ctx)
{
    return ((struct shim_context *)ctx)->iwk;
}

int ibv_query_device(struct ibv_context *context, struct ibv_device_attr *a)
{
    (void)context;
    memset(a, 0, sizeof *a);
    snprintf(a->fw_ver, sizeof a->fw_ver, "iwkit %s", "0.1.0");
    a->node_guid = ibv_get_device_guid(&shim_device);
    a->sys_image_guid = a->node_guid;
    a->max_mr_size = UINT64_MAX;
    a->page_size_cap = 4096;
    a->vendor_id = 0;        /* no vendor: perftest stays on the plain verbs path */
    a->vendor_part_id = 0;
    a->max_qp = 1 << 16;
    a->max_qp_wr = (int)SHIM_MAX_SEND_WR;
    a->device_cap_flags = 0; /* none of the IB capability bits describes iwkit */
    a->max_sge = (int)SHIM_MAX_SGE;
    a->max_sge_rd = (int)SHIM_MAX_SGE;
    a->max_cq = 1 << 16;
    a->max_cqe = SHIM_MAX_CQE;
    a->max_mr = 1 << 24;     /* 24-bit STag index */
    a->max_pd = 1 << 16;
    a->max_qp_rd_atom = SHIM_MAX_RD_ATOM;
    a->max_qp_init_rd_atom = SHIM_MAX_RD_ATOM;
    a->max_res_rd_atom = SHIM_MAX_RD_ATOM;
    a->atomic_cap = IBV_ATOMIC_HCA; /* RFC 7306 FetchAdd and CmpSwap, atomic at the responder */
    a->max_pkeys = 1;
    a->phys_port_cnt = 1;
    return 0;
}

#undef ibv_query_port
int ibv_query_port(struct ibv_context *context, uint8_t port_num, struct _compat_ibv_port_attr *out)
{
    (void)context;
    if (port_num != 1)
        return EINVAL;
    struct ibv_port_attr a;
    memset(&a, 0, sizeof a);
    a.state = IBV_PORT_ACTIVE;
    a.max_mtu = IBV_MTU_4096;
    a.active_mtu = IBV_MTU_1024;
    a.gid_tbl_len = 1;
    a.max_msg_sz = 0x7fffffff;
    a.pkey_tbl_len = 1;
    a.active_width = 1;  /* 1X */
    a.active_speed = 32; /* EDR: iwkit measured about 40 Gbit/s on loopback */
    a.phys_state = 5;    /* LinkUp */
    a.link_layer = IBV_LINK_LAYER_ETHERNET;
    /* The legacy entry point fills the fields up to link_layer (older callers have no more). */
    memcpy(out, &a, offsetof(struct ibv_port_attr, link_layer) + 1);
    return 0;
}

static void shim_gid(union ibv_gid *gid)
{
    /* The port's GID from its EUI-64, as an iWARP RNIC derives it from its MAC address. */
    memset(gid, 0, sizeof *gid);
    uint64_t guid = be64toh(ibv_get_device_guid(&shim_device));
    for (int i = 0; i < 8; i++)
        gid->raw[i] = (uint8_t)(guid >> (56 - 8 * i));
}

int ibv_query_gid(struct ibv_context *context, uint8_t port_num, int index, union ibv_gid *gid)
{
    (void)context;
    if (port_num != 1 || index != 0)
        return -1;
    shim_gid(gid);
    return 0;
}

int _ibv_query_gid_ex(struct ibv_context *context, uint32_t port_num, uint32_t gid_index,
                      struct ibv_gid_entry *entry, uint32_t flags, size_t entry_size)
{
    (void)context;
    if (flags != 0 || entry_size < sizeof *entry)
        return EINVAL;
    if (port_num != 1 || gid_index != 0)
        return ENODATA;
    memset(entry, 0, sizeof *entry);
    shim_gid(&entry->gid);
    entry->port_num = 1;
    entry->gid_type = IBV_GID_TYPE_IB;
    return 0;
}

ssize_t _ibv_query_gid_table(struct ibv_context *context, struct ibv_gid_entry *entries, size_t max_entries,
                             uint32_t flags, size_t entry_size)
{
    if (max_entries < 1)
        return -EINVAL;
    int rc = _ibv_query_gid_ex(context, 1, 0, entries, flags, entry_size);
    return rc ? -rc : 1;
}

/* IBVERBS_PRIVATE_34: ibv_devinfo asks each GID's type (enum ibv_gid_type_sysfs: 0 = IB). */
int ibv_query_gid_type(struct ibv_context *context, uint8_t port_num, unsigned int index, int *type);
int ibv_query_gid_type(struct ibv_context *context, uint8_t port_num, unsigned int index, int *type)
{
    (void)context;
    if (port_num != 1 || index != 0)
        return -1;
    *type = 0;
    return 0;
}

int ibv_query_pkey(struct ibv_context *context, uint8_t port_num, int index, __be16 *pkey)
{
    (void)context;
    if (port_num != 1 || index != 0)
        return -1;
    *pkey = htobe16(0xffff);
    return 0;
}

int ibv_get_pkey_index(struct ibv_context *context, uint8_t port_num, __be16 pkey)
{
    (void)context;
    return port_num == 1 && pkey == htobe16(0xffff) ? 0 : -1;
}

/* No sysfs behind this device: every read fails, as for a file that does not exist. */
int ibv_read_sysfs_file(const char *dir, const char *file, char *buf, size_t size)
{
    (void)dir, (void)file, (void)buf, (void)size;
    errno = ENOENT;
    return -1;
}

int ibv_get_sysfs_path(char *buf, size_t size)
{
    (void)buf, (void)size;
    return -1;
}

int ibv_read_ibdev_sysfs_file(char *buf, size_t size, struct ibv_device *dev, const char *fnfmt, ...);
int ibv_read_ibdev_sysfs_file(char *buf, size_t size, struct ibv_device *dev, const char *fnfmt, ...)
{
    (void)buf, (void)size, (void)dev, (void)fnfmt;
    errno = ENOENT;
    return -1;
}

/* ---- async events: iwkit reports connection ends through rdma_cm (DISCONNECTED) ------------- */

int ibv_get_async_event(struct ibv_context *context, struct ibv_async_event *event)
{
    (void)event;
    uint64_t v;
    ssize_t n = read(context->async_fd, &v, sizeof v); /* blocks unless O_NONBLOCK: none is raised */
    if (n < 0)
        return -1;
    errno = EIO;
    return -1;
}

void ibv_ack_async_event(struct ibv_async_event *event)
{
    (void)event;
}

/* ---- protection domains and memory regions ---------------------------------------------------- */

struct ibv_pd *ibv_alloc_pd(struct ibv_context *context)
{
    struct shim_pd *p = calloc(1, sizeof *p);
    if (p == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    int rc = iwk_pd_alloc(iwkit_shim_context(context), &p->iwk);
    if (rc < 0) {
        free(p);
        errno = -rc;
        return NULL;
    }
    p->ibv.context = context;
    return &p->ibv;
}

int ibv_dealloc_pd(struct ibv_pd *pd)
{
    struct shim_pd *p = (struct shim_pd *)pd;
    int rc = iwk_pd_free(p->iwk);
    if (rc < 0)
        return -rc;
    free(p);
    return 0;
}

static uint32_t access_of(unsigned int a)
{
    uint32_t r = 0;
    if (a & IBV_ACCESS_LOCAL_WRITE)
        r |= IWK_ACCESS_LOCAL_WRITE;
    if (a & IBV_ACCESS_REMOTE_WRITE)
        r |= IWK_ACCESS_REMOTE_WRITE;
    if (a & IBV_ACCESS_REMOTE_READ)
        r |= IWK_ACCESS_REMOTE_READ;
    if (a & IBV_ACCESS_REMOTE_ATOMIC)
        r |= IWK_ACCESS_REMOTE_ATOMIC;
    return r;
}

/* Access flags iwkit knows, plus the optional ones a provider may ignore (IBV_ACCESS_OPTIONAL_RANGE). */
#define SHIM_ACCESS_KNOWN (IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ | \
                           IBV_ACCESS_REMOTE_ATOMIC | IBV_ACCESS_RELAXED_ORDERING)

struct ibv_mr *ibv_reg_mr_iova2(struct ibv_pd *pd, void *addr, size_t length, uint64_t iova, unsigned int access)
{
    /* iwkit's Tagged Offsets are virtual addresses: an iova other than addr is not supported. */
    if (iova != (uintptr_t)addr || (access & ~(unsigned int)SHIM_ACCESS_KNOWN & ~(unsigned int)IBV_ACCESS_OPTIONAL_RANGE)) {
        errno = EOPNOTSUPP;
        return NULL;
    }
    struct shim_mr *m = calloc(1, sizeof *m);
    if (m == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    int rc = iwk_mr_reg(((struct shim_pd *)pd)->iwk, addr, length, access_of(access), &m->iwk);
    if (rc < 0) {
        free(m);
        errno = -rc;
        return NULL;
    }
    m->ibv.context = pd->context;
    m->ibv.pd = pd;
    m->ibv.addr = addr;
    m->ibv.length = length;
    m->ibv.lkey = m->iwk->lkey;
    m->ibv.rkey = m->iwk->rkey;
    return &m->ibv;
}

#undef ibv_reg_mr
struct ibv_mr *ibv_reg_mr(struct ibv_pd *pd, void *addr, size_t length, int access)
{
    return ibv_reg_mr_iova2(pd, addr, length, (uintptr_t)addr, (unsigned int)access);
}

#undef ibv_reg_mr_iova
struct ibv_mr *ibv_reg_mr_iova(struct ibv_pd *pd, void *addr, size_t length, uint64_t iova, int access)
{
    return ibv_reg_mr_iova2(pd, addr, length, iova, (unsigned int)access);
}

struct ibv_mr *ibv_reg_dmabuf_mr(struct ibv_pd *pd, uint64_t offset, size_t length, uint64_t iova, int fd,
                                 int access)
{
    (void)pd, (void)offset, (void)length, (void)iova, (void)fd, (void)access;
    errno = EOPNOTSUPP;
    return NULL;
}

int ibv_dereg_mr(struct ibv_mr *mr)
{
    struct shim_mr *m = (struct shim_mr *)mr;
    int rc = iwk_mr_dereg(m->iwk);
    if (rc < 0)
        return -rc;
    free(m);
    return 0;
}

int ibv_rereg_mr(struct ibv_mr *mr, int flags, struct ibv_pd *pd, void *addr, size_t length, int access)
{
    (void)mr, (void)flags, (void)pd, (void)addr, (void)length, (void)access;
    errno = EOPNOTSUPP;
    return IBV_REREG_MR_ERR_INPUT;
}

/* ---- completion channels and CQs -------------------------------------------------------------- */

/* The channel's fd is an epoll set of its CQs' iwkit event fds: readable when one has an event. */
struct ibv_comp_channel *ibv_create_comp_channel(struct ibv_context *context)
{
    struct ibv_comp_channel *ch = calloc(1, sizeof *ch);
    if (ch == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    ch->fd = epoll_create1(EPOLL_CLOEXEC);
    if (ch->fd < 0) {
        free(ch);
        return NULL;
    }
    ch->context = context;
    return ch;
}

int ibv_destroy_comp_channel(struct ibv_comp_channel *channel)
{
    if (channel->refcnt > 0)
        return EBUSY;
    close(channel->fd);
    free(channel);
    return 0;
}

struct ibv_cq *ibv_create_cq(struct ibv_context *context, int cqe, void *cq_context,
                             struct ibv_comp_channel *channel, int comp_vector)
{
    if (cqe < 1 || cqe > SHIM_MAX_CQE || comp_vector < 0 || comp_vector >= context->num_comp_vectors) {
        errno = EINVAL;
        return NULL;
    }
    struct shim_cq *c = calloc(1, sizeof *c);
    if (c == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    int rc = iwk_cq_create(iwkit_shim_context(context), (uint32_t)cqe, &c->iwk);
    if (rc < 0) {
        free(c);
        errno = -rc;
        return NULL;
    }
    if (channel != NULL) {
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        if (epoll_ctl(channel->fd, EPOLL_CTL_ADD, iwk_cq_fd(c->iwk), &ev) < 0) {
            int e = errno;
            iwk_cq_destroy(c->iwk);
            free(c);
            errno = e;
            return NULL;
        }
        channel->refcnt++;
    }
    c->ibv.context = context;
    c->ibv.channel = channel;
    c->ibv.cq_context = cq_context;
    c->ibv.cqe = cqe;
    pthread_mutex_init(&c->ibv.mutex, NULL);
    pthread_cond_init(&c->ibv.cond, NULL);
    return &c->ibv;
}

int ibv_resize_cq(struct ibv_cq *cq, int cqe)
{
    (void)cq, (void)cqe;
    return EOPNOTSUPP;
}

int ibv_destroy_cq(struct ibv_cq *cq)
{
    struct shim_cq *c = (struct shim_cq *)cq;
    int rc = iwk_cq_destroy(c->iwk);
    if (rc < 0)
        return -rc;
    if (cq->channel != NULL) {
        /* the fd is closed already: closing removed it from the epoll set */
        cq->channel->refcnt--;
    }
    pthread_cond_destroy(&cq->cond);
    pthread_mutex_destroy(&cq->mutex);
    free(c);
    return 0;
}

int ibv_get_cq_event(struct ibv_comp_channel *channel, struct ibv_cq **cq, void **cq_context)
{
    int nonblock = (fcntl(channel->fd, F_GETFL) & O_NONBLOCK) != 0;
    struct epoll_event ev;
    int n;
    do
        n = epoll_wait(channel->fd, &ev, 1, nonblock ? 0 : -1);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return -1;
    if (n == 0) {
        errno = EAGAIN;
        return -1;
    }
    struct shim_cq *c = ev.data.ptr;
    iwk_cq_ack(c->iwk);
    *cq = &c->ibv;
    *cq_context = c->ibv.cq_context;
    return 0;
}

void ibv_ack_cq_events(struct ibv_cq *cq, unsigned int nevents)
{
    pthread_mutex_lock(&cq->mutex);
    cq->comp_events_completed += nevents;
    pthread_cond_broadcast(&cq->cond);
    pthread_mutex_unlock(&cq->mutex);
}

static int shim_req_notify_cq(struct ibv_cq *cq, int solicited_only)
{
    int rc = iwk_cq_req_notify(((struct shim_cq *)cq)->iwk, solicited_only);
    return rc < 0 ? -rc : 0;
}

static enum ibv_wc_status wc_status(enum iwk_wc_status s)
{
    switch (s) {
    case IWK_WC_SUCCESS: return IBV_WC_SUCCESS;
    case IWK_WC_LOC_LEN_ERR: return IBV_WC_LOC_LEN_ERR;
    case IWK_WC_LOC_PROT_ERR: return IBV_WC_LOC_PROT_ERR;
    case IWK_WC_REM_ACCESS_ERR: return IBV_WC_REM_ACCESS_ERR;
    case IWK_WC_REM_OP_ERR: return IBV_WC_REM_OP_ERR;
    case IWK_WC_WR_FLUSH_ERR: return IBV_WC_WR_FLUSH_ERR;
    case IWK_WC_FATAL_ERR: return IBV_WC_FATAL_ERR;
    }
    return IBV_WC_GENERAL_ERR;
}

static enum ibv_wc_opcode wc_opcode(enum iwk_wc_opcode o)
{
    switch (o) {
    case IWK_WC_SEND: return IBV_WC_SEND;
    case IWK_WC_RDMA_WRITE: return IBV_WC_RDMA_WRITE;
    case IWK_WC_RDMA_READ: return IBV_WC_RDMA_READ;
    case IWK_WC_FETCH_ADD: return IBV_WC_FETCH_ADD;
    case IWK_WC_CMP_SWAP: return IBV_WC_COMP_SWAP;
    case IWK_WC_WRITE_IMM: return IBV_WC_RDMA_WRITE;
    case IWK_WC_IMM: return IBV_WC_SEND;
    case IWK_WC_RECV: return IBV_WC_RECV;
    case IWK_WC_RECV_IMM: return IBV_WC_RECV_RDMA_WITH_IMM;
    }
    return IBV_WC_SEND;
}

static void wc_convert(const struct iwk_wc *in, struct ibv_wc *out)
{
    memset(out, 0, sizeof *out);
    out->wr_id = in->wr_id;
    out->status = wc_status(in->status);
    out->opcode = wc_opcode(in->opcode);
    out->byte_len = in->byte_len;
    out->qp_num = qpn_of(in->qp);
    if (in->flags & IWK_WC_WITH_INV) {
        out->wc_flags |= IBV_WC_WITH_INV;
        out->invalidated_rkey = in->invalidated_rkey;
    } else if (in->flags & IWK_WC_WITH_IMM) {
        /* RFC 7306 carries 8 octets; the verbs' immediate is the first 4 (see ibv_post_send) */
        out->wc_flags |= IBV_WC_WITH_IMM;
        memcpy(&out->imm_data, &in->imm_data, sizeof out->imm_data);
    }
}

/* An application that finds its CQ empty is usually spinning on it (perftest, rping's poll mode):
 * it yields its core, which the progress thread that receives for it may need. Measured in
 * adjacent runs on the loaded 2-core machine: ib_read_bw 4 KiB 8-37 -> 29-86 MB/s, ib_write_bw
 * 64 KiB 94-208 -> 187-488 MB/s. Receiving in the caller's thread instead (iwk_cq_progress(cq, 0)
 * on an empty CQ) did better still (177-213 and 242-552), but in one run of suite shim rping
 * (65000 B) and ib_read_lat crashed with SIGSEGV (not seen in 14 further runs of the two): not
 * used until that is understood. */
static int shim_poll_cq(struct ibv_cq *cq, int n, struct ibv_wc *wc)
{
    enum { BATCH = 32 };
    struct iwk_cq *icq = ((struct shim_cq *)cq)->iwk;
    struct iwk_wc w[BATCH];
    int done = 0;
    while (done < n) {
        int want = n - done < BATCH ? n - done : BATCH;
        int got = iwk_cq_poll(icq, want, w);
        if (got == 0 && done == 0)
            sched_yield();
        if (got < 0)
            return done > 0 ? done : -1;
        for (int i = 0; i < got; i++)
            wc_convert(&w[i], &wc[done + i]);
        done += got;
        if (got < want)
            break;
    }
    return done;
}

/* ---- queue pairs ------------------------------------------------------------------------------ */

static int inline_setup(struct shim_qp *q, struct ibv_pd *pd)
{
    if (q->cap.max_inline_data == 0)
        return 0;
    size_t len = (size_t)(q->cap.max_send_wr + 1) * q->cap.max_inline_data;
    q->inline_buf = calloc(1, len);
    if (q->inline_buf == NULL)
        return -ENOMEM;
    return iwk_mr_reg(((struct shim_pd *)pd)->iwk, q->inline_buf, len, IWK_ACCESS_LOCAL_WRITE, &q->inline_mr);
}

static void inline_teardown(struct shim_qp *q)
{
    if (q->inline_mr != NULL)
        iwk_mr_dereg(q->inline_mr);
    free(q->inline_buf);
}

static int qp_caps(const struct ibv_qp_init_attr *a, struct ibv_qp_cap *cap)
{
    if (a->qp_type != IBV_QPT_RC || a->srq != NULL || a->send_cq == NULL || a->recv_cq == NULL)
        return EOPNOTSUPP;
    if (a->cap.max_send_wr > SHIM_MAX_SEND_WR || a->cap.max_recv_wr > SHIM_MAX_RECV_WR ||
        a->cap.max_send_sge > SHIM_MAX_SGE || a->cap.max_recv_sge > SHIM_MAX_SGE ||
        a->cap.max_inline_data > SHIM_MAX_INLINE)
        return EINVAL;
    cap->max_send_wr = a->cap.max_send_wr ? a->cap.max_send_wr : 1;
    cap->max_recv_wr = a->cap.max_recv_wr ? a->cap.max_recv_wr : 1;
    uint32_t sge = a->cap.max_send_sge > a->cap.max_recv_sge ? a->cap.max_send_sge : a->cap.max_recv_sge;
    cap->max_send_sge = cap->max_recv_sge = sge ? sge : 1;
    cap->max_inline_data = a->cap.max_inline_data;
    return 0;
}

struct ibv_qp *ibv_create_qp(struct ibv_pd *pd, struct ibv_qp_init_attr *attr)
{
    struct ibv_qp_cap cap;
    int rc = qp_caps(attr, &cap);
    if (rc != 0) {
        errno = rc;
        return NULL;
    }
    struct shim_qp *q = calloc(1, sizeof *q);
    if (q == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    q->cap = cap;
    q->sq_sig_all = attr->sq_sig_all;
    struct iwk_qp_attr qa = {.send_cq = ((struct shim_cq *)attr->send_cq)->iwk,
                             .recv_cq = ((struct shim_cq *)attr->recv_cq)->iwk,
                             .max_send_wr = cap.max_send_wr,
                             .max_recv_wr = cap.max_recv_wr,
                             .max_sge = cap.max_send_sge};
    rc = inline_setup(q, pd);
    if (rc == 0)
        rc = iwk_qp_create(((struct shim_pd *)pd)->iwk, &qa, &q->iwk);
    if (rc < 0) {
        inline_teardown(q);
        free(q);
        errno = -rc;
        return NULL;
    }
    pthread_mutex_init(&q->inline_lock, NULL);
    pthread_mutex_init(&q->hold_lock, NULL);
    pthread_cond_init(&q->hold_cond, NULL);
    q->ibv.context = pd->context;
    q->ibv.qp_context = attr->qp_context;
    q->ibv.pd = pd;
    q->ibv.send_cq = attr->send_cq;
    q->ibv.recv_cq = attr->recv_cq;
    q->ibv.qp_type = IBV_QPT_RC;
    q->ibv.state = IBV_QPS_RESET;
    pthread_mutex_init(&q->ibv.mutex, NULL);
    pthread_cond_init(&q->ibv.cond, NULL);
    q->ibv.qp_num = qpn_add(q);
    attr->cap = cap;
    return &q->ibv;
}

int ibv_destroy_qp(struct ibv_qp *qp)
{
    struct shim_qp *q = (struct shim_qp *)qp;
    pthread_mutex_lock(&q->hold_lock);
    q->dying = 1;
    while (q->holders > 0)
        pthread_cond_wait(&q->hold_cond, &q->hold_lock);
    pthread_mutex_unlock(&q->hold_lock);
    qpn_remove(q);
    int rc = iwk_qp_destroy(q->iwk);
    if (rc < 0)
        return -rc;
    inline_teardown(q);
    pthread_mutex_destroy(&q->inline_lock);
    pthread_cond_destroy(&q->hold_cond);
    pthread_mutex_destroy(&q->hold_lock);
    pthread_cond_destroy(&qp->cond);
    pthread_mutex_destroy(&qp->mutex);
    free(q);
    return 0;
}

struct iwk_qp *iwkit_shim_qp(struct ibv_qp *qp)
{
    return ((struct shim_qp *)qp)->iwk;
}

struct iwk_qp *iwkit_shim_qp_hold(struct ibv_qp *qp)
{
    struct shim_qp *q = (struct shim_qp *)qp;
    pthread_mutex_lock(&q->hold_lock);
    int ok = !q->dying;
    if (ok)
        q->holders++;
    pthread_mutex_unlock(&q->hold_lock);
    return ok ? q->iwk : NULL;
}

void iwkit_shim_qp_release(struct ibv_qp *qp)
{
    struct shim_qp *q = (struct shim_qp *)qp;
    pthread_mutex_lock(&q->hold_lock);
    q->holders--;
    pthread_cond_broadcast(&q->hold_cond);
    pthread_mutex_unlock(&q->hold_lock);
}

int iwkit_shim_qp_dying(struct ibv_qp *qp)
{
    struct shim_qp *q = (struct shim_qp *)qp;
    pthread_mutex_lock(&q->hold_lock);
    int d = q->dying;
    pthread_mutex_unlock(&q->hold_lock);
    return d;
}

void iwkit_shim_qp_set_state(struct ibv_qp *qp, enum ibv_qp_state state)
{
    pthread_mutex_lock(&qp->mutex);
    qp->state = state;
    pthread_mutex_unlock(&qp->mutex);
}

/* iWARP QPs move through their states by connection management (rdma_cm): a modify is recorded;
 * to ERR it closes the connection abortively, which flushes the posted work. */
int ibv_modify_qp(struct ibv_qp *qp, struct ibv_qp_attr *attr, int attr_mask)
{
    if (!(attr_mask & IBV_QP_STATE))
        return 0;
    if (attr->qp_state == IBV_QPS_ERR) {
        int rc = iwk_disconnect(((struct shim_qp *)qp)->iwk, 0);
        if (rc < 0 && rc != -ENOTCONN)
            return -rc;
    }
    iwkit_shim_qp_set_state(qp, attr->qp_state);
    return 0;
}

int ibv_query_qp(struct ibv_qp *qp, struct ibv_qp_attr *attr, int attr_mask, struct ibv_qp_init_attr *init_attr)
{
    (void)attr_mask;
    const struct shim_qp *q = (const struct shim_qp *)qp;
    struct iwk_qp_info info;
    iwk_qp_info(q->iwk, &info);
    memset(attr, 0, sizeof *attr);
    pthread_mutex_lock(&qp->mutex);
    attr->qp_state = qp->state;
    pthread_mutex_unlock(&qp->mutex);
    attr->cur_qp_state = attr->qp_state;
    attr->cap = q->cap;
    attr->path_mtu = IBV_MTU_1024;
    attr->max_rd_atomic = (uint8_t)(info.ord > 255 ? 255 : info.ord);
    attr->max_dest_rd_atomic = (uint8_t)(info.ird > 255 ? 255 : info.ird);
    attr->port_num = 1;
    if (init_attr != NULL) {
        memset(init_attr, 0, sizeof *init_attr);
        init_attr->qp_context = qp->qp_context;
        init_attr->send_cq = qp->send_cq;
        init_attr->recv_cq = qp->recv_cq;
        init_attr->cap = q->cap;
        init_attr->qp_type = IBV_QPT_RC;
        init_attr->sq_sig_all = q->sq_sig_all;
    }
    return 0;
}

struct ibv_qp_ex *ibv_qp_to_qp_ex(struct ibv_qp *qp)
{
    (void)qp;
    errno = EOPNOTSUPP; /* no QP is created with the extended post API (ibv_create_qp_ex) */
    return NULL;
}

int ibv_query_qp_data_in_order(struct ibv_qp *qp, enum ibv_wr_opcode op, uint32_t flags)
{
    (void)qp, (void)op, (void)flags;
    return 1; /* DDP over TCP places in order */
}

int ibv_query_ece(struct ibv_qp *qp, struct ibv_ece *ece)
{
    (void)qp, (void)ece;
    return EOPNOTSUPP;
}

int ibv_set_ece(struct ibv_qp *qp, struct ibv_ece *ece)
{
    (void)qp, (void)ece;
    return EOPNOTSUPP;
}

/* ---- posting ---------------------------------------------------------------------------------- */

/* Copies an inline work request's data into the QP's next bounce slot: max_send_wr + 1 slots,
 * so the one reused was posted max_send_wr + 1 requests ago and has left the send queue. */
static int inline_copy(struct shim_qp *q, const struct ibv_send_wr *wr, struct iwk_sge *sge)
{
    size_t total = 0;
    for (int i = 0; i < wr->num_sge; i++)
        total += wr->sg_list[i].length;
    if (total > q->cap.max_inline_data)
        return EINVAL;
    uint8_t *slot = q->inline_buf + (size_t)q->inline_next * q->cap.max_inline_data;
    size_t off = 0;
    for (int i = 0; i < wr->num_sge; i++) {
        memcpy(slot + off, (const void *)(uintptr_t)wr->sg_list[i].addr, wr->sg_list[i].length);
        off += wr->sg_list[i].length;
    }
    sge->addr = (uintptr_t)slot;
    sge->length = (uint32_t)total;
    sge->lkey = q->inline_mr->lkey;
    return 0;
}

static int send_opcode(enum ibv_wr_opcode op, enum iwk_wr_opcode *out)
{
    switch (op) {
    case IBV_WR_SEND: *out = IWK_WR_SEND; return 0;
    case IBV_WR_SEND_WITH_INV: *out = IWK_WR_SEND_INV; return 0;
    case IBV_WR_RDMA_WRITE: *out = IWK_WR_RDMA_WRITE; return 0;
    case IBV_WR_RDMA_WRITE_WITH_IMM: *out = IWK_WR_WRITE_IMM; return 0;
    case IBV_WR_RDMA_READ: *out = IWK_WR_RDMA_READ; return 0;
    case IBV_WR_ATOMIC_FETCH_AND_ADD: *out = IWK_WR_FETCH_ADD; return 0;
    case IBV_WR_ATOMIC_CMP_AND_SWP: *out = IWK_WR_CMP_SWAP; return 0;
    default: return EINVAL; /* Send with Immediate, local invalidate, bind, TSO: not in iwkit */
    }
}

static int send_convert(const struct shim_qp *q, const struct ibv_send_wr *wr, struct iwk_send_wr *out)
{
    if (wr->num_sge < 0 || (uint32_t)wr->num_sge > q->cap.max_send_sge)
        return EINVAL;
    int rc = send_opcode(wr->opcode, &out->opcode);
    if (rc != 0)
        return rc;
    out->wr_id = wr->wr_id;
    out->flags = 0;
    if ((wr->send_flags & IBV_SEND_SIGNALED) || q->sq_sig_all)
        out->flags |= IWK_SEND_SIGNALED;
    if (wr->send_flags & IBV_SEND_SOLICITED)
        out->flags |= IWK_SEND_SOLICITED;
    if (wr->send_flags & IBV_SEND_FENCE)
        out->flags |= IWK_SEND_FENCE;
    out->sg_list = (const struct iwk_sge *)wr->sg_list; /* same layout: asserted above */
    out->num_sge = (uint32_t)wr->num_sge;
    if (out->opcode == IWK_WR_FETCH_ADD || out->opcode == IWK_WR_CMP_SWAP) {
        out->remote_addr = wr->wr.atomic.remote_addr;
        out->rkey = wr->wr.atomic.rkey;
        out->compare_add = wr->wr.atomic.compare_add;
        out->swap = wr->wr.atomic.swap;
    } else {
        out->remote_addr = wr->wr.rdma.remote_addr;
        out->rkey = wr->wr.rdma.rkey;
    }
    out->invalidate_rkey = out->opcode == IWK_WR_SEND_INV ? wr->invalidate_rkey : 0;
    out->imm_data = 0;
    if (out->opcode == IWK_WR_WRITE_IMM)
        memcpy(&out->imm_data, &wr->imm_data, sizeof wr->imm_data); /* first 4 of the 8 octets */
    return 0;
}

static int post_one_send(struct shim_qp *q, const struct ibv_send_wr *wr)
{
    struct iwk_send_wr w;
    int rc = send_convert(q, wr, &w);
    if (rc != 0)
        return rc;
    int is_inline = (wr->send_flags & IBV_SEND_INLINE) && wr->num_sge > 0 &&
                    (w.opcode == IWK_WR_SEND || w.opcode == IWK_WR_SEND_INV || w.opcode == IWK_WR_RDMA_WRITE ||
                     w.opcode == IWK_WR_WRITE_IMM);
    if (!is_inline)
        return -iwk_post_send(q->iwk, &w);
    if (q->inline_buf == NULL)
        return EINVAL;
    struct iwk_sge sge;
    pthread_mutex_lock(&q->inline_lock);
    rc = inline_copy(q, wr, &sge);
    if (rc == 0) {
        w.sg_list = &sge;
        w.num_sge = 1;
        rc = -iwk_post_send(q->iwk, &w);
        if (rc == 0)
            q->inline_next = (q->inline_next + 1) % (q->cap.max_send_wr + 1);
    }
    pthread_mutex_unlock(&q->inline_lock);
    return rc;
}

static int post_errno(int rc)
{
    return rc == ENOTCONN ? EINVAL : rc; /* rdma-core: posting to a QP not in RTS is EINVAL */
}

static int shim_post_send(struct ibv_qp *qp, struct ibv_send_wr *wr, struct ibv_send_wr **bad)
{
    struct shim_qp *q = (struct shim_qp *)qp;
    for (; wr != NULL; wr = wr->next) {
        int rc = post_one_send(q, wr);
        if (rc != 0) {
            *bad = wr;
            return post_errno(rc);
        }
    }
    return 0;
}

static int shim_post_recv(struct ibv_qp *qp, struct ibv_recv_wr *wr, struct ibv_recv_wr **bad)
{
    struct shim_qp *q = (struct shim_qp *)qp;
    for (; wr != NULL; wr = wr->next) {
        int rc = EINVAL;
        if (wr->num_sge >= 0 && (uint32_t)wr->num_sge <= q->cap.max_recv_sge) {
            struct iwk_recv_wr w = {.wr_id = wr->wr_id,
                                    .sg_list = (const struct iwk_sge *)wr->sg_list,
                                    .num_sge = (uint32_t)wr->num_sge};
            rc = -iwk_post_recv(q->iwk, &w);
        }
        if (rc != 0) {
            *bad = wr;
            return rc;
        }
    }
    return 0;
}

/* ---- what iwkit does not have: SRQ, AH, multicast, memory windows, fork ----------------------- */

static int shim_post_srq_recv(struct ibv_srq *srq, struct ibv_recv_wr *wr, struct ibv_recv_wr **bad)
{
    (void)srq;
    *bad = wr;
    return EOPNOTSUPP;
}

struct ibv_srq *ibv_create_srq(struct ibv_pd *pd, struct ibv_srq_init_attr *attr)
{
    (void)pd, (void)attr;
    errno = EOPNOTSUPP;
    return NULL;
}

int ibv_modify_srq(struct ibv_srq *srq, struct ibv_srq_attr *attr, int mask)
{
    (void)srq, (void)attr, (void)mask;
    return EOPNOTSUPP;
}

int ibv_query_srq(struct ibv_srq *srq, struct ibv_srq_attr *attr)
{
    (void)srq, (void)attr;
    return EOPNOTSUPP;
}

int ibv_destroy_srq(struct ibv_srq *srq)
{
    (void)srq;
    return EOPNOTSUPP;
}

struct ibv_ah *ibv_create_ah(struct ibv_pd *pd, struct ibv_ah_attr *attr)
{
    (void)pd, (void)attr;
    errno = EOPNOTSUPP; /* address handles are for UD QPs; iWARP has RC only */
    return NULL;
}

struct ibv_ah *ibv_create_ah_from_wc(struct ibv_pd *pd, struct ibv_wc *wc, struct ibv_grh *grh, uint8_t port_num)
{
    (void)pd, (void)wc, (void)grh, (void)port_num;
    errno = EOPNOTSUPP;
    return NULL;
}

int ibv_init_ah_from_wc(struct ibv_context *context, uint8_t port_num, struct ibv_wc *wc, struct ibv_grh *grh,
                        struct ibv_ah_attr *ah_attr)
{
    (void)context, (void)port_num, (void)wc, (void)grh, (void)ah_attr;
    return EOPNOTSUPP;
}

int ibv_destroy_ah(struct ibv_ah *ah)
{
    (void)ah;
    return EOPNOTSUPP;
}

int ibv_attach_mcast(struct ibv_qp *qp, const union ibv_gid *gid, uint16_t lid)
{
    (void)qp, (void)gid, (void)lid;
    return EOPNOTSUPP;
}

int ibv_detach_mcast(struct ibv_qp *qp, const union ibv_gid *gid, uint16_t lid)
{
    (void)qp, (void)gid, (void)lid;
    return EOPNOTSUPP;
}

int ibv_resolve_eth_l2_from_gid(struct ibv_context *context, struct ibv_ah_attr *attr, uint8_t eth_mac[6],
                                uint16_t *vid)
{
    (void)context, (void)attr, (void)eth_mac, (void)vid;
    return EOPNOTSUPP;
}

struct ibv_pd *ibv_import_pd(struct ibv_context *context, uint32_t pd_handle)
{
    (void)context, (void)pd_handle;
    errno = EOPNOTSUPP;
    return NULL;
}

void ibv_unimport_pd(struct ibv_pd *pd)
{
    (void)pd;
}

struct ibv_mr *ibv_import_mr(struct ibv_pd *pd, uint32_t mr_handle)
{
    (void)pd, (void)mr_handle;
    errno = EOPNOTSUPP;
    return NULL;
}

void ibv_unimport_mr(struct ibv_mr *mr)
{
    (void)mr;
}

struct ibv_dm *ibv_import_dm(struct ibv_context *context, uint32_t dm_handle)
{
    (void)context, (void)dm_handle;
    errno = EOPNOTSUPP;
    return NULL;
}

void ibv_unimport_dm(struct ibv_dm *dm)
{
    (void)dm;
}

/* Registered memory is ordinary memory to iwkit (no DMA): fork needs nothing. */
int ibv_fork_init(void)
{
    return 0;
}

enum ibv_fork_status ibv_is_fork_initialized(void)
{
    return IBV_FORK_UNNEEDED;
}

int ibv_dontfork_range(void *base, size_t size)
{
    (void)base, (void)size;
    return 0;
}

int ibv_dofork_range(void *base, size_t size)
{
    (void)base, (void)size;
    return 0;
}

/* Symbols that also have an IBVERBS_1.0 version (ibverbs_compat.c): this file defines their default,
 * IBVERBS_1.1, as rdma-core does. */
__asm__(".symver ibv_ack_async_event,ibv_ack_async_event@@@IBVERBS_1.1");
__asm__(".symver ibv_ack_cq_events,ibv_ack_cq_events@@@IBVERBS_1.1");
__asm__(".symver ibv_alloc_pd,ibv_alloc_pd@@@IBVERBS_1.1");
__asm__(".symver ibv_attach_mcast,ibv_attach_mcast@@@IBVERBS_1.1");
__asm__(".symver ibv_close_device,ibv_close_device@@@IBVERBS_1.1");
__asm__(".symver ibv_create_ah,ibv_create_ah@@@IBVERBS_1.1");
__asm__(".symver ibv_create_cq,ibv_create_cq@@@IBVERBS_1.1");
__asm__(".symver ibv_create_qp,ibv_create_qp@@@IBVERBS_1.1");
__asm__(".symver ibv_create_srq,ibv_create_srq@@@IBVERBS_1.1");
__asm__(".symver ibv_dealloc_pd,ibv_dealloc_pd@@@IBVERBS_1.1");
__asm__(".symver ibv_dereg_mr,ibv_dereg_mr@@@IBVERBS_1.1");
__asm__(".symver ibv_destroy_ah,ibv_destroy_ah@@@IBVERBS_1.1");
__asm__(".symver ibv_destroy_cq,ibv_destroy_cq@@@IBVERBS_1.1");
__asm__(".symver ibv_destroy_qp,ibv_destroy_qp@@@IBVERBS_1.1");
__asm__(".symver ibv_destroy_srq,ibv_destroy_srq@@@IBVERBS_1.1");
__asm__(".symver ibv_detach_mcast,ibv_detach_mcast@@@IBVERBS_1.1");
__asm__(".symver ibv_free_device_list,ibv_free_device_list@@@IBVERBS_1.1");
__asm__(".symver ibv_get_async_event,ibv_get_async_event@@@IBVERBS_1.1");
__asm__(".symver ibv_get_cq_event,ibv_get_cq_event@@@IBVERBS_1.1");
__asm__(".symver ibv_get_device_guid,ibv_get_device_guid@@@IBVERBS_1.1");
__asm__(".symver ibv_get_device_list,ibv_get_device_list@@@IBVERBS_1.1");
__asm__(".symver ibv_get_device_name,ibv_get_device_name@@@IBVERBS_1.1");
__asm__(".symver ibv_modify_qp,ibv_modify_qp@@@IBVERBS_1.1");
__asm__(".symver ibv_modify_srq,ibv_modify_srq@@@IBVERBS_1.1");
__asm__(".symver ibv_open_device,ibv_open_device@@@IBVERBS_1.1");
__asm__(".symver ibv_query_device,ibv_query_device@@@IBVERBS_1.1");
__asm__(".symver ibv_query_gid,ibv_query_gid@@@IBVERBS_1.1");
__asm__(".symver ibv_query_pkey,ibv_query_pkey@@@IBVERBS_1.1");
__asm__(".symver ibv_query_port,ibv_query_port@@@IBVERBS_1.1");
__asm__(".symver ibv_query_qp,ibv_query_qp@@@IBVERBS_1.1");
__asm__(".symver ibv_query_srq,ibv_query_srq@@@IBVERBS_1.1");
__asm__(".symver ibv_reg_mr,ibv_reg_mr@@@IBVERBS_1.1");
__asm__(".symver ibv_resize_cq,ibv_resize_cq@@@IBVERBS_1.1");
