/* SPDX-License-Identifier: MIT */
/*
 * exporter.h - `vmswitch exporter`: Prometheus over HTTP, a client of the
 * control socket, so that the switch itself carries no HTTP server
 */
#ifndef VMSW_CTL_EXPORTER_H
#define VMSW_CTL_EXPORTER_H

#include <stddef.h>

#define EXPORTER_DEFAULT_PORT	"9472"
#define EXPORTER_DEFAULT_LISTEN	"127.0.0.1:" EXPORTER_DEFAULT_PORT
#define EXPORTER_HOST_MAX	256	/* bytes of ADDR, with its NUL */
#define EXPORTER_PORT_MAX	6	/* bytes of PORT, with its NUL */

/**
 * struct exporter_answer - what one scrape answers over HTTP
 * @status:	200, 502 (the switch refused or answered nonsense) or 503
 *		(no switch answered)
 * @body:	malloc'd: the metrics, or one line saying why not
 * @len:	bytes in @body
 */
struct exporter_answer {
	unsigned int status;
	char *body;
	size_t len;
};

int exporter_main(int argc, char **argv);
int exporter_split_listen(const char *spec, char *host, char *port);
int exporter_answer_from_reply(char *reply, size_t len,
			       struct exporter_answer *a);

#endif /* VMSW_CTL_EXPORTER_H */
