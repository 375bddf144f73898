/* SPDX-License-Identifier: MIT */
/* top.h - `vmswitch ctl top`: a refreshing per-port view */
#ifndef VMSW_CTL_TOP_H
#define VMSW_CTL_TOP_H

int ctl_top(const char *path);

#endif /* VMSW_CTL_TOP_H */
