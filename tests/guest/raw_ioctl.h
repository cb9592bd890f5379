/* SPDX-License-Identifier: GPL-2.0 */
/*
 * raw_ioctl.h - bare ioctls shared by the in-guest tests, on the device of
 * a struct noiommu_dev (examples/noiommu.h). Each returns 0 or the errno,
 * for a test to compare with the one it expects, and prints nothing; the
 * helpers of examples/noiommu.h instead explain a failure in nd->err. The
 * ioctls themselves are iommufd_ioctl.h's. Header only: each test is a
 * single C file.
 */
#ifndef GUEST_RAW_IOCTL_H
#define GUEST_RAW_IOCTL_H

#include "../../examples/noiommu.h"
#include "iommufd_ioctl.h"

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
	return _test_cmd_attach(nd->device_fd, pt_id, NULL);
}

/* Detach the device of @nd from its IOAS; 0 or the errno */
static inline int detach_pt(struct noiommu_dev *nd)
{
	return _test_cmd_detach(nd->device_fd);
}

/* Map @len bytes at @va, read-write, at IOVA @iova of IOAS @ioas_id */
static inline int map_at(struct noiommu_dev *nd, __u32 ioas_id, void *va,
			 size_t len, __u64 iova)
{
	return _test_ioctl_ioas_map_fixed(nd->iommufd, ioas_id, va, len, iova);
}

/*
 * Start @nd afresh for PCI device @bdf, nothing open, and find its
 * no-IOMMU cdev (noiommu-vfioN); false, with nd->err saying why, if it has
 * none.
 */
static inline bool find_noiommu_cdev(struct noiommu_dev *nd, const char *bdf)
{
	memset(nd, 0, sizeof(*nd));
	nd->device_fd = -1;
	nd->iommufd = -1;
	copy_str(nd->bdf, sizeof(nd->bdf), bdf);
	if (find_cdev(nd, "noiommu-vfio"))
		return true;
	explain_no_cdev(nd);
	return false;
}

#endif /* GUEST_RAW_IOCTL_H */
