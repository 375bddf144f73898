/* SPDX-License-Identifier: MIT */
/*
 * netdev.h - kernel network interfaces by name: index, MTU, flags
 *
 * Control-path helpers for the ports that attach to a kernel interface (tap,
 * afpacket). Each call opens and closes its own ioctl socket; none of them
 * belongs on the datapath.
 */
#ifndef VMSW_NETDEV_H
#define VMSW_NETDEV_H

#include <stdbool.h>

bool netdev_valid_name(const char *name);
int netdev_ifindex(const char *name);
int netdev_get_mtu(const char *name, unsigned int *mtu);
int netdev_set_mtu(const char *name, unsigned int mtu);
int netdev_get_flags(const char *name, unsigned int *flags);
int netdev_set_up(const char *name);

#endif /* VMSW_NETDEV_H */
