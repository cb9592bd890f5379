// SPDX-License-Identifier: GPL-2.0
/*
 * edu-dma: a small userspace driver for QEMU's edu device on a machine
 * without an IOMMU, the way a DPDK/SPDK-style poll-mode driver works with
 * the VFIO no-IOMMU device cdev:
 *
 *   1. find the device and open /dev/vfio/devices/noiommu-vfioN;
 *   2. bind it to iommufd and attach it to an IOAS;
 *   3. map a 2M hugepage buffer into the IOAS, which pins it;
 *   4. ask IOMMU_IOAS_NOIOMMU_GET_PA for the buffer's physical ranges;
 *   5. have the device DMA a pattern from the buffer into its own memory
 *      and back into another part of the buffer, by physical address;
 *   6. check every byte and print a report.
 *
 * The device sees physical addresses: nothing protects memory from it.
 * That is what no-IOMMU mode is, and why it needs CAP_SYS_RAWIO.
 *
 * usage: edu-dma [--corrupt-pa] [BDF]
 *   BDF           the edu device (default: the first PCI 1234:11e8)
 *   --corrupt-pa  negative test: program the device with PA + 4096, which
 *                 verification must catch (exit status 1)
 *
 * Exit status: 0 verified, 1 failure (one line on stderr says why), 2 usage.
 */
#define _GNU_SOURCE
#include <stdlib.h>

#include "noiommu.h"

#define BUF_LEN		SZ_2M		/* one hugepage */
#define SRC_OFF		0UL		/* the pattern, read by the device */
#define DST_OFF		(1UL << 20)	/* where the device writes it back */
#define XFER_LEN	(32UL << 10)	/* ~100 ms per 2K DMA: a few seconds */
#define GUARD_LEN	(8UL << 10)	/* after the copy: must stay zero */
#define MAX_RANGES	16
#define CORRUPT_OFF	4096		/* stays inside our own hugepage */

struct demo {
	struct noiommu_dev nd;
	bool corrupt;
	uint8_t *buf;
	__u64 iova;
	struct pa_range ranges[MAX_RANGES];
	int nr_ranges;
	unsigned int nr_dma;
	long dma_ms;
	size_t bad;		/* bytes that differ after the copy */
	size_t first_bad;
};

static void die(const char *msg)
{
	fprintf(stderr, "edu-dma: error: %s\n", msg);
	exit(1);
}

static void usage(const char *prog)
{
	fprintf(stderr, "usage: %s [--corrupt-pa] [BDF]\n", prog);
	exit(2);
}

static uint8_t pattern(size_t off)
{
	/* Differs between neighbouring pages, so a shifted copy shows */
	return (uint8_t)((off * 2654435761u) >> 24) ^ 0x5a;
}

/* PA the device is told for buffer offset @off, @len bytes. */
static __u64 dma_addr(struct demo *d, size_t off, size_t len)
{
	__u64 pa = range_pa(d->ranges, d->nr_ranges, d->iova + off, len);

	if (!pa)
		die("a DMA chunk crosses two physical ranges");
	return d->corrupt ? pa + CORRUPT_OFF : pa;
}

/* buffer+SRC_OFF -> device -> buffer+DST_OFF, one edu-sized chunk at a time */
static void copy_through_device(struct demo *d)
{
	struct timespec start;
	size_t off, len;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (off = 0; off < XFER_LEN; off += len) {
		len = XFER_LEN - off < EDU_DMA_MAX ? XFER_LEN - off : EDU_DMA_MAX;
		if (edu_to_device(&d->nd, dma_addr(d, SRC_OFF + off, len), len) ||
		    edu_to_ram(&d->nd, dma_addr(d, DST_OFF + off, len), len))
			die(d->nd.err);
		d->nr_dma += 2;
	}
	d->dma_ms = elapsed_ms(&start);
}

/* Every copied byte equals its source, and nothing spilled past the end. */
static void verify(struct demo *d)
{
	size_t i;

	for (i = 0; i < XFER_LEN + GUARD_LEN; i++) {
		uint8_t want = i < XFER_LEN ? pattern(i) : 0;

		if (d->buf[DST_OFF + i] == want)
			continue;
		if (!d->bad++)
			d->first_bad = i;
	}
}

static void report(struct demo *d)
{
	int i;

	printf("edu-dma: DMA through the VFIO no-IOMMU cdev\n");
	printf("  device      %s (edu %04x:%04x, id %#010x)\n", d->nd.bdf,
	       EDU_VENDOR, EDU_DEVICE, edu_read32(&d->nd, EDU_ID));
	printf("  cdev        %s, bound to /dev/iommu as device %u, IOAS %u\n",
	       d->nd.cdev, d->nd.dev_id, d->nd.ioas_id);
	printf("  buffer      2 MiB hugepage at VA %p, mapped at IOVA %#llx (= VA)\n",
	       (void *)d->buf, (unsigned long long)d->iova);
	for (i = 0; i < d->nr_ranges; i++)
		printf("  IOVA -> PA  %#llx..%#llx -> %#llx..%#llx (%llu KiB)\n",
		       (unsigned long long)d->ranges[i].iova,
		       (unsigned long long)(d->ranges[i].iova + d->ranges[i].len - 1),
		       (unsigned long long)d->ranges[i].pa,
		       (unsigned long long)(d->ranges[i].pa + d->ranges[i].len - 1),
		       (unsigned long long)d->ranges[i].len >> 10);
	if (d->corrupt)
		printf("  corrupted   device programmed with PA + %d (negative test)\n",
		       CORRUPT_OFF);
	printf("  DMA         %lu bytes: buffer+%#lx -> edu -> buffer+%#lx, %u transfers of <= %d bytes, %ld ms\n",
	       XFER_LEN, SRC_OFF, DST_OFF, d->nr_dma, EDU_DMA_MAX, d->dma_ms);
	if (!d->bad)
		printf("  verify      PASS: all %lu bytes match, the %lu bytes after them are untouched\n",
		       XFER_LEN, GUARD_LEN);
	else
		printf("  verify      FAIL: %zu of the %lu bytes checked are wrong, first at buffer+%#lx (want 0x%02x, got 0x%02x)\n",
		       d->bad, XFER_LEN + GUARD_LEN, DST_OFF + d->first_bad,
		       d->first_bad < XFER_LEN ? pattern(d->first_bad) : 0,
		       d->buf[DST_OFF + d->first_bad]);
}

int main(int argc, char *argv[])
{
	static struct demo d;
	const char *bdf = NULL;
	char found[64];
	size_t i;
	int opt;

	for (opt = 1; opt < argc; opt++) {
		if (!strcmp(argv[opt], "--corrupt-pa"))
			d.corrupt = true;
		else if (argv[opt][0] == '-' || bdf)
			usage(argv[0]);
		else
			bdf = argv[opt];
	}
	if (!bdf) {
		if (find_pci_device(EDU_VENDOR, EDU_DEVICE, found, sizeof(found)))
			die("no edu device (PCI 1234:11e8) found: run QEMU with -device edu,dma_mask=0xffffffffffffffff, or give the BDF of one");
		bdf = found;
	}

	/* 1, 2: the device, iommufd, an IOAS */
	if (noiommu_open(&d.nd, bdf) || edu_check(&d.nd))
		die(d.nd.err);

	/* 3: the buffer, pinned by mapping it */
	d.buf = alloc_hugepages(&d.nd, BUF_LEN);
	if (!d.buf)
		die(d.nd.err);
	/*
	 * The pattern fills all of the first half, more than is copied: a DMA
	 * from the wrong place then also brings non-zero bytes past the end.
	 */
	memset(d.buf, 0, BUF_LEN);
	for (i = 0; i < DST_OFF - SRC_OFF; i++)
		d.buf[SRC_OFF + i] = pattern(i);
	/*
	 * IOVA = VA, as DPDK's --iova-mode=va does. Any free IOVA would do:
	 * without an IOMMU it is only the key that GET_PA looks up.
	 */
	d.iova = (uintptr_t)d.buf;
	if (noiommu_map(&d.nd, d.buf, BUF_LEN, &d.iova, true))
		die(d.nd.err);

	/* 4: what the device must be told */
	d.nr_ranges = noiommu_resolve(&d.nd, d.iova, BUF_LEN, d.ranges,
				      MAX_RANGES);
	if (d.nr_ranges < 0)
		die(d.nd.err);

	/* 5, 6 */
	copy_through_device(&d);
	verify(&d);
	report(&d);

	noiommu_close(&d.nd);
	munmap(d.buf, BUF_LEN);
	return d.bad ? 1 : 0;
}
