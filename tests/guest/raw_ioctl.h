/* SPDX-License-Identifier: GPL-2.0 */
/*
 * raw_ioctl.h - bare ioctls shared by the in-guest tests. Each returns 0 or
 * the errno, for a test to compare with the one it expects, and prints
 * nothing; the helpers of examples/noiommu.h instead explain a failure in
 * nd->err. Header only: each test is a single C file.
 */
#ifndef GUEST_RAW_IOCTL_H
#define GUEST_RAW_IOCTL_H

#include "../../examples/noiommu.h"

/* A GET_PA request for @length bytes from @iova in IOAS @ioas_id */
static inline struct iommu_ioas_noiommu_get_pa pa_req(__u32 ioas_id,
						      __u64 iova, __u64 length)
{
	return (struct iommu_ioas_noiommu_get_pa){
		.size = sizeof(struct iommu_ioas_noiommu_get_pa),
		.ioas_id = ioas_id,
		.iova = iova,
		.length = length,
	};
}

/* Attach the device of @nd to the IOAS or HWPT @pt_id; 0 or the errno */
static inline int attach_pt(struct noiommu_dev *nd, __u32 pt_id)
{
	struct vfio_device_attach_iommufd_pt at = {
		.argsz = sizeof(at),
		.pt_id = pt_id,
	};

	return ioctl(nd->device_fd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &at) ?
	       errno : 0;
}

/* Detach the device of @nd from its IOAS; 0 or the errno */
static inline int detach_pt(struct noiommu_dev *nd)
{
	struct vfio_device_detach_iommufd_pt de = { .argsz = sizeof(de) };

	return ioctl(nd->device_fd, VFIO_DEVICE_DETACH_IOMMUFD_PT, &de) ?
	       errno : 0;
}

/* Map @len bytes at @va, read-write, at IOVA @iova of IOAS @ioas_id */
static inline int map_at(struct noiommu_dev *nd, __u32 ioas_id, void *va,
			 size_t len, __u64 iova)
{
	struct iommu_ioas_map map = {
		.size = sizeof(map),
		.flags = IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE |
			 IOMMU_IOAS_MAP_FIXED_IOVA,
		.ioas_id = ioas_id,
		.user_va = (uintptr_t)va,
		.length = len,
		.iova = iova,
	};

	return ioctl(nd->iommufd, IOMMU_IOAS_MAP, &map) ? errno : 0;
}

#endif /* GUEST_RAW_IOCTL_H */
