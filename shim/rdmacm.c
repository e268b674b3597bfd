/* librdmacm.so.1 over iwkit: rdma_cm's connection management (RDMACM_1.x of Debian 12's rdma-core
 * 44) on iwkit's (include/iwkit/verbs.h): iwk_connect, iwk_listen / iwk_get_request / iwk_accept /
 * iwk_reject, iwk_disconnect, iwk_qp_wait_closed. Events go through an event channel: a queue and
 * an eventfd in semaphore mode as the channel's fd (one count per event, so poll() and O_NONBLOCK
 * behave as with rdma-core, and closing it does not wake a thread blocked in rdma_get_cm_event,
 * as closing rdma-core's does not: rping ends with such a thread). iwkit's calls block; each connection has one thread that connects (active
 * side) and then waits for the connection to end, and each listening id one thread that takes
 * MPA Requests. The per-connection iWARP options come from the environment (README "rdma-core
 * applications"): IWKIT_PROFILE, IWKIT_MPA_REV, IWKIT_CRC, IWKIT_MARKERS, IWKIT_RTR. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <rdma/rdma_cma.h>
#include <rdma/rdma_verbs.h>

#include "iwkit/verbs.h"
#include "shim_internal.h"

_Static_assert(offsetof(struct rdma_cm_id, verbs) == 0 && offsetof(struct rdma_cm_id, qp) == 24 &&
                   offsetof(struct rdma_cm_id, route) == 32,
               "rdma_cm_id layout of rdma-core 44");
_Static_assert(offsetof(struct rdma_cm_event, param) == 24, "rdma_cm_event layout of rdma-core 44");

#define CM_POLL_MS 100 /* how often a blocked connection thread looks whether it should stop */

struct cm_event {
    struct rdma_cm_event ev;
    struct cm_event *next;
    uint8_t pdata[512];
};

struct cm_channel {
    struct rdma_event_channel ch; /* ch.fd: eventfd, EFD_SEMAPHORE */
    pthread_mutex_t lock;
    struct cm_event *head, *tail;
};

struct cm_id {
    struct rdma_cm_id id;
    struct iwk_listener *listener;
    struct iwk_conn_request *req;   /* passive side until accepted or rejected */
    struct ibv_pd *own_pd;          /* rdma_create_qp with pd NULL */
    pthread_t thread;
    int has_thread;
    atomic_int stop;
    struct iwk_conn_param param;
    uint8_t pdata[512];
};

/* ---- the device every id uses ----------------------------------------------------------------- */

static pthread_once_t cm_once = PTHREAD_ONCE_INIT;
static struct ibv_context *cm_verbs;

static void cm_open_device(void)
{
    int n = 0;
    struct ibv_device **list = ibv_get_device_list(&n);
    if (list != NULL && n > 0)
        cm_verbs = ibv_open_device(list[0]);
    ibv_free_device_list(list);
}

static struct ibv_context *cm_device(void)
{
    pthread_once(&cm_once, cm_open_device);
    return cm_verbs;
}

struct ibv_context **rdma_get_devices(int *num_devices)
{
    struct ibv_context *v = cm_device();
    struct ibv_context **list = calloc(2, sizeof *list);
    if (list == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    list[0] = v;
    if (num_devices != NULL)
        *num_devices = v != NULL;
    return list;
}

void rdma_free_devices(struct ibv_context **list)
{
    free(list);
}

/* ---- event channels --------------------------------------------------------------------------- */

struct rdma_event_channel *rdma_create_event_channel(void)
{
    if (cm_device() == NULL) {
        errno = ENODEV;
        return NULL;
    }
    struct cm_channel *c = calloc(1, sizeof *c);
    int fd = c != NULL ? eventfd(0, EFD_CLOEXEC | EFD_SEMAPHORE) : -1;
    if (fd < 0) {
        free(c);
        return NULL;
    }
    c->ch.fd = fd;
    pthread_mutex_init(&c->lock, NULL);
    return &c->ch;
}

void rdma_destroy_event_channel(struct rdma_event_channel *channel)
{
    struct cm_channel *c = (struct cm_channel *)channel;
    while (c->head != NULL) {
        struct cm_event *e = c->head;
        c->head = e->next;
        free(e);
    }
    close(c->ch.fd);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

static void post_event(struct cm_id *id, struct rdma_cm_id *listen_id, enum rdma_cm_event_type type, int status,
                       const void *pdata, size_t len)
{
    struct cm_channel *c = (struct cm_channel *)id->id.channel;
    struct cm_event *e = calloc(1, sizeof *e);
    if (e == NULL)
        return; /* out of memory: the event is lost, as the kernel's would be */
    e->ev.id = &id->id;
    e->ev.listen_id = listen_id;
    e->ev.event = type;
    e->ev.status = status;
    if (len > 255)
        len = 255; /* rdma_conn_param.private_data_len is an octet */
    if (len > 0) {
        memcpy(e->pdata, pdata, len);
        e->ev.param.conn.private_data = e->pdata;
        e->ev.param.conn.private_data_len = (uint8_t)len;
    }
    pthread_mutex_lock(&c->lock);
    if (c->tail != NULL)
        c->tail->next = e;
    else
        c->head = e;
    c->tail = e;
    pthread_mutex_unlock(&c->lock);
    uint64_t one = 1;
    if (write(c->ch.fd, &one, sizeof one) < 0) { /* cannot overflow: one count per queued event */ }
}

int rdma_get_cm_event(struct rdma_event_channel *channel, struct rdma_cm_event **event)
{
    struct cm_channel *c = (struct cm_channel *)channel;
    uint64_t one;
    ssize_t n;
    do
        n = read(c->ch.fd, &one, sizeof one); /* blocks unless the application set O_NONBLOCK */
    while (n < 0 && errno == EINTR);
    if (n != (ssize_t)sizeof one)
        return -1;
    pthread_mutex_lock(&c->lock);
    struct cm_event *e = c->head;
    c->head = e->next;
    if (c->head == NULL)
        c->tail = NULL;
    pthread_mutex_unlock(&c->lock);
    *event = &e->ev;
    return 0;
}

int rdma_ack_cm_event(struct rdma_cm_event *event)
{
    free(event); /* struct cm_event begins with it */
    return 0;
}

const char *rdma_event_str(enum rdma_cm_event_type event)
{
    static const char *const n[] = {
        "RDMA_CM_EVENT_ADDR_RESOLVED", "RDMA_CM_EVENT_ADDR_ERROR", "RDMA_CM_EVENT_ROUTE_RESOLVED",
        "RDMA_CM_EVENT_ROUTE_ERROR", "RDMA_CM_EVENT_CONNECT_REQUEST", "RDMA_CM_EVENT_CONNECT_RESPONSE",
        "RDMA_CM_EVENT_CONNECT_ERROR", "RDMA_CM_EVENT_UNREACHABLE", "RDMA_CM_EVENT_REJECTED",
        "RDMA_CM_EVENT_ESTABLISHED", "RDMA_CM_EVENT_DISCONNECTED", "RDMA_CM_EVENT_DEVICE_REMOVAL",
        "RDMA_CM_EVENT_MULTICAST_JOIN", "RDMA_CM_EVENT_MULTICAST_ERROR", "RDMA_CM_EVENT_ADDR_CHANGE",
        "RDMA_CM_EVENT_TIMEWAIT_EXIT"};
    return (unsigned)event < sizeof n / sizeof n[0] ? n[event] : "UNKNOWN EVENT";
}

/* ---- ids -------------------------------------------------------------------------------------- */

/* The iWARP options of every connection, from the environment (defaults: iwk_conn_param_profile
 * "rfc" unless IWKIT_PROFILE names another). */
static int env_param(struct iwk_conn_param *p)
{
    const char *prof = getenv("IWKIT_PROFILE");
    if (iwk_conn_param_profile(p, prof != NULL && prof[0] ? prof : "rfc") < 0)
        return EINVAL;
    const char *v;
    if ((v = getenv("IWKIT_MPA_REV")) != NULL)
        p->mpa_rev = (uint8_t)atoi(v);
    if ((v = getenv("IWKIT_CRC")) != NULL)
        p->crc = strcmp(v, "off") == 0 ? IWK_CRC_OFF : strcmp(v, "optional") == 0 ? IWK_CRC_OPTIONAL : IWK_CRC_REQUIRED;
    if ((v = getenv("IWKIT_MARKERS")) != NULL)
        p->markers = p->can_markers = strcmp(v, "on") == 0;
    if ((v = getenv("IWKIT_RTR")) != NULL) {
        p->rtr = 0;
        if (strstr(v, "write"))
            p->rtr |= IWK_RTR_WRITE;
        if (strstr(v, "read"))
            p->rtr |= IWK_RTR_READ;
        if (strstr(v, "send"))
            p->rtr |= IWK_RTR_SEND;
    }
    return 0;
}

int rdma_create_id(struct rdma_event_channel *channel, struct rdma_cm_id **id, void *context,
                   enum rdma_port_space ps)
{
    if (channel == NULL) {
        errno = EOPNOTSUPP; /* synchronous ids (no channel): not in this version */
        return -1;
    }
    if (ps != RDMA_PS_TCP) {
        errno = EPROTONOSUPPORT; /* iWARP is connected (RC) only */
        return -1;
    }
    struct cm_id *c = calloc(1, sizeof *c);
    if (c == NULL) {
        errno = ENOMEM;
        return -1;
    }
    c->id.channel = channel;
    c->id.context = context;
    c->id.ps = ps;
    c->id.qp_type = IBV_QPT_RC;
    *id = &c->id;
    return 0;
}

static void stop_thread(struct cm_id *c)
{
    if (!c->has_thread)
        return;
    atomic_store(&c->stop, 1);
    pthread_join(c->thread, NULL);
    c->has_thread = 0;
}

int rdma_destroy_id(struct rdma_cm_id *id)
{
    struct cm_id *c = (struct cm_id *)id;
    stop_thread(c);
    if (c->listener != NULL)
        iwk_listener_close(c->listener);
    if (c->req != NULL)
        iwk_reject(c->req, NULL, 0);
    free(c);
    return 0;
}

static int addr_len(const struct sockaddr *a)
{
    return a->sa_family == AF_INET ? (int)sizeof(struct sockaddr_in)
           : a->sa_family == AF_INET6 ? (int)sizeof(struct sockaddr_in6) : 0;
}

static void addr_host(const struct sockaddr *a, char *host, size_t n, uint16_t *port)
{
    if (a->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)a;
        inet_ntop(AF_INET6, &s->sin6_addr, host, (socklen_t)n);
        *port = ntohs(s->sin6_port);
    } else {
        const struct sockaddr_in *s = (const struct sockaddr_in *)a;
        inet_ntop(AF_INET, &s->sin_addr, host, (socklen_t)n);
        *port = ntohs(s->sin_port);
    }
}

int rdma_bind_addr(struct rdma_cm_id *id, struct sockaddr *addr)
{
    int len = addr_len(addr);
    if (len == 0) {
        errno = EAFNOSUPPORT;
        return -1;
    }
    memcpy(&id->route.addr.src_storage, addr, (size_t)len);
    id->verbs = cm_device();
    id->port_num = 1;
    return 0;
}

int rdma_resolve_addr(struct rdma_cm_id *id, struct sockaddr *src_addr, struct sockaddr *dst_addr, int timeout_ms)
{
    (void)timeout_ms;
    int len = dst_addr != NULL ? addr_len(dst_addr) : 0;
    if (len == 0) {
        errno = EAFNOSUPPORT;
        return -1;
    }
    memcpy(&id->route.addr.dst_storage, dst_addr, (size_t)len);
    if (src_addr != NULL && addr_len(src_addr) != 0)
        memcpy(&id->route.addr.src_storage, src_addr, (size_t)addr_len(src_addr));
    else
        id->route.addr.src_addr.sa_family = dst_addr->sa_family;
    id->verbs = cm_device();
    id->port_num = 1;
    post_event((struct cm_id *)id, NULL, RDMA_CM_EVENT_ADDR_RESOLVED, 0, NULL, 0);
    return 0;
}

int rdma_resolve_route(struct rdma_cm_id *id, int timeout_ms)
{
    (void)timeout_ms;
    if (id->route.addr.dst_addr.sa_family == 0) {
        errno = EINVAL;
        return -1;
    }
    post_event((struct cm_id *)id, NULL, RDMA_CM_EVENT_ROUTE_RESOLVED, 0, NULL, 0);
    return 0;
}

uint16_t rdma_get_src_port(struct rdma_cm_id *id)
{
    char h[INET6_ADDRSTRLEN];
    uint16_t port = 0;
    addr_host(&id->route.addr.src_addr, h, sizeof h, &port);
    return htons(port);
}

uint16_t rdma_get_dst_port(struct rdma_cm_id *id)
{
    char h[INET6_ADDRSTRLEN];
    uint16_t port = 0;
    addr_host(&id->route.addr.dst_addr, h, sizeof h, &port);
    return htons(port);
}

/* ---- queue pairs ------------------------------------------------------------------------------ */

int rdma_create_qp(struct rdma_cm_id *id, struct ibv_pd *pd, struct ibv_qp_init_attr *attr)
{
    struct cm_id *c = (struct cm_id *)id;
    if (id->verbs == NULL) {
        errno = EINVAL;
        return -1;
    }
    if (pd == NULL) {
        if (c->own_pd == NULL)
            c->own_pd = ibv_alloc_pd(id->verbs);
        pd = c->own_pd;
        if (pd == NULL)
            return -1;
    }
    struct ibv_qp *qp = ibv_create_qp(pd, attr);
    if (qp == NULL)
        return -1;
    id->qp = qp;
    id->pd = pd;
    return 0;
}

int rdma_create_qp_ex(struct rdma_cm_id *id, struct ibv_qp_init_attr_ex *attr)
{
    if (attr->comp_mask & ~(uint32_t)IBV_QP_INIT_ATTR_PD) {
        errno = EOPNOTSUPP;
        return -1;
    }
    struct ibv_qp_init_attr a = {.qp_context = attr->qp_context, .send_cq = attr->send_cq,
                                 .recv_cq = attr->recv_cq, .srq = attr->srq, .cap = attr->cap,
                                 .qp_type = attr->qp_type, .sq_sig_all = attr->sq_sig_all};
    int rc = rdma_create_qp(id, (attr->comp_mask & IBV_QP_INIT_ATTR_PD) ? attr->pd : NULL, &a);
    if (rc == 0)
        attr->cap = a.cap;
    return rc;
}

void rdma_destroy_qp(struct rdma_cm_id *id)
{
    struct cm_id *c = (struct cm_id *)id;
    stop_thread(c);
    if (id->qp != NULL)
        ibv_destroy_qp(id->qp);
    id->qp = NULL;
    if (c->own_pd != NULL && ibv_dealloc_pd(c->own_pd) == 0)
        c->own_pd = NULL;
}

/* ---- connections ------------------------------------------------------------------------------ */

/* Waits, holding the QP, until the connection ends (DISCONNECTED) or the id or QP goes away. */
static void watch_connection(struct cm_id *c, struct iwk_qp *qp)
{
    while (!atomic_load(&c->stop) && !iwkit_shim_qp_dying(c->id.qp)) {
        if (iwk_qp_wait_closed(qp, CM_POLL_MS) == 0) {
            iwkit_shim_qp_set_state(c->id.qp, IBV_QPS_ERR);
            post_event(c, NULL, RDMA_CM_EVENT_DISCONNECTED, 0, NULL, 0);
            return;
        }
    }
}

static void *connect_thread(void *arg)
{
    struct cm_id *c = arg;
    struct ibv_qp *ibqp = c->id.qp;
    struct iwk_qp *qp = iwkit_shim_qp_hold(ibqp);
    if (qp == NULL) {
        post_event(c, NULL, RDMA_CM_EVENT_CONNECT_ERROR, -ENODEV, NULL, 0);
        return NULL;
    }
    char host[INET6_ADDRSTRLEN];
    uint16_t port = 0;
    addr_host(&c->id.route.addr.dst_addr, host, sizeof host, &port);
    int rc = iwk_connect(qp, host, port, &c->param);
    struct iwk_qp_info info;
    iwk_qp_info(qp, &info);
    if (rc == 0) {
        iwk_qp_addrs(qp, &c->id.route.addr.src_storage, NULL); /* the local port is known now */
        iwkit_shim_qp_set_state(ibqp, IBV_QPS_RTS);
        post_event(c, NULL, RDMA_CM_EVENT_ESTABLISHED, 0, info.peer_private_data, info.peer_private_data_len);
        watch_connection(c, qp);
    } else if (rc == -IWK_ECONNREJECTED) {
        /* the peer's MPA Reply had R=1: the kernel's iw_cm reports it so, with the private data */
        post_event(c, NULL, RDMA_CM_EVENT_REJECTED, -ECONNREFUSED, info.peer_private_data,
                   info.peer_private_data_len);
    } else if (rc == -ECONNREFUSED) {
        post_event(c, NULL, RDMA_CM_EVENT_REJECTED, -ECONNREFUSED, NULL, 0); /* nobody listens */
    } else if (rc == -ETIMEDOUT) {
        post_event(c, NULL, RDMA_CM_EVENT_UNREACHABLE, -ETIMEDOUT, NULL, 0);
    } else {
        post_event(c, NULL, RDMA_CM_EVENT_CONNECT_ERROR, rc, NULL, 0);
    }
    iwkit_shim_qp_release(ibqp);
    return NULL;
}

static int conn_param(struct cm_id *c, const struct rdma_conn_param *p)
{
    if (env_param(&c->param) != 0)
        return EINVAL;
    if (p != NULL) {
        c->param.ird = p->responder_resources ? p->responder_resources : 1;
        c->param.ord = p->initiator_depth ? p->initiator_depth : 1;
        if (p->private_data_len > 0 && p->private_data != NULL) {
            memcpy(c->pdata, p->private_data, p->private_data_len);
            c->param.private_data = c->pdata;
            c->param.private_data_len = p->private_data_len;
        }
    }
    return 0;
}

int rdma_connect(struct rdma_cm_id *id, struct rdma_conn_param *param)
{
    struct cm_id *c = (struct cm_id *)id;
    if (id->qp == NULL || c->has_thread) {
        errno = EINVAL; /* this version connects ids that have a QP (rdma_create_qp) */
        return -1;
    }
    int rc = conn_param(c, param);
    if (rc == 0)
        rc = pthread_create(&c->thread, NULL, connect_thread, c);
    if (rc != 0) {
        errno = rc;
        return -1;
    }
    c->has_thread = 1;
    return 0;
}

static void *accepted_thread(void *arg)
{
    struct cm_id *c = arg;
    struct iwk_qp *qp = iwkit_shim_qp_hold(c->id.qp);
    if (qp == NULL)
        return NULL;
    watch_connection(c, qp);
    iwkit_shim_qp_release(c->id.qp);
    return NULL;
}

int rdma_accept(struct rdma_cm_id *id, struct rdma_conn_param *param)
{
    struct cm_id *c = (struct cm_id *)id;
    if (c->req == NULL || id->qp == NULL) {
        errno = EINVAL;
        return -1;
    }
    int rc = conn_param(c, param);
    if (rc != 0) {
        errno = rc;
        return -1;
    }
    struct iwk_conn_request *req = c->req;
    c->req = NULL;
    rc = iwk_accept(req, iwkit_shim_qp(id->qp), &c->param);
    if (rc < 0) {
        errno = rc == -IWK_ECONNREJECTED ? ECONNREFUSED : -rc;
        return -1;
    }
    iwkit_shim_qp_set_state(id->qp, IBV_QPS_RTS);
    post_event(c, NULL, RDMA_CM_EVENT_ESTABLISHED, 0, NULL, 0);
    rc = pthread_create(&c->thread, NULL, accepted_thread, c);
    if (rc != 0) {
        errno = rc;
        return -1;
    }
    c->has_thread = 1;
    return 0;
}

int rdma_reject(struct rdma_cm_id *id, const void *private_data, uint8_t private_data_len)
{
    struct cm_id *c = (struct cm_id *)id;
    if (c->req == NULL) {
        errno = EINVAL;
        return -1;
    }
    int rc = iwk_reject(c->req, private_data, private_data_len);
    c->req = NULL;
    if (rc < 0) {
        errno = -rc;
        return -1;
    }
    return 0;
}

int rdma_disconnect(struct rdma_cm_id *id)
{
    if (id->qp == NULL) {
        errno = EINVAL;
        return -1;
    }
    /* Graceful (RFC 5040 §6.2): both ends' watchers then report DISCONNECTED. */
    int rc = iwk_disconnect(iwkit_shim_qp(id->qp), 1000);
    if (rc < 0 && rc != -ENOTCONN) {
        errno = -rc;
        return -1;
    }
    return 0;
}

/* ---- listening -------------------------------------------------------------------------------- */

static void new_request(struct cm_id *l, struct iwk_conn_request *req)
{
    struct rdma_cm_id *child_id;
    if (rdma_create_id(l->id.channel, &child_id, l->id.context, l->id.ps) != 0) {
        iwk_reject(req, NULL, 0);
        return;
    }
    struct cm_id *child = (struct cm_id *)child_id;
    child->req = req;
    child->id.verbs = l->id.verbs;
    child->id.port_num = 1;
    if (iwk_conn_request_addrs(req, &child->id.route.addr.src_storage, &child->id.route.addr.dst_storage) != 0)
        child->id.route.addr.src_storage = l->id.route.addr.src_storage;
    const struct iwk_conn_request_info *info = iwk_conn_request_info(req);
    post_event(child, &l->id, RDMA_CM_EVENT_CONNECT_REQUEST, 0, info->private_data, info->private_data_len);
    /* what the peer asks of us: responder resources for its Reads (its ORD), our reads (its IRD) */
    pthread_mutex_lock(&((struct cm_channel *)l->id.channel)->lock);
    struct cm_event *e = ((struct cm_channel *)l->id.channel)->tail;
    if (e != NULL && e->ev.id == child_id) {
        e->ev.param.conn.responder_resources = (uint8_t)(info->ord > 255 ? 255 : info->ord);
        e->ev.param.conn.initiator_depth = (uint8_t)(info->ird > 255 ? 255 : info->ird);
    }
    pthread_mutex_unlock(&((struct cm_channel *)l->id.channel)->lock);
}

static void *listen_thread(void *arg)
{
    struct cm_id *l = arg;
    /* iwk_get_request keeps every half-received Request across calls: short waits keep the thread
     * responsive to rdma_destroy_id without losing a connection */
    while (!atomic_load(&l->stop)) {
        struct iwk_conn_request *req;
        if (iwk_get_request(l->listener, CM_POLL_MS, &req) == 0)
            new_request(l, req);
    }
    return NULL;
}

int rdma_listen(struct rdma_cm_id *id, int backlog)
{
    struct cm_id *c = (struct cm_id *)id;
    char host[INET6_ADDRSTRLEN] = "0.0.0.0";
    uint16_t port = 0;
    if (id->route.addr.src_addr.sa_family != 0)
        addr_host(&id->route.addr.src_addr, host, sizeof host, &port);
    else
        id->route.addr.src_addr.sa_family = AF_INET;
    if (id->verbs == NULL)
        id->verbs = cm_device();
    int rc = iwk_listen(iwkit_shim_context(id->verbs), host, port, backlog > 0 ? backlog : 16, &c->listener);
    if (rc < 0) {
        errno = -rc;
        return -1;
    }
    port = iwk_listener_port(c->listener);
    if (id->route.addr.src_addr.sa_family == AF_INET6)
        id->route.addr.src_sin6.sin6_port = htons(port);
    else
        id->route.addr.src_sin.sin_port = htons(port);
    rc = pthread_create(&c->thread, NULL, listen_thread, c);
    if (rc != 0) {
        iwk_listener_close(c->listener);
        c->listener = NULL;
        errno = rc;
        return -1;
    }
    c->has_thread = 1;
    return 0;
}

/* ---- address information ---------------------------------------------------------------------- */

int rdma_getaddrinfo(const char *node, const char *service, const struct rdma_addrinfo *hints,
                     struct rdma_addrinfo **res)
{
    struct addrinfo h = {.ai_socktype = SOCK_STREAM};
    int passive = hints != NULL && (hints->ai_flags & RAI_PASSIVE);
    if (hints != NULL) {
        h.ai_family = hints->ai_family;
        if (passive)
            h.ai_flags |= AI_PASSIVE;
        if (hints->ai_flags & RAI_NUMERICHOST)
            h.ai_flags |= AI_NUMERICHOST;
    }
    struct addrinfo *ai;
    int rc = getaddrinfo(node, service, &h, &ai);
    if (rc != 0) {
        errno = rc == EAI_SYSTEM ? errno : ENOENT;
        return rc;
    }
    struct rdma_addrinfo *r = calloc(1, sizeof *r);
    struct sockaddr *a = calloc(1, ai->ai_addrlen);
    if (r == NULL || a == NULL) {
        free(r);
        free(a);
        freeaddrinfo(ai);
        errno = ENOMEM;
        return EAI_MEMORY;
    }
    memcpy(a, ai->ai_addr, ai->ai_addrlen);
    r->ai_flags = hints != NULL ? hints->ai_flags : 0;
    r->ai_family = ai->ai_family;
    r->ai_qp_type = IBV_QPT_RC;
    r->ai_port_space = RDMA_PS_TCP;
    if (passive) {
        r->ai_src_addr = a;
        r->ai_src_len = ai->ai_addrlen;
    } else {
        r->ai_dst_addr = a;
        r->ai_dst_len = ai->ai_addrlen;
    }
    freeaddrinfo(ai);
    *res = r;
    return 0;
}

void rdma_freeaddrinfo(struct rdma_addrinfo *res)
{
    while (res != NULL) {
        struct rdma_addrinfo *n = res->ai_next;
        free(res->ai_src_addr);
        free(res->ai_dst_addr);
        free(res->ai_src_canonname);
        free(res->ai_dst_canonname);
        free(res->ai_route);
        free(res->ai_connect);
        free(res);
        res = n;
    }
}

/* ---- options and what iWARP or iwkit does not have -------------------------------------------- */

int rdma_set_option(struct rdma_cm_id *id, int level, int optname, void *optval, size_t optlen)
{
    (void)id, (void)level, (void)optname, (void)optval, (void)optlen;
    errno = ENOSYS; /* type of service, reuse address, ACK timeout: not in iwkit's API */
    return -1;
}

int rdma_migrate_id(struct rdma_cm_id *id, struct rdma_event_channel *channel)
{
    (void)id, (void)channel;
    errno = ENOSYS;
    return -1;
}

int rdma_notify(struct rdma_cm_id *id, enum ibv_event_type event)
{
    (void)id, (void)event;
    return 0; /* iWARP QPs are established by MPA: nothing to tell */
}

int rdma_init_qp_attr(struct rdma_cm_id *id, struct ibv_qp_attr *qp_attr, int *qp_attr_mask)
{
    (void)id, (void)qp_attr, (void)qp_attr_mask;
    errno = ENOSYS; /* an iWARP QP is moved through its states by rdma_cm, never by the caller */
    return -1;
}

int rdma_establish(struct rdma_cm_id *id)
{
    (void)id;
    errno = ENOSYS;
    return -1;
}

int rdma_join_multicast(struct rdma_cm_id *id, struct sockaddr *addr, void *context)
{
    (void)id, (void)addr, (void)context;
    errno = ENOSYS;
    return -1;
}

int rdma_join_multicast_ex(struct rdma_cm_id *id, struct rdma_cm_join_mc_attr_ex *mc_join_attr, void *context)
{
    (void)id, (void)mc_join_attr, (void)context;
    errno = ENOSYS;
    return -1;
}

int rdma_leave_multicast(struct rdma_cm_id *id, struct sockaddr *addr)
{
    (void)id, (void)addr;
    errno = ENOSYS;
    return -1;
}

int rdma_get_request(struct rdma_cm_id *listen, struct rdma_cm_id **id)
{
    (void)listen, (void)id;
    errno = ENOSYS; /* synchronous ids: not in this version */
    return -1;
}

int rdma_create_ep(struct rdma_cm_id **id, struct rdma_addrinfo *res, struct ibv_pd *pd,
                   struct ibv_qp_init_attr *qp_init_attr)
{
    (void)id, (void)res, (void)pd, (void)qp_init_attr;
    errno = ENOSYS;
    return -1;
}

void rdma_destroy_ep(struct rdma_cm_id *id)
{
    (void)id;
}

int rdma_create_srq(struct rdma_cm_id *id, struct ibv_pd *pd, struct ibv_srq_init_attr *attr)
{
    (void)id, (void)pd, (void)attr;
    errno = EOPNOTSUPP;
    return -1;
}

int rdma_create_srq_ex(struct rdma_cm_id *id, struct ibv_srq_init_attr_ex *attr)
{
    (void)id, (void)attr;
    errno = EOPNOTSUPP;
    return -1;
}

void rdma_destroy_srq(struct rdma_cm_id *id)
{
    (void)id;
}

int rdma_set_local_ece(struct rdma_cm_id *id, struct ibv_ece *ece)
{
    (void)id, (void)ece;
    errno = EOPNOTSUPP;
    return -1;
}

int rdma_get_remote_ece(struct rdma_cm_id *id, struct ibv_ece *ece)
{
    (void)id, (void)ece;
    errno = EOPNOTSUPP;
    return -1;
}

int rdma_reject_ece(struct rdma_cm_id *id, const void *private_data, uint8_t private_data_len)
{
    return rdma_reject(id, private_data, private_data_len);
}
