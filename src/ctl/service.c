/* SPDX-License-Identifier: MIT */
/*
 * service.c - readiness and state for systemd's Type=notify, through
 * libsystemd's sd_notify(). Outside a unit (no $NOTIFY_SOCKET) every call
 * does nothing. The socket stays usable after --user drops root: systemd's
 * notify socket takes messages from any user of the service's cgroup.
 */
#include <stdio.h>
#include <systemd/sd-daemon.h>

#include "ctl/service.h"

/** service_ready() - every port of the config exists and listens */
void service_ready(unsigned int nports, const char *ctl_path)
{
	sd_notifyf(0, "READY=1\nSTATUS=switching between %u ports; control socket %s",
		   nports, ctl_path);
}

/** service_reloading() - a reload (SIGHUP, ExecReload) has begun */
void service_reloading(void)
{
	sd_notify(0, "RELOADING=1\nSTATUS=reloading the configuration");
}

/** service_reloaded() - the reload is over; @why_refused is NULL if applied */
void service_reloaded(const char *why_refused)
{
	if (why_refused)
		sd_notifyf(0, "READY=1\nSTATUS=reload refused, old config kept: %s",
			   why_refused);
	else
		sd_notify(0, "READY=1\nSTATUS=configuration reloaded");
}

/** service_stopping() - the switch is shutting down */
void service_stopping(void)
{
	sd_notify(0, "STOPPING=1");
}
