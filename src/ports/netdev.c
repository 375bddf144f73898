/* SPDX-License-Identifier: MIT */
/* netdev.c - kernel network interfaces by name: index, MTU, flags */
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ports/netdev.h"

/**
 * netdev_valid_name() - could @name be a Linux interface name?
 * @name:	candidate
 *
 * The kernel's own rule (dev_valid_name): 1 to 15 bytes, not "." or "..",
 * no '/', ':' or white space.
 *
 * Return: true if the kernel would accept it
 */
bool netdev_valid_name(const char *name)
{
	size_t len = strlen(name);

	if (!len || len >= IFNAMSIZ || !strcmp(name, ".") || !strcmp(name, ".."))
		return false;
	return strcspn(name, "/: \t\n") == len;
}

/* One SIOC[GS]IF* request on @name; @ifr carries the value in and out. */
static int ifreq_ioctl(const char *name, unsigned long req, struct ifreq *ifr)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), rc = 0;

	if (s < 0)
		return -errno;
	snprintf(ifr->ifr_name, sizeof(ifr->ifr_name), "%s", name);
	if (ioctl(s, req, ifr) < 0)
		rc = -errno;
	close(s);
	return rc;
}

/**
 * netdev_ifindex() - index of interface @name
 * @name:	interface name
 *
 * Return: the index (> 0) or -errno (-ENODEV: no such interface)
 */
int netdev_ifindex(const char *name)
{
	unsigned int idx = if_nametoindex(name);

	return idx ? (int)idx : -(errno == ENXIO ? ENODEV : errno);
}

/**
 * netdev_get_mtu() - MTU of interface @name
 * @name:	interface name
 * @mtu:	the MTU (L3 bytes, without the Ethernet header)
 *
 * Return: 0 or -errno
 */
int netdev_get_mtu(const char *name, unsigned int *mtu)
{
	struct ifreq ifr = { 0 };
	int rc = ifreq_ioctl(name, SIOCGIFMTU, &ifr);

	if (!rc)
		*mtu = (unsigned int)ifr.ifr_mtu;
	return rc;
}

/**
 * netdev_set_mtu() - set the MTU of interface @name
 * @name:	interface name
 * @mtu:	new MTU
 *
 * Return: 0 or -errno
 */
int netdev_set_mtu(const char *name, unsigned int mtu)
{
	struct ifreq ifr = { .ifr_mtu = (int)mtu };

	return ifreq_ioctl(name, SIOCSIFMTU, &ifr);
}

/**
 * netdev_get_flags() - IFF_* flags of interface @name
 * @name:	interface name
 * @flags:	IFF_UP, IFF_RUNNING (carrier), IFF_PROMISC, ...
 *
 * Return: 0 or -errno
 */
int netdev_get_flags(const char *name, unsigned int *flags)
{
	struct ifreq ifr = { 0 };
	int rc = ifreq_ioctl(name, SIOCGIFFLAGS, &ifr);

	if (!rc)
		*flags = (unsigned short)ifr.ifr_flags;
	return rc;
}

/**
 * netdev_set_up() - bring interface @name up (its addresses are left alone)
 * @name:	interface name
 *
 * Return: 0 or -errno
 */
int netdev_set_up(const char *name)
{
	struct ifreq ifr = { 0 };
	int rc = ifreq_ioctl(name, SIOCGIFFLAGS, &ifr);

	if (rc || (ifr.ifr_flags & IFF_UP))
		return rc;
	ifr.ifr_flags |= IFF_UP;
	return ifreq_ioctl(name, SIOCSIFFLAGS, &ifr);
}
