/* SPDX-License-Identifier: GPL-2.0 */
/*
 * noiommu.h - what a userspace driver does to DMA with a PCI device that no
 * IOMMU translates, through the VFIO device cdev and iommufd:
 *
 *   /dev/vfio/devices/noiommu-vfioN  --VFIO_DEVICE_BIND_IOMMUFD-->  /dev/iommu
 *   IOMMU_IOAS_ALLOC, VFIO_DEVICE_ATTACH_IOMMUFD_PT
 *   IOMMU_IOAS_MAP (pins the buffer), IOMMU_IOAS_NOIOMMU_GET_PA (its PAs)
 *
 * plus the registers of QEMU's "edu" teaching device (PCI 1234:11e8), whose
 * DMA engine copies between RAM and a 4 KiB buffer inside the device.
 *
 * Header only (static inline), so that a single-file test can use it too.
 * Functions return 0, or -1 with one line in nd->err saying what is wrong
 * and how to fix it.
 *
 * Build with the UAPI headers of a kernel that has the no-IOMMU cdev:
 *   gcc -isystem KERNEL_BUILD/usr/include ...
 */
#ifndef NOIOMMU_H
#define NOIOMMU_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <linux/iommufd.h>
#include <linux/pci_regs.h>
#include <linux/vfio.h>

#ifndef MAP_HUGE_2MB
#define MAP_HUGE_2MB (21 << MAP_HUGE_SHIFT)
#endif

#define SZ_4K		4096UL
#define SZ_2M		(2UL << 20)

#define EDU_VENDOR	0x1234
#define EDU_DEVICE	0x11e8

/* edu BAR0 registers */
#define EDU_ID		0x00	/* 32-bit, reads EDU_ID_VALUE */
#define EDU_LIVENESS	0x04	/* 32-bit, reads back the inverse */
#define EDU_DMA_SRC	0x80	/* 64-bit */
#define EDU_DMA_DST	0x88
#define EDU_DMA_COUNT	0x90
#define EDU_DMA_CMD	0x98
#define EDU_ID_VALUE	0x010000ed

#define EDU_CMD_START	0x1	/* cleared by the device when done */
#define EDU_CMD_TO_RAM	0x2	/* direction: device buffer -> RAM */

/* The device's own buffer, as seen in EDU_DMA_SRC/DST */
#define EDU_BUF_ADDR	0x40000
#define EDU_BUF_SIZE	4096
/*
 * QEMU 7.2's range check rejects a transfer that ends exactly at the end of
 * the device buffer, and rejecting means aborting the whole VM. Every
 * transfer therefore starts at EDU_BUF_ADDR and moves at most half of it.
 */
#define EDU_DMA_MAX	2048
/*
 * A DMA takes 100 ms of the emulator's clock. The wait is bounded by polls,
 * each after a 1 ms sleep, not by the clock: on a busy host or a slow
 * kernel each poll takes longer and the limit grows with it, so only a
 * device that never finishes reaches it (at least 10 s on an idle host).
 */
#define EDU_DMA_MAX_POLLS	10000

struct noiommu_dev {
	char bdf[64];
	char cdev[PATH_MAX];	/* /dev/vfio/devices/noiommu-vfioN */
	int device_fd;
	int iommufd;
	__u32 dev_id;		/* the device in the iommufd */
	__u32 ioas_id;
	__u64 config_offset;	/* of PCI config space in device_fd */
	volatile uint8_t *bar0;
	size_t bar0_size;
	char err[1024];
};

/* A run of IOVA that is physically contiguous */
struct pa_range {
	__u64 iova;
	__u64 pa;
	__u64 len;
};

__attribute__((format(printf, 2, 3)))
static inline int nd_fail(struct noiommu_dev *nd, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(nd->err, sizeof(nd->err), fmt, ap);
	va_end(ap);
	return -1;
}

/* snprintf(dst, len, "%s", src) that gcc does not warn about truncating */
static inline void copy_str(char *dst, size_t len, const char *src)
{
	size_t n = strnlen(src, len - 1);

	memcpy(dst, src, n);
	dst[n] = 0;
}

/* Read a one-line sysfs/procfs file without its newline; "" if unreadable. */
static inline const char *read_line(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");

	buf[0] = 0;
	if (!f)
		return buf;
	if (!fgets(buf, len, f))
		buf[0] = 0;
	fclose(f);
	buf[strcspn(buf, "\n")] = 0;
	return buf;
}

static inline unsigned long read_ulong(const char *path)
{
	char buf[64];

	return strtoul(read_line(path, buf, sizeof(buf)), NULL, 0);
}

/* Find the first PCI device with this ID; 0 if found, else -1. */
static inline int find_pci_device(unsigned int vendor, unsigned int device,
				  char *bdf, size_t len)
{
	char path[PATH_MAX];
	struct dirent *e;
	DIR *d;
	int ret = -1;

	d = opendir("/sys/bus/pci/devices");
	if (!d)
		return -1;
	while (ret && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/vendor",
			 e->d_name);
		if (read_ulong(path) != vendor)
			continue;
		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/device",
			 e->d_name);
		if (read_ulong(path) != device)
			continue;
		copy_str(bdf, len, e->d_name);
		ret = 0;
	}
	closedir(d);
	return ret;
}

/* Name of the driver bound to the device, "" if none. */
static inline const char *pci_driver(const char *bdf, char *buf, size_t len)
{
	char link[PATH_MAX], target[PATH_MAX];
	const char *slash;
	ssize_t n;

	snprintf(link, sizeof(link), "/sys/bus/pci/devices/%s/driver", bdf);
	n = readlink(link, target, sizeof(target) - 1);
	buf[0] = 0;
	if (n < 0)
		return buf;
	target[n] = 0;
	slash = strrchr(target, '/');
	copy_str(buf, len, slash ? slash + 1 : target);
	return buf;
}

/*
 * The cdev of a no-IOMMU device is named noiommu-vfioN, in sysfs under
 * vfio-dev/ and in /dev/vfio/devices/; a device behind an IOMMU gets vfioN.
 */
static inline bool find_cdev(struct noiommu_dev *nd, const char *prefix)
{
	char dir[PATH_MAX];
	struct dirent *e;
	bool found = false;
	DIR *d;

	snprintf(dir, sizeof(dir), "/sys/bus/pci/devices/%s/vfio-dev", nd->bdf);
	d = opendir(dir);
	if (!d)
		return false;
	while (!found && (e = readdir(d))) {
		if (strncmp(e->d_name, prefix, strlen(prefix)))
			continue;
		snprintf(nd->cdev, sizeof(nd->cdev), "/dev/vfio/devices/%s",
			 e->d_name);
		found = true;
	}
	closedir(d);
	return found;
}

/* The device has no noiommu-vfioN: say why, most basic cause first. */
static inline int explain_no_cdev(struct noiommu_dev *nd)
{
	const char *mode = "/sys/module/vfio/parameters/enable_unsafe_noiommu_mode";
	char drv[64], val[16];

	if (find_cdev(nd, "vfio"))
		return nd_fail(nd, "%s is behind an IOMMU (%s): it needs no no-IOMMU mode; use it as a normal VFIO device",
			       nd->bdf, nd->cdev);
	if (access(mode, F_OK))
		return nd_fail(nd, "this kernel has no VFIO no-IOMMU mode: boot one built with CONFIG_VFIO_NOIOMMU=y and the noiommu-cdev series");
	if (read_line(mode, val, sizeof(val))[0] != 'Y')
		return nd_fail(nd, "no-IOMMU mode is off: echo Y > %s (or boot with vfio.enable_unsafe_noiommu_mode=1), then bind %s to vfio-pci",
			       mode, nd->bdf);
	pci_driver(nd->bdf, drv, sizeof(drv));
	if (!drv[0])
		return nd_fail(nd, "%s is not bound to vfio-pci: echo vfio-pci > /sys/bus/pci/devices/%s/driver_override; echo %s > /sys/bus/pci/drivers_probe",
			       nd->bdf, nd->bdf, nd->bdf);
	if (strcmp(drv, "vfio-pci"))
		return nd_fail(nd, "%s is bound to %s, not vfio-pci: echo %s > /sys/bus/pci/devices/%s/driver/unbind; echo vfio-pci > /sys/bus/pci/devices/%s/driver_override; echo %s > /sys/bus/pci/drivers_probe",
			       nd->bdf, drv, nd->bdf, nd->bdf, nd->bdf, nd->bdf);
	return nd_fail(nd, "%s has no noiommu-vfio cdev: boot a kernel with the noiommu-cdev series (VFIO_DEVICE_CDEV=y, VFIO_NOIOMMU=y)",
		       nd->bdf);
}

static inline int region_info(struct noiommu_dev *nd, __u32 index,
			      struct vfio_region_info *info)
{
	*info = (struct vfio_region_info){
		.argsz = sizeof(*info),
		.index = index,
	};
	if (ioctl(nd->device_fd, VFIO_DEVICE_GET_REGION_INFO, info))
		return nd_fail(nd, "VFIO_DEVICE_GET_REGION_INFO(%u): %s", index,
			       strerror(errno));
	return 0;
}

/* vfio-pci leaves bus mastering off, and the device cannot DMA without it. */
static inline int enable_bus_master(struct noiommu_dev *nd)
{
	struct vfio_region_info info;
	__u16 cmd;

	if (region_info(nd, VFIO_PCI_CONFIG_REGION_INDEX, &info))
		return -1;
	nd->config_offset = info.offset;
	if (pread(nd->device_fd, &cmd, sizeof(cmd),
		  info.offset + PCI_COMMAND) != sizeof(cmd))
		return nd_fail(nd, "read PCI_COMMAND: %s", strerror(errno));
	cmd |= PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
	if (pwrite(nd->device_fd, &cmd, sizeof(cmd),
		   info.offset + PCI_COMMAND) != sizeof(cmd))
		return nd_fail(nd, "write PCI_COMMAND: %s", strerror(errno));
	return 0;
}

static inline int map_bar0(struct noiommu_dev *nd)
{
	struct vfio_region_info info;
	void *va;

	if (region_info(nd, VFIO_PCI_BAR0_REGION_INDEX, &info))
		return -1;
	if (!(info.flags & VFIO_REGION_INFO_FLAG_MMAP) || !info.size)
		return nd_fail(nd, "BAR0 of %s cannot be mmap()ed", nd->bdf);
	va = mmap(NULL, info.size, PROT_READ | PROT_WRITE, MAP_SHARED,
		  nd->device_fd, info.offset);
	if (va == MAP_FAILED)
		return nd_fail(nd, "mmap BAR0: %s", strerror(errno));
	nd->bar0 = va;
	nd->bar0_size = info.size;
	return 0;
}

static inline int open_cdev(struct noiommu_dev *nd)
{
	nd->device_fd = open(nd->cdev, O_RDWR);
	if (nd->device_fd >= 0)
		return 0;
	if (errno == EPERM)
		return nd_fail(nd, "opening %s needs CAP_SYS_RAWIO: run as root with cap_sys_rawio",
			       nd->cdev);
	return nd_fail(nd, "open %s: %s", nd->cdev, strerror(errno));
}

/* Bind the device to a new iommufd and attach it to a new IOAS. */
static inline int bind_and_attach(struct noiommu_dev *nd)
{
	struct vfio_device_bind_iommufd bind = { .argsz = sizeof(bind) };
	struct vfio_device_attach_iommufd_pt attach = {
		.argsz = sizeof(attach),
	};
	struct iommu_ioas_alloc alloc = { .size = sizeof(alloc) };

	nd->iommufd = open("/dev/iommu", O_RDWR);
	if (nd->iommufd < 0)
		return nd_fail(nd, "open /dev/iommu: %s (is CONFIG_IOMMUFD on?)",
			       strerror(errno));
	bind.iommufd = nd->iommufd;
	if (ioctl(nd->device_fd, VFIO_DEVICE_BIND_IOMMUFD, &bind))
		return nd_fail(nd, "VFIO_DEVICE_BIND_IOMMUFD: %s",
			       strerror(errno));
	nd->dev_id = bind.out_devid;
	if (ioctl(nd->iommufd, IOMMU_IOAS_ALLOC, &alloc))
		return nd_fail(nd, "IOMMU_IOAS_ALLOC: %s", strerror(errno));
	nd->ioas_id = alloc.out_ioas_id;
	/* Gives the IOAS a software page table: GET_PA reads it */
	attach.pt_id = nd->ioas_id;
	if (ioctl(nd->device_fd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &attach))
		return nd_fail(nd, "VFIO_DEVICE_ATTACH_IOMMUFD_PT: %s",
			       strerror(errno));
	return 0;
}

/*
 * Open the no-IOMMU cdev of PCI device @bdf, bind it to iommufd, attach an
 * IOAS, turn on bus mastering and map BAR0.
 */
static inline int noiommu_open(struct noiommu_dev *nd, const char *bdf)
{
	char path[PATH_MAX];

	memset(nd, 0, sizeof(*nd));
	nd->device_fd = -1;
	nd->iommufd = -1;
	copy_str(nd->bdf, sizeof(nd->bdf), bdf);

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s", bdf);
	if (access(path, F_OK))
		return nd_fail(nd, "no PCI device %s: give the BDF of an edu device as listed by lspci -D -d 1234:11e8",
			       bdf);
	if (!find_cdev(nd, "noiommu-vfio"))
		return explain_no_cdev(nd);
	if (open_cdev(nd) || bind_and_attach(nd) || enable_bus_master(nd) ||
	    map_bar0(nd))
		return -1;
	return 0;
}

static inline void noiommu_close(struct noiommu_dev *nd)
{
	if (nd->bar0)
		munmap((void *)nd->bar0, nd->bar0_size);
	/* Closing the device fd detaches and unbinds it */
	if (nd->device_fd >= 0)
		close(nd->device_fd);
	if (nd->iommufd >= 0)
		close(nd->iommufd);
	nd->bar0 = NULL;
	nd->device_fd = -1;
	nd->iommufd = -1;
}

/* Anonymous 2M hugepages: physically contiguous per 2M, never swapped. */
static inline void *alloc_hugepages(struct noiommu_dev *nd, size_t len)
{
	void *va;

	va = mmap(NULL, len, PROT_READ | PROT_WRITE,
		  MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_HUGE_2MB,
		  -1, 0);
	if (va != MAP_FAILED)
		return va;
	nd_fail(nd, "no free 2M hugepage (%lu reserved, %lu free): reserve some with echo 16 > /proc/sys/vm/nr_hugepages",
		read_ulong("/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"),
		read_ulong("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages"));
	return NULL;
}

/*
 * Map (and so pin) @len bytes at @va into the IOAS, at IOVA *@iova if
 * @fixed, else where the kernel likes (returned in *@iova).
 */
static inline int noiommu_map(struct noiommu_dev *nd, void *va, size_t len,
			      __u64 *iova, bool fixed)
{
	struct iommu_ioas_map map = {
		.size = sizeof(map),
		.flags = IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE |
			 (fixed ? IOMMU_IOAS_MAP_FIXED_IOVA : 0),
		.ioas_id = nd->ioas_id,
		.user_va = (uintptr_t)va,
		.length = len,
		.iova = fixed ? *iova : 0,
	};

	if (ioctl(nd->iommufd, IOMMU_IOAS_MAP, &map))
		return nd_fail(nd, "IOMMU_IOAS_MAP of %zu bytes: %s", len,
			       strerror(errno));
	*iova = map.iova;
	return 0;
}

/* PA of @iova, and how many bytes (at most *len) are contiguous from it. */
static inline int noiommu_get_pa(struct noiommu_dev *nd, __u64 iova,
				 __u64 *len, __u64 *pa)
{
	struct iommu_ioas_noiommu_get_pa cmd = {
		.size = sizeof(cmd),
		.ioas_id = nd->ioas_id,
		.iova = iova,
		.length = *len,
	};

	if (ioctl(nd->iommufd, IOMMU_IOAS_NOIOMMU_GET_PA, &cmd))
		return nd_fail(nd, "IOMMU_IOAS_NOIOMMU_GET_PA(iova %#llx): %s",
			       (unsigned long long)iova, strerror(errno));
	if (!cmd.length || cmd.length > *len)
		return nd_fail(nd, "GET_PA(iova %#llx, %llu bytes) answered %llu bytes",
			       (unsigned long long)iova,
			       (unsigned long long)*len,
			       (unsigned long long)cmd.length);
	*len = cmd.length;
	*pa = cmd.out_phys;
	return 0;
}

/*
 * Resolve [@iova, @iova + @len) into physically contiguous ranges: ask for
 * all that is left, continue where the answer ends. Fills at most @max
 * ranges and returns their number, or -1.
 */
static inline int noiommu_resolve(struct noiommu_dev *nd, __u64 iova,
				  __u64 len, struct pa_range *r, int max)
{
	__u64 done = 0;
	int nr = 0;

	while (done < len) {
		__u64 n = len - done, pa = 0;

		if (nr == max)
			return nd_fail(nd, "buffer at iova %#llx has more than %d physical ranges",
				       (unsigned long long)iova, max);
		if (noiommu_get_pa(nd, iova + done, &n, &pa))
			return -1;
		r[nr++] = (struct pa_range){ iova + done, pa, n };
		done += n;
	}
	return nr;
}

/*
 * The PA to program for [@iova, @iova + @len), which must lie in one range:
 * a DMA needs contiguous memory. 0 (never a buffer's PA here) if not.
 */
static inline __u64 range_pa(const struct pa_range *r, int nr, __u64 iova,
			     __u64 len)
{
	int i;

	for (i = 0; i < nr; i++)
		if (iova >= r[i].iova && iova + len <= r[i].iova + r[i].len)
			return r[i].pa + (iova - r[i].iova);
	return 0;
}

/* edu registers: 32-bit below 0x80, 64-bit from there */
static inline uint32_t edu_read32(struct noiommu_dev *nd, unsigned int reg)
{
	return *(volatile uint32_t *)(nd->bar0 + reg);
}

static inline void edu_write32(struct noiommu_dev *nd, unsigned int reg,
			       uint32_t val)
{
	*(volatile uint32_t *)(nd->bar0 + reg) = val;
}

static inline uint64_t edu_read64(struct noiommu_dev *nd, unsigned int reg)
{
	return *(volatile uint64_t *)(nd->bar0 + reg);
}

static inline void edu_write64(struct noiommu_dev *nd, unsigned int reg,
			       uint64_t val)
{
	*(volatile uint64_t *)(nd->bar0 + reg) = val;
}

/* Is this an edu device, and does it answer? */
static inline int edu_check(struct noiommu_dev *nd)
{
	uint32_t id = edu_read32(nd, EDU_ID), probe = 0x5a5aa5a5, back;

	if (id != EDU_ID_VALUE)
		return nd_fail(nd, "%s is not an edu device (id %#010x, expected %#010x): give the BDF of one",
			       nd->bdf, id, EDU_ID_VALUE);
	edu_write32(nd, EDU_LIVENESS, probe);
	back = edu_read32(nd, EDU_LIVENESS);
	if (back != ~probe)
		return nd_fail(nd, "edu liveness register read %#010x after writing %#010x",
			       back, probe);
	return 0;
}

static inline long elapsed_ms(const struct timespec *start)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - start->tv_sec) * 1000 +
	       (now.tv_nsec - start->tv_nsec) / 1000000;
}

/* Run one DMA and poll until the device clears the start bit. */
static inline int edu_dma(struct noiommu_dev *nd, uint64_t src, uint64_t dst,
			  size_t len, uint64_t dir)
{
	const struct timespec tick = { .tv_nsec = 1000000 };
	int polls;

	if (!len || len > EDU_DMA_MAX)
		return nd_fail(nd, "edu DMA of %zu bytes: at most %d at a time",
			       len, EDU_DMA_MAX);
	edu_write64(nd, EDU_DMA_SRC, src);
	edu_write64(nd, EDU_DMA_DST, dst);
	edu_write64(nd, EDU_DMA_COUNT, len);
	/* The buffer's contents must be in memory before the device reads */
	__sync_synchronize();
	edu_write64(nd, EDU_DMA_CMD, EDU_CMD_START | dir);

	for (polls = 0; edu_read64(nd, EDU_DMA_CMD) & EDU_CMD_START; polls++) {
		if (polls == EDU_DMA_MAX_POLLS)
			return nd_fail(nd, "edu DMA did not finish after %d polls 1 ms apart",
				       EDU_DMA_MAX_POLLS);
		nanosleep(&tick, NULL);
	}
	/* ... and the CPU reads what the device wrote only after this */
	__sync_synchronize();
	return 0;
}

/* RAM at physical address @pa -> the device buffer */
static inline int edu_to_device(struct noiommu_dev *nd, uint64_t pa,
				size_t len)
{
	return edu_dma(nd, pa, EDU_BUF_ADDR, len, 0);
}

/* The device buffer -> RAM at physical address @pa */
static inline int edu_to_ram(struct noiommu_dev *nd, uint64_t pa, size_t len)
{
	return edu_dma(nd, EDU_BUF_ADDR, pa, len, EDU_CMD_TO_RAM);
}

#endif /* NOIOMMU_H */
