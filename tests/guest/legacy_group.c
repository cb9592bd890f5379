// SPDX-License-Identifier: GPL-2.0
/*
 * legacy_group: the legacy VFIO group no-IOMMU path on QEMU's edu device.
 *
 * usage: legacy_group BDF   (BDF already bound to vfio-pci)
 *
 * Opens /dev/vfio/noiommu-N through a /dev/vfio/vfio container with the
 * VFIO_NOIOMMU_IOMMU backend, gets the device fd and talks to the edu
 * device through BAR0. Prints TAP, one line per check, always all
 * NTESTS lines: a check whose prerequisite failed is reported "not ok",
 * never skipped over. Exits 1 if any check failed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/vfio.h>

#include "tap.h"

#define NTESTS		14

#define EDU_ID		0x00
#define EDU_ID_VALUE	0x010000ed
#define EDU_LIVENESS	0x04
#define EDU_BAR0_SIZE	0x100000

#define NOIOMMU_MODE	"/sys/module/vfio/parameters/enable_unsafe_noiommu_mode"

static bool read_sysfs(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	bool ok;

	if (!f) {
		tap_diag("%s: %s", path, strerror(errno));
		return false;
	}
	ok = fgets(buf, len, f) != NULL;
	fclose(f);
	if (ok)
		buf[strcspn(buf, "\n")] = '\0';
	return ok;
}

/* /sys/bus/pci/devices/BDF/iommu_group -> .../iommu_groups/N: return N. */
static int iommu_group_nr(const char *bdf)
{
	char path[PATH_MAX], target[PATH_MAX];
	const char *slash;
	ssize_t n;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/iommu_group", bdf);
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0) {
		tap_diag("readlink %s: %s", path, strerror(errno));
		return -1;
	}
	target[n] = '\0';
	slash = strrchr(target, '/');
	return atoi(slash ? slash + 1 : target);
}

static bool region_read32(int fd, uint64_t base, uint64_t off, uint32_t *val)
{
	ssize_t n = pread(fd, val, sizeof(*val), base + off);

	if (n != sizeof(*val)) {
		tap_diag("pread BAR0+0x%llx: %s", (unsigned long long)off,
			 n < 0 ? strerror(errno) : "short read");
		return false;
	}
	return true;
}

static bool region_write32(int fd, uint64_t base, uint64_t off, uint32_t val)
{
	ssize_t n = pwrite(fd, &val, sizeof(val), base + off);

	if (n != sizeof(val)) {
		tap_diag("pwrite BAR0+0x%llx: %s", (unsigned long long)off,
			 n < 0 ? strerror(errno) : "short write");
		return false;
	}
	return true;
}

int main(int argc, char **argv)
{
	struct vfio_group_status status = { .argsz = sizeof(status) };
	struct vfio_device_info info = { .argsz = sizeof(info) };
	struct vfio_region_info bar0 = {
		.argsz = sizeof(bar0),
		.index = VFIO_PCI_BAR0_REGION_INDEX,
	};
	int container = -1, group = -1, device = -1, grp_nr, ret;
	bool have_api = false, have_group_node = false, set = false;
	bool have_bar0 = false, ok;
	char path[PATH_MAX], buf[64];
	const char *bdf;
	uint32_t val = 0, pattern = 0x12345678;

	if (argc != 2) {
		fprintf(stderr, "usage: %s BDF (bound to vfio-pci)\n", argv[0]);
		return 2;
	}
	bdf = argv[1];

	tap_plan(NTESTS);

	/* 1 */
	tap_ok(read_sysfs(NOIOMMU_MODE, buf, sizeof(buf)) && !strcmp(buf, "Y"),
	       "vfio enable_unsafe_noiommu_mode is Y");

	/* 2 */
	grp_nr = iommu_group_nr(bdf);
	snprintf(path, sizeof(path), "/dev/vfio/noiommu-%d", grp_nr);
	have_group_node = grp_nr >= 0 && access(path, F_OK) == 0;
	if (grp_nr >= 0 && !have_group_node)
		tap_diag("%s: %s", path, strerror(errno));
	tap_ok(have_group_node, "%s has group node %s", bdf, path);

	/* 3 */
	container = open("/dev/vfio/vfio", O_RDWR);
	if (container < 0)
		tap_diag("open /dev/vfio/vfio: %s", strerror(errno));
	tap_ok(container >= 0, "open /dev/vfio/vfio");

	/* 4 */
	ret = container >= 0 ? ioctl(container, VFIO_GET_API_VERSION) : -1;
	have_api = ret == VFIO_API_VERSION;
	tap_ok(have_api, "VFIO_GET_API_VERSION is %d (got %d)",
	       VFIO_API_VERSION, ret);

	/* 5 */
	ret = have_api ? ioctl(container, VFIO_CHECK_EXTENSION,
			       VFIO_NOIOMMU_IOMMU) : -1;
	tap_ok(ret > 0, "VFIO_CHECK_EXTENSION(VFIO_NOIOMMU_IOMMU) (got %d)",
	       ret);

	/* 6 */
	if (have_group_node) {
		group = open(path, O_RDWR);
		if (group < 0)
			tap_diag("open %s: %s", path, strerror(errno));
	}
	tap_ok(group >= 0, "open %s", path);

	/* 7 */
	ret = -1;
	if (group >= 0) {
		ret = ioctl(group, VFIO_GROUP_GET_STATUS, &status);
		if (ret)
			tap_diag("VFIO_GROUP_GET_STATUS: %s", strerror(errno));
	}
	tap_ok(!ret && (status.flags & VFIO_GROUP_FLAGS_VIABLE),
	       "VFIO_GROUP_GET_STATUS reports the group viable (flags 0x%x)",
	       status.flags);

	/* 8 */
	ret = -1;
	if (group >= 0 && container >= 0) {
		ret = ioctl(group, VFIO_GROUP_SET_CONTAINER, &container);
		if (ret)
			tap_diag("VFIO_GROUP_SET_CONTAINER: %s",
				 strerror(errno));
	}
	tap_ok(!ret, "VFIO_GROUP_SET_CONTAINER");

	/* 9 */
	if (!ret) {
		ret = ioctl(container, VFIO_SET_IOMMU, VFIO_NOIOMMU_IOMMU);
		if (ret)
			tap_diag("VFIO_SET_IOMMU: %s", strerror(errno));
	}
	set = tap_ok(!ret, "VFIO_SET_IOMMU(VFIO_NOIOMMU_IOMMU)");

	/* 10 */
	if (set) {
		device = ioctl(group, VFIO_GROUP_GET_DEVICE_FD, bdf);
		if (device < 0)
			tap_diag("VFIO_GROUP_GET_DEVICE_FD: %s",
				 strerror(errno));
	}
	tap_ok(device >= 0, "VFIO_GROUP_GET_DEVICE_FD(%s) gives a device fd",
	       bdf);

	/* 11 */
	ret = -1;
	if (device >= 0) {
		ret = ioctl(device, VFIO_DEVICE_GET_INFO, &info);
		if (ret)
			tap_diag("VFIO_DEVICE_GET_INFO: %s", strerror(errno));
	}
	tap_ok(!ret && (info.flags & VFIO_DEVICE_FLAGS_PCI) &&
	       info.num_regions >= 1,
	       "VFIO_DEVICE_GET_INFO: PCI device, %u regions (flags 0x%x)",
	       info.num_regions, info.flags);

	/* 12 */
	ret = -1;
	if (device >= 0) {
		ret = ioctl(device, VFIO_DEVICE_GET_REGION_INFO, &bar0);
		if (ret)
			tap_diag("VFIO_DEVICE_GET_REGION_INFO(BAR0): %s",
				 strerror(errno));
	}
	have_bar0 = !ret &&
		(bar0.flags & VFIO_REGION_INFO_FLAG_READ) &&
		(bar0.flags & VFIO_REGION_INFO_FLAG_WRITE) &&
		bar0.size >= EDU_BAR0_SIZE;
	tap_ok(have_bar0,
	       "BAR0 region is read/write, size 0x%llx at offset 0x%llx",
	       (unsigned long long)bar0.size, (unsigned long long)bar0.offset);

	/* 13: read first, the description prints what was read */
	val = 0;
	ok = have_bar0 && region_read32(device, bar0.offset, EDU_ID, &val);
	tap_ok(ok && val == EDU_ID_VALUE,
	       "edu identification register reads 0x%08x (got 0x%08x)",
	       EDU_ID_VALUE, val);

	/* 14 */
	val = 0;
	ok = have_bar0 &&
	     region_write32(device, bar0.offset, EDU_LIVENESS, pattern) &&
	     region_read32(device, bar0.offset, EDU_LIVENESS, &val);
	tap_ok(ok && val == (uint32_t)~pattern,
	       "edu liveness register inverts 0x%08x (got 0x%08x)", pattern,
	       val);

	if (device >= 0)
		close(device);
	if (group >= 0)
		close(group);
	if (container >= 0)
		close(container);

	return tap_finish();
}
