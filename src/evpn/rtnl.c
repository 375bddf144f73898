/* SPDX-License-Identifier: MIT */
/* rtnl.c - rtnetlink requests with an acknowledgement, through libmnl */
#include <errno.h>
#include <net/if.h>
#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "evpn/rtnl.h"

#define RTNL_BUF	8192	/* a request, or an acknowledgement echoing one */

/** rtnl_open() - a socket for requests. Return: 0 or -errno */
int rtnl_open(struct rtnl *r)
{
	r->nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
	if (!r->nl)
		return -errno;
	if (mnl_socket_bind(r->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		int e = errno;

		rtnl_close(r);
		return -e;
	}
	r->portid = mnl_socket_get_portid(r->nl);
	r->seq = (uint32_t)time(NULL);
	return 0;
}

void rtnl_close(struct rtnl *r)
{
	if (r->nl)
		mnl_socket_close(r->nl);
	r->nl = NULL;
}

/* A request header of @type with @flags (plus REQUEST and ACK) in @buf. */
static struct nlmsghdr *request(struct rtnl *r, void *buf, uint16_t type,
				uint16_t flags)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);

	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
	nlh->nlmsg_seq = ++r->seq;
	return nlh;
}

/* Send @nlh and wait for its acknowledgement; 0 or the kernel's -errno. */
static int transact(struct rtnl *r, struct nlmsghdr *nlh)
{
	char buf[RTNL_BUF] __attribute__((aligned(4)));
	ssize_t n;
	int rc;

	if (mnl_socket_sendto(r->nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	do {
		n = mnl_socket_recvfrom(r->nl, buf, sizeof(buf));
		if (n < 0)
			return -errno;
		rc = mnl_cb_run(buf, (size_t)n, nlh->nlmsg_seq, r->portid, NULL, NULL);
	} while (rc == MNL_CB_OK);
	return rc < 0 ? -errno : 0;
}

/* A new link called @name of @kind; IFLA_INFO_DATA is left open when @data. */
static struct nlmsghdr *new_link(struct rtnl *r, void *buf, const char *name,
				 const char *kind, struct nlattr **linkinfo)
{
	struct nlmsghdr *nlh = request(r, buf, RTM_NEWLINK,
				       NLM_F_CREATE | NLM_F_EXCL);
	struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));

	ifi->ifi_family = AF_UNSPEC;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	*linkinfo = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
	mnl_attr_put_strz(nlh, IFLA_INFO_KIND, kind);
	return nlh;
}

/** rtnl_add_bridge() - a Linux bridge @name. Return: 0 or -errno */
int rtnl_add_bridge(struct rtnl *r, const char *name)
{
	char buf[RTNL_BUF] __attribute__((aligned(4)));
	struct nlattr *li;
	struct nlmsghdr *nlh = new_link(r, buf, name, "bridge", &li);

	mnl_attr_nest_end(nlh, li);
	return transact(r, nlh);
}

/**
 * rtnl_add_vxlan() - a VXLAN device that learns nothing by itself
 * @r:		socket
 * @name:	device name
 * @vni:	its VNI
 * @local:	the local VTEP address
 * @dstport:	its UDP port (one vmswitch does not use: no traffic wanted)
 *
 * Return: 0 or -errno
 */
int rtnl_add_vxlan(struct rtnl *r, const char *name, uint32_t vni,
		   const union vx_addr *local, uint16_t dstport)
{
	char buf[RTNL_BUF] __attribute__((aligned(4)));
	struct nlattr *li, *data;
	struct nlmsghdr *nlh = new_link(r, buf, name, "vxlan", &li);

	data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
	mnl_attr_put_u32(nlh, IFLA_VXLAN_ID, vni);
	if (local->sa.sa_family == AF_INET6)
		mnl_attr_put(nlh, IFLA_VXLAN_LOCAL6, sizeof(local->v6.sin6_addr),
			     &local->v6.sin6_addr);
	else
		mnl_attr_put(nlh, IFLA_VXLAN_LOCAL, sizeof(local->v4.sin_addr),
			     &local->v4.sin_addr);
	mnl_attr_put_u16(nlh, IFLA_VXLAN_PORT, htons(dstport));
	mnl_attr_put_u8(nlh, IFLA_VXLAN_LEARNING, 0);
	mnl_attr_nest_end(nlh, data);
	mnl_attr_nest_end(nlh, li);
	return transact(r, nlh);
}

/** rtnl_add_veth() - a veth pair @name and @peer. Return: 0 or -errno */
int rtnl_add_veth(struct rtnl *r, const char *name, const char *peer)
{
	char buf[RTNL_BUF] __attribute__((aligned(4)));
	struct nlattr *li, *data, *p;
	struct nlmsghdr *nlh = new_link(r, buf, name, "veth", &li);
	struct ifinfomsg *ifi;

	data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
	p = mnl_attr_nest_start(nlh, VETH_INFO_PEER);
	ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, peer);
	mnl_attr_nest_end(nlh, p);
	mnl_attr_nest_end(nlh, data);
	mnl_attr_nest_end(nlh, li);
	return transact(r, nlh);
}

/** rtnl_set_master_up() - put @name in bridge @master (if any), and up */
int rtnl_set_master_up(struct rtnl *r, const char *name, const char *master)
{
	char buf[RTNL_BUF] __attribute__((aligned(4)));
	struct nlmsghdr *nlh = request(r, buf, RTM_NEWLINK, 0);
	struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));

	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = (int)if_nametoindex(name);
	if (!ifi->ifi_index)
		return -ENODEV;
	ifi->ifi_flags = IFF_UP;
	ifi->ifi_change = IFF_UP;
	if (master) {
		unsigned int m = if_nametoindex(master);

		if (!m)
			return -ENODEV;
		mnl_attr_put_u32(nlh, IFLA_MASTER, m);
	}
	return transact(r, nlh);
}

/** rtnl_del_link() - delete link @name. Return: 0 or -errno (-ENODEV: none) */
int rtnl_del_link(struct rtnl *r, const char *name)
{
	char buf[RTNL_BUF] __attribute__((aligned(4)));
	struct nlmsghdr *nlh = request(r, buf, RTM_DELLINK, 0);
	struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));

	ifi->ifi_family = AF_UNSPEC;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	return transact(r, nlh);
}

/**
 * rtnl_fdb() - add or remove a static FDB entry for @mac on bridge port
 * @ifindex (the bridge's table: NTF_MASTER), as `bridge fdb replace MAC dev
 * DEV master static` does
 *
 * Return: 0 or -errno
 */
int rtnl_fdb(struct rtnl *r, bool add, uint32_t ifindex, const uint8_t *mac)
{
	char buf[RTNL_BUF] __attribute__((aligned(4)));
	struct nlmsghdr *nlh = add ?
		request(r, buf, RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE) :
		request(r, buf, RTM_DELNEIGH, 0);
	struct ndmsg *nd = mnl_nlmsg_put_extra_header(nlh, sizeof(*nd));

	nd->ndm_family = AF_BRIDGE;
	nd->ndm_ifindex = (int)ifindex;
	nd->ndm_flags = NTF_MASTER;
	nd->ndm_state = NUD_NOARP;
	mnl_attr_put(nlh, NDA_LLADDR, 6, mac);
	return transact(r, nlh);
}
