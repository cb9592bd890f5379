/* SPDX-License-Identifier: GPL-2.0 */
/*
 * tap.h - TAP output for the in-guest test programs, plus the few helpers
 * they share (errno names, opening a node or writing a sysfs file, the
 * BDF argument, /proc/self/pagemap, capabilities).
 *
 * A program prints its plan first (tap_plan), then one result per check
 * (tap_ok), and ends with tap_finish(), whose value is its exit status:
 * non-zero if a check failed or the number of results is not the plan.
 * Header only: each test is a single C file, which defines _GNU_SOURCE
 * before its first #include (errno_name() uses strerrorname_np()).
 */
#ifndef GUEST_TAP_H
#define GUEST_TAP_H

#ifndef _GNU_SOURCE
#error "define _GNU_SOURCE before the first #include to use tap.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/capability.h>

#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#endif

static int tap_planned = -1;
static int tap_count;
static int tap_failed;

static inline void tap_plan(int n)
{
	tap_planned = n;
	printf("1..%d\n", n);
	fflush(stdout);
}

__attribute__((format(printf, 1, 2)))
static inline void tap_diag(const char *fmt, ...)
{
	va_list ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

/* One result; returns @ok so that callers can chain on it */
__attribute__((format(printf, 2, 3)))
static inline bool tap_ok(bool ok, const char *fmt, ...)
{
	va_list ap;

	printf("%sok %d - ", ok ? "" : "not ", ++tap_count);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	if (!ok)
		tap_failed++;
	return ok;
}

/* Stop here: the results that follow cannot be produced. */
__attribute__((format(printf, 1, 2), noreturn))
static inline void tap_bail(const char *fmt, ...)
{
	va_list ap;

	printf("Bail out! ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	exit(1);
}

static inline int tap_finish(void)
{
	if (tap_count != tap_planned) {
		tap_diag("planned %d results, printed %d", tap_planned,
			 tap_count);
		return 1;
	}
	if (tap_failed)
		tap_diag("%d of %d checks failed", tap_failed, tap_count);
	return tap_failed ? 1 : 0;
}

/* "EPERM" for EPERM, "0" for 0 */
static inline const char *errno_name(int err)
{
	static __thread char buf[16];
	const char *name;

	if (!err)
		return "0";
	name = strerrorname_np(err);
	if (name)
		return name;
	snprintf(buf, sizeof(buf), "errno %d", err);
	return buf;
}

/* Write the string @val to @path (a sysfs or procfs file); 0 or -1 */
static inline int write_file(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, val, strlen(val));
	close(fd);
	return n == (ssize_t)strlen(val) ? 0 : -1;
}

/* Open @path read-write and close it again; 0 or the errno of open() */
static inline int open_err(const char *path)
{
	int fd = open(path, O_RDWR);

	if (fd < 0)
		return errno;
	close(fd);
	return 0;
}

/* @s is a PCI address DDDD:BB:DD.F */
static inline bool is_bdf(const char *s)
{
	unsigned int seg, bus, dev, fn;
	int len = 0;

	return s && sscanf(s, "%4x:%2x:%2x.%1x%n", &seg, &bus, &dev, &fn,
			   &len) == 4 && len == (int)strlen(s);
}

/*
 * The BDF a program on the kselftest harness is to test: its last
 * argument if that is a BDF, taken off argv (as the kernel's vfio
 * selftests do) before the harness parses its own options (-r, -f, -l,
 * ...); else $@env, which may be unset or not a BDF.
 */
static inline const char *bdf_arg(int *argc, char *argv[], const char *env)
{
	const char *bdf;

	if (*argc > 1 && is_bdf(argv[*argc - 1])) {
		bdf = argv[--*argc];
		argv[*argc] = NULL;
		return bdf;
	}
	return getenv(env);
}

/* bdf_arg(), or NULL after a usage line on stderr if that is no BDF */
static inline const char *bdf_arg_or_usage(int *argc, char *argv[],
					   const char *env)
{
	const char *bdf = bdf_arg(argc, argv, env);

	if (is_bdf(bdf))
		return bdf;
	fprintf(stderr, "usage: %s [harness options] BDF (or %s=BDF)\n",
		argv[0], env);
	return NULL;
}

/*
 * Kernel taint flags that mean the kernel reported a problem: bad page,
 * oops (die), warning, soft lockup. A test compares them before and after.
 */
#define TAINT_PROBLEMS	((1UL << 5) | (1UL << 7) | (1UL << 9) | (1UL << 14))

static inline unsigned long kernel_taint(void)
{
	unsigned long taint = 0;
	FILE *f = fopen("/proc/sys/kernel/tainted", "r");

	if (f) {
		if (fscanf(f, "%lu", &taint) != 1)
			taint = 0;
		fclose(f);
	}
	return taint;
}

/* One result: did the kernel gain a problem taint since @before? */
static inline bool tap_taint(unsigned long before)
{
	unsigned long gained = kernel_taint() & ~before & TAINT_PROBLEMS;

	return tap_ok(!gained, "the kernel reported no problem meanwhile: no new bad page, oops, warning or soft lockup taint (%#lx gained)",
		      gained);
}

#define PAGEMAP_PRESENT		(1ULL << 63)
#define PAGEMAP_PFN_MASK	((1ULL << 55) - 1)

/*
 * Physical addresses of the @nr 4K pages from @va (page aligned) according
 * to the pagemap file @fd (/proc/self/pagemap opened with CAP_SYS_ADMIN,
 * else every PFN reads 0). A page that is not present reads 0. Returns 0,
 * or -1 if pagemap could not be read.
 */
static inline int pagemap_pas(int fd, const void *va, size_t nr, uint64_t *pa)
{
	size_t page = getpagesize(), done = 0, i;
	uintptr_t first = (uintptr_t)va / page;

	while (done < nr) {
		ssize_t n = pread(fd, pa + done, (nr - done) * sizeof(*pa),
				  (first + done) * sizeof(*pa));

		if (n <= 0 || n % sizeof(*pa))
			return -1;
		done += n / sizeof(*pa);
	}
	for (i = 0; i < nr; i++)
		pa[i] = (pa[i] & PAGEMAP_PRESENT) ?
			(pa[i] & PAGEMAP_PFN_MASK) * page : 0;
	return 0;
}

/* Physical address of the byte at @va, 0 if unknown */
static inline uint64_t pagemap_pa(int fd, const void *va)
{
	size_t page = getpagesize();
	uint64_t pa;

	if (pagemap_pas(fd, (const void *)((uintptr_t)va / page * page), 1,
			&pa) || !pa)
		return 0;
	return pa + (uintptr_t)va % page;
}

/*
 * Set this thread's capability sets (bits of CAP_* in @effective and
 * @permitted, inheritable cleared). Returns 0 or -1 with errno.
 */
static inline int caps_set(uint64_t effective, uint64_t permitted)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {
		{ .effective = (uint32_t)effective,
		  .permitted = (uint32_t)permitted },
		{ .effective = (uint32_t)(effective >> 32),
		  .permitted = (uint32_t)(permitted >> 32) },
	};

	return syscall(SYS_capset, &hdr, data);
}

/* This thread's effective capabilities, as a bit mask; 0 on error */
static inline uint64_t caps_effective(void)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};

	if (syscall(SYS_capget, &hdr, data))
		return 0;
	return data[0].effective | (uint64_t)data[1].effective << 32;
}

/* Drop @cap from this thread's effective and permitted sets */
static inline int caps_drop(int cap)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];

	if (syscall(SYS_capget, &hdr, data))
		return -1;
	data[CAP_TO_INDEX(cap)].effective &= ~CAP_TO_MASK(cap);
	data[CAP_TO_INDEX(cap)].permitted &= ~CAP_TO_MASK(cap);
	data[CAP_TO_INDEX(cap)].inheritable &= ~CAP_TO_MASK(cap);
	return syscall(SYS_capset, &hdr, data);
}

#endif /* GUEST_TAP_H */
