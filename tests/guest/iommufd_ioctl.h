/* SPDX-License-Identifier: GPL-2.0 */
/*
 * iommufd_ioctl.h - the iommufd ioctls of the in-guest tests, and VFIO's
 * ioctls that bind a device cdev to iommufd, in the style of
 * tools/testing/selftests/iommu/iommufd_utils.h: one _test_*() function
 * per ioctl, taking file descriptors and object IDs, returning 0 or the
 * errno, and storing what the kernel answered only on success (and only
 * where the pointer is not NULL). They print nothing: a test states the
 * outcome it expects, ASSERT_EQ(0, _test_...()) or ASSERT_EQ(EINVAL, ...).
 *
 * Needs nothing of examples/noiommu.h (raw_ioctl.h builds its helpers of
 * struct noiommu_dev on these), so that a test with its own device
 * handling can use it too. _test_cmd_mock_domain*() drive iommufd's mock
 * device (IOMMU_TEST_CMD), which needs CONFIG_IOMMUFD_TEST. Header only:
 * each test is a single C file.
 */
#ifndef GUEST_IOMMUFD_IOCTL_H
#define GUEST_IOMMUFD_IOCTL_H

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/ioctl.h>

#include <linux/iommufd.h>
#include <linux/vfio.h>

#include "iommufd_test.h"

/* ioctl(@fd, @request, @arg): 0 or the errno */
static inline int _test_ioctl(int fd, unsigned long request, void *arg)
{
	return ioctl(fd, request, arg) ? errno : 0;
}

/* ---- VFIO device cdev ---- */

/* Bind the device of @device_fd to @iommufd; its ID there in *@dev_id */
static inline int _test_cmd_bind(int device_fd, int iommufd, __u32 *dev_id)
{
	struct vfio_device_bind_iommufd cmd = {
		.argsz = sizeof(cmd),
		.iommufd = iommufd,
	};

	if (ioctl(device_fd, VFIO_DEVICE_BIND_IOMMUFD, &cmd))
		return errno;
	if (dev_id)
		*dev_id = cmd.out_devid;
	return 0;
}

/*
 * Attach the device to the IOAS or HWPT @pt_id, or replace what it is
 * attached to; the HWPT it ends up on in *@hwpt_id.
 */
static inline int _test_cmd_attach(int device_fd, __u32 pt_id,
				   __u32 *hwpt_id)
{
	struct vfio_device_attach_iommufd_pt cmd = {
		.argsz = sizeof(cmd),
		.pt_id = pt_id,
	};

	if (ioctl(device_fd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &cmd))
		return errno;
	if (hwpt_id)
		*hwpt_id = cmd.pt_id;
	return 0;
}

static inline int _test_cmd_detach(int device_fd)
{
	struct vfio_device_detach_iommufd_pt cmd = { .argsz = sizeof(cmd) };

	return _test_ioctl(device_fd, VFIO_DEVICE_DETACH_IOMMUFD_PT, &cmd);
}

/*
 * A dma-buf of the first @length bytes of BAR0 of @device_fd
 * (VFIO_DEVICE_FEATURE_DMA_BUF): unlike the others, the dma-buf's fd, or
 * minus the errno.
 */
static inline int vfio_bar0_dmabuf(int device_fd, __u64 length)
{
	struct {
		struct vfio_device_feature feat;
		struct vfio_device_feature_dma_buf get;
		struct vfio_region_dma_range range;
	} __attribute__((packed)) cmd = {
		.feat = {
			.argsz = sizeof(cmd),
			.flags = VFIO_DEVICE_FEATURE_GET |
				 VFIO_DEVICE_FEATURE_DMA_BUF,
		},
		.get = {
			.region_index = VFIO_PCI_BAR0_REGION_INDEX,
			.open_flags = O_RDWR | O_CLOEXEC,
			.nr_ranges = 1,
		},
		.range = { .offset = 0, .length = length },
	};
	int fd = ioctl(device_fd, VFIO_DEVICE_FEATURE, &cmd);

	return fd < 0 ? -errno : fd;
}

/* ---- iommufd objects ---- */

static inline int _test_ioctl_ioas_alloc(int iommufd, __u32 *ioas_id)
{
	struct iommu_ioas_alloc cmd = { .size = sizeof(cmd) };

	if (ioctl(iommufd, IOMMU_IOAS_ALLOC, &cmd))
		return errno;
	*ioas_id = cmd.out_ioas_id;
	return 0;
}

static inline int _test_ioctl_destroy(int iommufd, __u32 id)
{
	struct iommu_destroy cmd = { .size = sizeof(cmd), .id = id };

	return _test_ioctl(iommufd, IOMMU_DESTROY, &cmd);
}

/* Map @len bytes at @va, read-write, at IOVA @iova of IOAS @ioas_id */
static inline int _test_ioctl_ioas_map_fixed(int iommufd, __u32 ioas_id,
					     void *va, size_t len, __u64 iova)
{
	struct iommu_ioas_map cmd = {
		.size = sizeof(cmd),
		.flags = IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE |
			 IOMMU_IOAS_MAP_FIXED_IOVA,
		.ioas_id = ioas_id,
		.user_va = (uintptr_t)va,
		.length = len,
		.iova = iova,
	};

	return _test_ioctl(iommufd, IOMMU_IOAS_MAP, &cmd);
}

/* Unmap [@iova, @iova + @len) of IOAS @ioas_id; bytes unmapped in *@unmapped */
static inline int _test_ioctl_ioas_unmap(int iommufd, __u32 ioas_id,
					 __u64 iova, __u64 len,
					 __u64 *unmapped)
{
	struct iommu_ioas_unmap cmd = {
		.size = sizeof(cmd),
		.ioas_id = ioas_id,
		.iova = iova,
		.length = len,
	};

	if (ioctl(iommufd, IOMMU_IOAS_UNMAP, &cmd))
		return errno;
	if (unmapped)
		*unmapped = cmd.length;
	return 0;
}

/*
 * A HWPT for device @dev_id on @pt_id (IOMMU_HWPT_ALLOC) with @flags, the
 * fault queue @fault_id (used with IOMMU_HWPT_FAULT_ID_VALID) and driver
 * data @data of @data_type (IOMMU_HWPT_DATA_NONE, NULL, 0: a paging
 * domain); its ID in *@hwpt_id.
 */
static inline int _test_cmd_hwpt_alloc(int iommufd, __u32 dev_id,
				       __u32 pt_id, __u32 fault_id,
				       __u32 flags, __u32 *hwpt_id,
				       __u32 data_type, void *data,
				       size_t data_len)
{
	struct iommu_hwpt_alloc cmd = {
		.size = sizeof(cmd),
		.flags = flags,
		.dev_id = dev_id,
		.pt_id = pt_id,
		.data_type = data_type,
		.data_len = data_len,
		.data_uptr = (uintptr_t)data,
		.fault_id = fault_id,
	};

	if (ioctl(iommufd, IOMMU_HWPT_ALLOC, &cmd))
		return errno;
	if (hwpt_id)
		*hwpt_id = cmd.out_hwpt_id;
	return 0;
}

/* A vIOMMU of @type for device @dev_id on HWPT @hwpt_id */
static inline int _test_cmd_viommu_alloc(int iommufd, __u32 dev_id,
					 __u32 hwpt_id, __u32 type,
					 __u32 *viommu_id)
{
	struct iommu_viommu_alloc cmd = {
		.size = sizeof(cmd),
		.type = type,
		.dev_id = dev_id,
		.hwpt_id = hwpt_id,
	};

	if (ioctl(iommufd, IOMMU_VIOMMU_ALLOC, &cmd))
		return errno;
	if (viommu_id)
		*viommu_id = cmd.out_viommu_id;
	return 0;
}

/* ---- iommufd's mock device (CONFIG_IOMMUFD_TEST) ---- */

/*
 * A mock device, behind iommufd's mock (real) IOMMU, attached to @pt_id:
 * its selftest device ID, the HWPT it got and its device ID in
 * *@stdev_id, *@hwpt_id and *@idev_id.
 */
static inline int _test_cmd_mock_domain(int iommufd, __u32 pt_id,
					__u32 *stdev_id, __u32 *hwpt_id,
					__u32 *idev_id)
{
	struct iommu_test_cmd cmd = {
		.size = sizeof(cmd),
		.op = IOMMU_TEST_OP_MOCK_DOMAIN,
		.id = pt_id,
	};

	if (ioctl(iommufd, IOMMU_TEST_CMD, &cmd))
		return errno;
	if (stdev_id)
		*stdev_id = cmd.mock_domain.out_stdev_id;
	if (hwpt_id)
		*hwpt_id = cmd.mock_domain.out_hwpt_id;
	if (idev_id)
		*idev_id = cmd.mock_domain.out_idev_id;
	return 0;
}

/* Move mock device @stdev_id to @pt_id; the HWPT it got in *@hwpt_id */
static inline int _test_cmd_mock_domain_replace(int iommufd, __u32 stdev_id,
						__u32 pt_id, __u32 *hwpt_id)
{
	struct iommu_test_cmd cmd = {
		.size = sizeof(cmd),
		.op = IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE,
		.id = stdev_id,
		.mock_domain_replace = { .pt_id = pt_id },
	};

	if (ioctl(iommufd, IOMMU_TEST_CMD, &cmd))
		return errno;
	if (hwpt_id)
		*hwpt_id = cmd.mock_domain_replace.pt_id;
	return 0;
}

#endif /* GUEST_IOMMUFD_IOCTL_H */
