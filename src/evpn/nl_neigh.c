/* SPDX-License-Identifier: MIT */
/* nl_neigh.c - one bridge-family neighbour message, checked (see nl_neigh.h) */
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <string.h>
#include <sys/socket.h>

#include "evpn/nl_neigh.h"

/*
 * Each known attribute of @nlh into @tb (the last of a type wins; unknown
 * types are skipped); -EINVAL unless the attributes fill the payload
 * exactly (one that overruns it, or bytes left that make none).
 */
static int attrs_index(const struct nlmsghdr *nlh, const struct nlattr **tb)
{
	const struct nlattr *a = mnl_nlmsg_get_payload_offset(nlh, sizeof(struct ndmsg));
	int left = (int)((const char *)mnl_nlmsg_get_payload_tail(nlh) -
			 (const char *)a);

	while (mnl_attr_ok(a, left)) {
		if (mnl_attr_type_valid(a, NDA_MAX) > 0)
			tb[mnl_attr_get_type(a)] = a;
		left -= (int)MNL_ALIGN(a->nla_len);
		a = mnl_attr_next(a);
	}
	return left > 0 ? -EINVAL : 0;
}

/* NDA_DST: 4 bytes IPv4 or 16 bytes IPv6; 0 or -EINVAL. */
static int read_dst(const struct nlattr *a, union vx_addr *dst)
{
	uint16_t len = mnl_attr_get_payload_len(a);

	memset(dst, 0, sizeof(*dst));
	if (len == sizeof(dst->v4.sin_addr)) {
		dst->v4.sin_family = AF_INET;
		memcpy(&dst->v4.sin_addr, mnl_attr_get_payload(a), len);
	} else if (len == sizeof(dst->v6.sin6_addr)) {
		dst->v6.sin6_family = AF_INET6;
		memcpy(&dst->v6.sin6_addr, mnl_attr_get_payload(a), len);
	} else {
		return -EINVAL;
	}
	return 0;
}

/*
 * The attributes of @nlh into @out; 0 or -EINVAL (a MAC not of 6 bytes, an
 * address of another size, attributes that overrun the message).
 */
static int read_attrs(const struct nlmsghdr *nlh, struct nl_neigh *out)
{
	const struct nlattr *tb[NDA_MAX + 1] = { 0 };

	if (attrs_index(nlh, tb))
		return -EINVAL;
	if (tb[NDA_LLADDR]) {
		if (mnl_attr_get_payload_len(tb[NDA_LLADDR]) != 6)
			return -EINVAL;
		memcpy(out->mac, mnl_attr_get_payload(tb[NDA_LLADDR]), 6);
		out->has_mac = true;
	}
	if (tb[NDA_DST] && read_dst(tb[NDA_DST], &out->dst))
		return -EINVAL;
	out->has_nhid = tb[NDA_NH_ID] != NULL;
	return 0;
}

/**
 * nl_msg_ok() - does a whole message start at @nlh, with @left bytes
 * received from there? As mnl_nlmsg_ok(), which compares the length as a
 * signed int: a length near 4 GiB passes it and then aligns to 0 in
 * mnl_nlmsg_next(), a loop that never ends (found by fuzz_evpn_neigh).
 */
bool nl_msg_ok(const struct nlmsghdr *nlh, int left)
{
	return left >= (int)sizeof(*nlh) && nlh->nlmsg_len >= sizeof(*nlh) &&
	       nlh->nlmsg_len <= (uint32_t)left;
}

/**
 * nl_neigh_parse() - read the neighbour message @nlh
 * @nlh:	one message whose nlmsg_len the caller checked against what it
 *		received (nl_msg_ok())
 * @out:	what it says
 *
 * Return: 0; -ENOENT for what is not a bridge-family neighbour message
 * (another type or family: not for EVPN); -EINVAL for a malformed one
 */
int nl_neigh_parse(const struct nlmsghdr *nlh, struct nl_neigh *out)
{
	const struct ndmsg *nd;

	memset(out, 0, sizeof(*out));
	if (nlh->nlmsg_type != RTM_NEWNEIGH && nlh->nlmsg_type != RTM_DELNEIGH)
		return -ENOENT;
	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*nd))
		return -EINVAL;
	nd = mnl_nlmsg_get_payload(nlh);
	if (nd->ndm_family != AF_BRIDGE)
		return -ENOENT;
	out->del = nlh->nlmsg_type == RTM_DELNEIGH;
	if (nd->ndm_ifindex <= 0)
		return -EINVAL;
	out->ifindex = (uint32_t)nd->ndm_ifindex;
	out->flags = nd->ndm_flags;
	out->state = nd->ndm_state;
	return read_attrs(nlh, out);
}

/** nl_neigh_mac_zero() - the all-zero MAC of a flood-list entry? */
bool nl_neigh_mac_zero(const struct nl_neigh *n)
{
	static const uint8_t zero[6];

	return n->has_mac && !memcmp(n->mac, zero, 6);
}
