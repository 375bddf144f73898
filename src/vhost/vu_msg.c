/* SPDX-License-Identifier: MIT */
/* vu_msg.c - read vhost-user messages with their fds, write replies */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vhost/vu_msg.h"

/* Room for as many fds as the kernel passes at once (SCM_MAX_FD), so none
 * is silently lost and every extra one is closed here. */
#define SCM_MAX_FD_LINUX	253

static const char *const request_names[VHOST_USER_MAX_KNOWN] = {
	[VHOST_USER_GET_FEATURES] = "GET_FEATURES",
	[VHOST_USER_SET_FEATURES] = "SET_FEATURES",
	[VHOST_USER_SET_OWNER] = "SET_OWNER",
	[VHOST_USER_RESET_OWNER] = "RESET_OWNER",
	[VHOST_USER_SET_MEM_TABLE] = "SET_MEM_TABLE",
	[VHOST_USER_SET_LOG_BASE] = "SET_LOG_BASE",
	[VHOST_USER_SET_LOG_FD] = "SET_LOG_FD",
	[VHOST_USER_SET_VRING_NUM] = "SET_VRING_NUM",
	[VHOST_USER_SET_VRING_ADDR] = "SET_VRING_ADDR",
	[VHOST_USER_SET_VRING_BASE] = "SET_VRING_BASE",
	[VHOST_USER_GET_VRING_BASE] = "GET_VRING_BASE",
	[VHOST_USER_SET_VRING_KICK] = "SET_VRING_KICK",
	[VHOST_USER_SET_VRING_CALL] = "SET_VRING_CALL",
	[VHOST_USER_SET_VRING_ERR] = "SET_VRING_ERR",
	[VHOST_USER_GET_PROTOCOL_FEATURES] = "GET_PROTOCOL_FEATURES",
	[VHOST_USER_SET_PROTOCOL_FEATURES] = "SET_PROTOCOL_FEATURES",
	[VHOST_USER_GET_QUEUE_NUM] = "GET_QUEUE_NUM",
	[VHOST_USER_SET_VRING_ENABLE] = "SET_VRING_ENABLE",
	[VHOST_USER_SEND_RARP] = "SEND_RARP",
};

/** vu_request_name() - printable name of a request code */
const char *vu_request_name(uint32_t request)
{
	if (request < VHOST_USER_MAX_KNOWN && request_names[request])
		return request_names[request];
	return "unknown request";
}

/** vu_msg_close_fds() - close every fd still held by @m */
void vu_msg_close_fds(struct vu_msg *m)
{
	unsigned int i;

	for (i = 0; i < m->nfds; i++) {
		if (m->fds[i] >= 0)
			close(m->fds[i]);
		m->fds[i] = -1;
	}
	m->nfds = 0;
}

/** vu_reader_reset() - forget the message in @r, closing its fds */
void vu_reader_reset(struct vu_reader *r)
{
	vu_msg_close_fds(&r->msg);
	memset(r, 0, sizeof(*r));
}

/* Keep up to VU_MAX_FDS fds from a control message, close the rest. */
static void take_fds(struct vu_msg *m, struct msghdr *mh)
{
	struct cmsghdr *c;

	for (c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		size_t i, n;
		int fd;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < n; i++) {
			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (m->nfds < VU_MAX_FDS) {
				m->fds[m->nfds++] = fd;
			} else {
				close(fd);
				m->fds_dropped++;
			}
		}
	}
}

/* One recvmsg of at most @len bytes into @buf, collecting fds. */
static ssize_t read_some(int sock, struct vu_msg *m, void *buf, size_t len)
{
	char control[CMSG_SPACE(SCM_MAX_FD_LINUX * sizeof(int))];
	struct iovec iov = { buf, len };
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = control, .msg_controllen = sizeof(control),
	};
	ssize_t n = recvmsg(sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

	if (n > 0)
		take_fds(m, &mh);
	return n;
}

/**
 * vu_msg_read() - continue reading one message from @sock
 * @sock:	connected, non-blocking socket
 * @r:		reader state; holds the message when complete
 *
 * Return: 1 when r->msg is complete, 0 if more bytes are needed, -EPIPE on
 *	   a closed connection, -EMSGSIZE for an oversized payload, -errno
 */
int vu_msg_read(int sock, struct vu_reader *r)
{
	struct vu_msg *m = &r->msg;
	size_t hlen = sizeof(m->hdr);

	for (;;) {
		size_t want, total = hlen + (r->got >= hlen ? m->hdr.size : 0);
		ssize_t n;

		if (r->got >= hlen && m->hdr.size > sizeof(m->p))
			return -EMSGSIZE;
		if (r->got == total && r->got >= hlen)
			return 1;
		want = total - r->got;
		if (r->got < hlen)
			n = read_some(sock, m, (char *)&m->hdr + r->got, want);
		else
			n = read_some(sock, m, m->p.raw + (r->got - hlen), want);
		if (n == 0)
			return -EPIPE;
		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
		r->got += (size_t)n;
	}
}

/**
 * vu_msg_reply() - send a reply: flags exactly VERSION|REPLY, exact size
 * @sock:	connected socket
 * @request:	the request being answered
 * @payload:	reply body
 * @size:	body length
 *
 * Return: 0 or -errno (a short write counts as -EPIPE)
 */
int vu_msg_reply(int sock, uint32_t request, const void *payload, uint32_t size)
{
	struct vu_hdr h = { request, VHOST_USER_VERSION | VHOST_USER_REPLY_FLAG,
			    size };
	struct iovec iov[2] = { { &h, sizeof(h) }, { (void *)payload, size } };
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 2 };
	ssize_t n = sendmsg(sock, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);

	if (n < 0)
		return -errno;
	return (size_t)n == sizeof(h) + size ? 0 : -EPIPE;
}
