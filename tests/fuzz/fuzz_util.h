/* SPDX-License-Identifier: MIT */
/*
 * fuzz_util.h - what the fuzz targets share besides the log set-up: fd
 * accounting, a scratch directory for the files an input makes, and a
 * private network namespace for the ports an input starts
 */
#ifndef VMSW_FUZZ_UTIL_H
#define VMSW_FUZZ_UTIL_H

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Open fds of this process. */
static inline int fuzz_count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		abort();
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* For the report of a leak: what each open fd is. */
static inline void fuzz_list_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	char path[300], target[256];
	ssize_t n;

	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
		n = readlink(path, target, sizeof(target) - 1);
		target[n > 0 ? n : 0] = '\0';
		dprintf(2, "  fd %s -> %s\n", e->d_name, target);
	}
	if (d)
		closedir(d);
}

/* Abort if the input left fds open (or closed some of ours). */
static inline void fuzz_check_fds(int baseline, const char *when)
{
	int now = fuzz_count_fds();

	if (now == baseline)
		return;
	dprintf(2, "BUG: fd leak %s: %d fds open, %d before\n", when, now,
		baseline);
	fuzz_list_fds();
	abort();
}

static char fuzz_scratch[64];

/* Remove every file in @dir (no subdirectories are made there). */
static inline void fuzz_empty_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	while (d && (e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			unlinkat(dirfd(d), e->d_name, 0);
	if (d)
		closedir(d);
}

static inline void fuzz_remove_scratch(void)
{
	fuzz_empty_dir(fuzz_scratch);
	rmdir(fuzz_scratch);
}

/*
 * A fresh directory, removed at exit; the file names an input gives
 * (sockets, captures) are made there and nowhere else. In /dev/shm where
 * there is one: files made and removed 1000 times a second cost a disk
 * file system's journal far more than the input itself.
 */
static inline const char *fuzz_scratch_dir(const char *target)
{
	const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";

	snprintf(fuzz_scratch, sizeof(fuzz_scratch), "%s/vmsw-%s.XXXXXX", base,
		 target);
	if (!mkdtemp(fuzz_scratch))
		abort();
	atexit(fuzz_remove_scratch);
	return fuzz_scratch;
}

/*
 * A target that runs its inputs inside the scratch directory: libFuzzer
 * writes a crashing input to -artifact_prefix (default "./") from its crash
 * handler, so a relative prefix would put it in the scratch directory, which
 * goes away. Make it absolute, adding "-artifact_prefix=$PWD/" if missing.
 */
static inline void fuzz_absolute_artifacts(int *argc, char ***argv)
{
	static const char flag[] = "-artifact_prefix=";
	static char *args[256];
	static char buf[PATH_MAX + sizeof(flag) + 256];
	char cwd[PATH_MAX];
	int i, found = -1;

	if (*argc >= 255 || !getcwd(cwd, sizeof(cwd)))
		abort();
	for (i = 0; i < *argc; i++) {
		args[i] = (*argv)[i];
		if (!strncmp(args[i], flag, sizeof(flag) - 1))
			found = i;
	}
	if (found < 0) {
		found = (*argc)++;
		snprintf(buf, sizeof(buf), "%s%s/", flag, cwd);
	} else if (args[found][sizeof(flag) - 1] != '/') {
		snprintf(buf, sizeof(buf), "%s%s/%s", flag, cwd,
			 args[found] + sizeof(flag) - 1);
	} else {
		return;
	}
	args[found] = buf;
	args[*argc] = NULL;
	*argv = args;
}

#ifndef CAP_PERFMON
#define CAP_PERFMON	38
#endif
#ifndef CAP_BPF
#define CAP_BPF		39
#endif

/* Take @caps out of this process's effective and permitted sets. */
static inline void fuzz_drop_caps(const int *caps, size_t n)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];
	size_t i;

	if (syscall(SYS_capget, &h, d) < 0)
		return;		/* no capabilities to drop */
	for (i = 0; i < n; i++) {
		d[caps[i] / 32].effective &= ~(1u << caps[i] % 32);
		d[caps[i] / 32].permitted &= ~(1u << caps[i] % 32);
	}
	if (syscall(SYS_capset, &h, d) < 0)
		abort();
}

/*
 * Keep what an input starts off the host: a network namespace of its own
 * (unshare as root, or as an unprivileged user inside a user namespace),
 * and without the capabilities that make kernel devices or load programs.
 * Starting a tap, afpacket or afxdp port then fails at once (EPERM): its
 * start path is not this fuzzer's subject, and making a real device costs
 * tens of milliseconds, 10 times a request. A vxlan port (a UDP socket)
 * still starts, inside the namespace.
 *
 * Return: true in a private namespace
 */
static inline bool fuzz_private_net(void)
{
	static const int caps[] = {
		CAP_NET_ADMIN, CAP_NET_RAW, CAP_SYS_ADMIN, CAP_BPF, CAP_PERFMON,
		CAP_SYS_MODULE,
	};
	bool own = unshare(CLONE_NEWNET) == 0 ||
		   unshare(CLONE_NEWUSER | CLONE_NEWNET) == 0;

	fuzz_drop_caps(caps, sizeof(caps) / sizeof(caps[0]));
	return own;
}

#endif /* VMSW_FUZZ_UTIL_H */
