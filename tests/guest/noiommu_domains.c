// SPDX-License-Identifier: GPL-2.0
/*
 * No-IOMMU and real-IOMMU domains in one iommufd, and when IOAS pages stop
 * being pinned. Two behaviours a maintainer review asked to be shown:
 *
 * mixed_domains: a device behind a real IOMMU (iommufd's mock device,
 *   CONFIG_IOMMUFD_TEST) and the no-IOMMU device (the edu device's
 *   noiommu-vfioN cdev) share one iommufd and never share a domain, in
 *   either direction. Automatic domain selection skips a domain of the
 *   other kind and allocates one of the device's own; naming a HWPT of the
 *   other kind fails with EINVAL. IOMMU_IOAS_NOIOMMU_GET_PA answers only
 *   when the IOAS holds a no-IOMMU domain, and then agrees with
 *   /proc/self/pagemap.
 *
 * pinning: the pages of an IOAS mapping are pinned while a no-IOMMU HWPT
 *   holds them. Detaching, replacing or destroying the last no-IOMMU HWPT
 *   of the IOAS unpins them while the IOVA stays mapped, and GET_PA answers
 *   while any no-IOMMU HWPT is in the IOAS, attached or not. Pins are
 *   counted with /proc/vmstat's nr_foll_pin_acquired - nr_foll_pin_released
 *   (pin_user_pages() accounting, one per 4K page), per-CPU counters folded
 *   through /proc/sys/vm/stat_refresh, as a delta from a snapshot taken at
 *   the start of each test. Nothing else in the idle guest holds a pin
 *   (acquired == released between runs, and the delta is exactly the
 *   pages mapped), so each step's count must be exact.
 *
 * Needs root (CAP_SYS_RAWIO for the cdev and GET_PA, pagemap's PFNs,
 * stat_refresh) and a kernel with the noiommu-cdev series and
 * CONFIG_IOMMUFD_TEST.
 *
 * usage: noiommu_domains [harness options] BDF
 *   BDF is the edu device bound to vfio-pci in no-IOMMU mode. As for the
 *   kernel's vfio selftests, it is the last argument (removed before the
 *   kselftest harness parses its own options, -r, -f, -l, ...), or else
 *   taken from $NOIOMMU_BDF.
 */
#define _GNU_SOURCE
#include <sched.h>

#include "noiommu_utils.h"

/* The buffers: 4K pages, so that pins count one per page */
#define NPAGES		16
#define NPAGES_B	5
#define LEN		(NPAGES * SZ_4K)
#define LEN_B		(NPAGES_B * SZ_4K)
/* Inside the mock domain's aperture [MOCK_APERTURE_START, _LAST] */
#define IOVA		(64UL << 20)

/* iommufd's mock device: a device behind a (mock) real IOMMU */
#define test_mock_domain(pt_id, stdev_id, hwpt_id)                  \
	ASSERT_EQ(0, _test_cmd_mock_domain(self->nd.iommufd, pt_id, \
					   stdev_id, hwpt_id, NULL))

/* Replace the mock device's domain with @pt_id; the new HWPT in *@hwpt_id */
#define test_mock_replace(stdev_id, pt_id, hwpt_id)                  \
	ASSERT_EQ(0, _test_cmd_mock_domain_replace(self->nd.iommufd, \
						   stdev_id, pt_id,  \
						   hwpt_id))
#define test_err_mock_replace(_errno, stdev_id, pt_id)                   \
	EXPECT_ERRNO(_errno, _test_cmd_mock_domain_replace(self->nd.iommufd, \
							   stdev_id, pt_id, \
							   NULL))

/*
 * @hwpt_id is a mock domain and maps [@iova, @iova + @len) to the pages of
 * @buf (IOMMU_TEST_OP_MD_CHECK_MAP fails with EINVAL for another domain)
 */
static int _test_md_check_map(int iommufd, __u32 hwpt_id, __u64 iova,
			      void *buf, __u64 len)
{
	struct iommu_test_cmd cmd = {
		.size = sizeof(cmd),
		.op = IOMMU_TEST_OP_MD_CHECK_MAP,
		.id = hwpt_id,
		.check_map = {
			.iova = iova,
			.length = len,
			.uptr = (uintptr_t)buf,
		},
	};

	return ioctl(iommufd, IOMMU_TEST_CMD, &cmd);
}
#define test_md_check_map(hwpt_id, iova, buf, len) \
	ASSERT_EQ(0, _test_md_check_map(self->nd.iommufd, hwpt_id, iova, buf, len))

/*
 * Pages pinned with pin_user_pages() in the whole guest, acquired minus
 * released, after folding the per-CPU counters into the global ones.
 */
static int _read_pins(long *pinned)
{
	long long acquired = -1, released = -1, val;
	char name[64];
	FILE *f;

	if (write_file("/proc/sys/vm/stat_refresh", "1"))
		return errno ?: EIO;
	f = fopen("/proc/vmstat", "r");
	if (!f)
		return errno;
	while (fscanf(f, "%63s %lld", name, &val) == 2) {
		if (!strcmp(name, "nr_foll_pin_acquired"))
			acquired = val;
		else if (!strcmp(name, "nr_foll_pin_released"))
			released = val;
	}
	fclose(f);
	if (acquired < 0 || released < 0)
		return ENOENT;
	*pinned = acquired - released;
	return 0;
}

/*
 * Pages pinned since the snapshot @base. iommufd pins and unpins before
 * its ioctl returns, so in the idle guest the count is exact. A pin held
 * elsewhere for the length of an I/O (a direct I/O pins its user buffer)
 * would show as a count that moves: read again, yielding the CPU, for as
 * long as it keeps moving (at most PINS_READS times), and return the
 * first count read twice in a row. No clock: a stable count is the state
 * waited for.
 */
#define PINS_READS	1000
static long _pinned_since(struct __test_metadata *_metadata, long base)
{
	long now = 0, prev;
	int i;

	ASSERT_EQ(0, _read_pins(&now));
	for (i = 1; i < PINS_READS; i++) {
		prev = now;
		sched_yield();
		ASSERT_EQ(0, _read_pins(&now));
		if (now == prev)
			break;
	}
	ASSERT_GT(PINS_READS, i) TH_LOG("the pin count never settled");
	return now - base;
}
#define pins_snapshot(base) ASSERT_EQ(0, _read_pins(base))
/* The pages pinned since the test started are @n */
#define test_pinned(n) \
	ASSERT_EQ((long)(n), _pinned_since(_metadata, self->base))
/*
 * The pages pinned since the test started are the @len / 4K pages of @buf,
 * which @ioas_id maps at IOVA, and GET_PA there agrees with pagemap
 */
#define test_pinned_get_pa(ioas_id, buf, len)				\
	({								\
		test_pinned((len) / SZ_4K);				\
		test_get_pa_is_pagemap(ioas_id, IOVA, buf, len);	\
	})

/* A. Real-IOMMU devices and no-IOMMU domains never meet */

FIXTURE(mixed_domains) {
	struct noiommu_dev nd;
	__u32 ioas_a;
	__u32 ioas_b;
	void *buf;
};

FIXTURE_SETUP(mixed_domains)
{
	edu_bind(&self->nd);
	test_ioas_alloc(&self->ioas_a);
	test_ioas_alloc(&self->ioas_b);
	self->buf = buf_alloc(LEN, 0x5a);
}

FIXTURE_TEARDOWN(mixed_domains)
{
	/* Closing the iommufd destroys the mock devices too */
	noiommu_close(&self->nd);
}

/*
 * Before a mock device is replaced onto the no-IOMMU side: the edu device
 * attached to IOAS A (its HWPT in *@noiommu_hwpt), which maps the buffer
 * at IOVA, and a mock device on IOAS B
 */
static void replace_setup(struct __test_metadata *_metadata,
			  FIXTURE_DATA(mixed_domains) *self, __u32 *noiommu_hwpt,
			  __u32 *stdev, __u32 *mock_hwpt)
{
	test_attach(self->ioas_a, noiommu_hwpt);
	test_ioas_map(self->ioas_a, self->buf, LEN, IOVA);
	test_mock_domain(self->ioas_b, stdev, mock_hwpt);
}

/* A mock device moved onto an IOAS with a no-IOMMU HWPT gets its own */
TEST_F(mixed_domains, mock_replace_onto_noiommu_ioas)
{
	__u32 noiommu_hwpt = 0, stdev = 0, mock_hwpt = 0, new_hwpt = 0;

	replace_setup(_metadata, self, &noiommu_hwpt, &stdev, &mock_hwpt);
	test_mock_replace(stdev, self->ioas_a, &new_hwpt);
	ASSERT_NE(noiommu_hwpt, new_hwpt);
	ASSERT_NE(mock_hwpt, new_hwpt);
	/* A mock domain, filled with IOAS A's mapping */
	test_md_check_map(new_hwpt, IOVA, self->buf, LEN);
	/* The no-IOMMU HWPT still holds the mapping */
	test_get_pa_is_pagemap(self->ioas_a, IOVA, self->buf, LEN);
}

/* A mock device cannot be moved onto the no-IOMMU HWPT itself */
TEST_F(mixed_domains, mock_replace_onto_noiommu_hwpt)
{
	__u32 noiommu_hwpt = 0, stdev = 0, mock_hwpt = 0;

	replace_setup(_metadata, self, &noiommu_hwpt, &stdev, &mock_hwpt);
	test_err_mock_replace(EINVAL, stdev, noiommu_hwpt);
	/* The mock device stays on its HWPT, which it keeps busy */
	test_err_destroy(EBUSY, mock_hwpt);
	test_get_pa_is_pagemap(self->ioas_a, IOVA, self->buf, LEN);
}

/* A mock device created on an IOAS with a no-IOMMU HWPT gets its own */
TEST_F(mixed_domains, mock_domain_on_noiommu_ioas)
{
	__u32 noiommu_hwpt = 0, stdev = 0, mock_hwpt = 0;

	test_attach(self->ioas_a, &noiommu_hwpt);
	test_ioas_map(self->ioas_a, self->buf, LEN, IOVA);

	test_mock_domain(self->ioas_a, &stdev, &mock_hwpt);
	ASSERT_NE(noiommu_hwpt, mock_hwpt);
	test_md_check_map(mock_hwpt, IOVA, self->buf, LEN);
	test_get_pa_is_pagemap(self->ioas_a, IOVA, self->buf, LEN);
}

/*
 * The edu device attached to an IOAS with a mock HWPT gets its own; the mock
 * domain stores the pages, the no-IOMMU domain is filled from it
 */
TEST_F(mixed_domains, noiommu_attach_onto_mock_ioas)
{
	__u32 noiommu_hwpt = 0, stdev = 0, mock_hwpt = 0;

	test_mock_domain(self->ioas_a, &stdev, &mock_hwpt);
	test_ioas_map(self->ioas_a, self->buf, LEN, IOVA);
	test_err_get_pa(EOPNOTSUPP, self->ioas_a, IOVA);

	test_attach(self->ioas_a, &noiommu_hwpt);
	ASSERT_NE(mock_hwpt, noiommu_hwpt);
	/* GET_PA has a no-IOMMU domain to read now */
	test_get_pa_is_pagemap(self->ioas_a, IOVA, self->buf, LEN);
	test_md_check_map(mock_hwpt, IOVA, self->buf, LEN);
}

/* The edu device can neither attach nor be moved to a mock HWPT */
TEST_F(mixed_domains, noiommu_attach_onto_mock_hwpt)
{
	__u32 noiommu_hwpt = 0, stdev = 0, mock_hwpt = 0;

	test_mock_domain(self->ioas_a, &stdev, &mock_hwpt);
	test_ioas_map(self->ioas_a, self->buf, LEN, IOVA);

	/* Attach, the device attached nowhere */
	test_err_attach(EINVAL, mock_hwpt);
	test_err_get_pa(EOPNOTSUPP, self->ioas_a, IOVA);

	/* Replace, the device attached to its own HWPT on IOAS B */
	test_attach(self->ioas_b, &noiommu_hwpt);
	test_err_attach(EINVAL, mock_hwpt);
	/* Still attached there: its HWPT is busy */
	test_err_destroy(EBUSY, noiommu_hwpt);
	test_err_get_pa(EOPNOTSUPP, self->ioas_a, IOVA);
}

/* GET_PA reads no mock domain */
TEST_F(mixed_domains, get_pa_mock_only)
{
	__u32 stdev = 0, mock_hwpt = 0;

	test_mock_domain(self->ioas_a, &stdev, &mock_hwpt);
	test_ioas_map(self->ioas_a, self->buf, LEN, IOVA);
	test_md_check_map(mock_hwpt, IOVA, self->buf, LEN);

	test_err_get_pa(EOPNOTSUPP, self->ioas_a, IOVA);
	test_err_get_pa(EOPNOTSUPP, self->ioas_a, IOVA + (NPAGES - 1) * SZ_4K);
	/* Unmapped comes first */
	test_err_get_pa(ENOENT, self->ioas_a, IOVA + LEN);
}

/*
 * GET_PA with both kinds in the IOAS, mapped after both were attached:
 * answers while the no-IOMMU HWPT is there, and only then
 */
TEST_F(mixed_domains, get_pa_noiommu_and_mock)
{
	__u32 noiommu_hwpt = 0, stdev = 0, mock_hwpt = 0;

	test_attach(self->ioas_a, &noiommu_hwpt);
	test_mock_domain(self->ioas_a, &stdev, &mock_hwpt);
	ASSERT_NE(noiommu_hwpt, mock_hwpt);
	test_ioas_map(self->ioas_a, self->buf, LEN, IOVA);

	test_get_pa_is_pagemap(self->ioas_a, IOVA, self->buf, LEN);
	test_md_check_map(mock_hwpt, IOVA, self->buf, LEN);

	/* The no-IOMMU HWPT goes, the mock one stays */
	test_detach();
	test_err_destroy(ENOENT, noiommu_hwpt);
	test_md_check_map(mock_hwpt, IOVA, self->buf, LEN);
	test_err_get_pa(EOPNOTSUPP, self->ioas_a, IOVA);
}

/* B. When pages stop being pinned */

FIXTURE(pinning) {
	struct noiommu_dev nd;
	__u32 ioas_a;
	__u32 ioas_b;
	void *buf;
	void *buf_b;
	long base;	/* pins before the test */
};

FIXTURE_SETUP(pinning)
{
	edu_bind(&self->nd);
	test_ioas_alloc(&self->ioas_a);
	test_ioas_alloc(&self->ioas_b);
	self->buf = buf_alloc(LEN, 0x5a);
	self->buf_b = buf_alloc(LEN_B, 0x5a);
	pins_snapshot(&self->base);
}

FIXTURE_TEARDOWN(pinning)
{
	noiommu_close(&self->nd);
}

/* Mapped pages are pinned while a no-IOMMU HWPT is in the IOAS */
TEST_F(pinning, pinned_while_attached)
{
	__u32 hwpt = 0;

	/* Map with the device attached */
	test_attach(self->ioas_a, &hwpt);
	test_pinned(0);
	test_ioas_map(self->ioas_a, self->buf, LEN, IOVA);
	test_pinned_get_pa(self->ioas_a, self->buf, LEN);
	/* Unmap ends the pin */
	test_ioas_unmap(self->ioas_a, IOVA, LEN);
	test_pinned(0);
	test_err_get_pa(ENOENT, self->ioas_a, IOVA);

	/* Map first, with no HWPT to hold the pages, then attach */
	test_ioas_map(self->ioas_b, self->buf_b, LEN_B, IOVA);
	test_pinned(0);
	test_err_get_pa(EOPNOTSUPP, self->ioas_b, IOVA);
	test_attach(self->ioas_b, &hwpt);
	test_pinned_get_pa(self->ioas_b, self->buf_b, LEN_B);
}

/* Detaching destroys the automatic HWPT and unpins; the IOVA stays mapped */
TEST_F(pinning, detach_unpins)
{
	__u32 hwpt = 0, hwpt2 = 0;

	test_attach(self->ioas_a, &hwpt);
	test_ioas_map(self->ioas_a, self->buf, LEN, IOVA);
	test_pinned_get_pa(self->ioas_a, self->buf, LEN);

	test_detach();
	test_pinned(0);
	test_err_get_pa(EOPNOTSUPP, self->ioas_a, IOVA);
	/* The automatic HWPT is gone */
	test_err_destroy(ENOENT, hwpt);
	/* The IOVA is still mapped */
	test_err_ioas_map(EEXIST, self->ioas_a, self->buf, LEN, IOVA);

	/* Attached again: a new HWPT, pinned again, GET_PA answers again */
	test_attach(self->ioas_a, &hwpt2);
	test_pinned_get_pa(self->ioas_a, self->buf, LEN);

	test_ioas_unmap(self->ioas_a, IOVA, LEN);
	test_pinned(0);
}

/* Replacing IOAS A with IOAS B unpins A's pages and pins B's */
TEST_F(pinning, replace_unpins)
{
	__u32 hwpt_a = 0, hwpt_b = 0, hwpt_a2 = 0;

	test_attach(self->ioas_a, &hwpt_a);
	test_ioas_map(self->ioas_a, self->buf, LEN, IOVA);
	test_ioas_map(self->ioas_b, self->buf_b, LEN_B, IOVA);
	test_pinned_get_pa(self->ioas_a, self->buf, LEN);
	test_err_get_pa(EOPNOTSUPP, self->ioas_b, IOVA);

	test_attach(self->ioas_b, &hwpt_b);
	ASSERT_NE(hwpt_a, hwpt_b);
	test_pinned(NPAGES_B);
	test_err_get_pa(EOPNOTSUPP, self->ioas_a, IOVA);
	test_err_ioas_map(EEXIST, self->ioas_a, self->buf, LEN, IOVA);
	test_get_pa_is_pagemap(self->ioas_b, IOVA, self->buf_b, LEN_B);

	/* And back */
	test_attach(self->ioas_a, &hwpt_a2);
	test_pinned(NPAGES);
	test_err_get_pa(EOPNOTSUPP, self->ioas_b, IOVA);
	test_get_pa_is_pagemap(self->ioas_a, IOVA, self->buf, LEN);
}

/*
 * An explicitly allocated no-IOMMU HWPT holds the pages, device attached
 * or not; destroying it unpins them
 */
TEST_F(pinning, explicit_hwpt)
{
	__u32 hwpt = 0, attached = 0;

	test_hwpt_alloc(self->ioas_a, &hwpt);
	test_ioas_map(self->ioas_a, self->buf, LEN, IOVA);
	/* No device attached yet */
	test_pinned_get_pa(self->ioas_a, self->buf, LEN);

	test_attach(hwpt, &attached);
	ASSERT_EQ(hwpt, attached);
	test_err_destroy(EBUSY, hwpt);
	test_detach();
	/* Detached, the HWPT still holds the pages */
	test_pinned_get_pa(self->ioas_a, self->buf, LEN);

	test_destroy(hwpt);
	test_pinned(0);
	test_err_get_pa(EOPNOTSUPP, self->ioas_a, IOVA);
	test_err_ioas_map(EEXIST, self->ioas_a, self->buf, LEN, IOVA);
	test_ioas_unmap(self->ioas_a, IOVA, LEN);
}

int main(int argc, char *argv[])
{
	return noiommu_main(argc, argv);
}
