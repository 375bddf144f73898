/* SPDX-License-Identifier: MIT */
/* service.h - telling the service manager (systemd, Type=notify) what the switch is doing */
#ifndef VMSW_CTL_SERVICE_H
#define VMSW_CTL_SERVICE_H

void service_ready(unsigned int nports, const char *ctl_path);
void service_reloading(void);
void service_reloaded(const char *why_refused);
void service_stopping(void);

#endif
