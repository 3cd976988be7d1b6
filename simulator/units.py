"""Byte units: catalogs state bandwidths in decimal GB/s and memory in GiB, as vendors
and drivers report them."""

#: decimal gigabyte (bandwidths: HBM, NVLink, PCIe, network)
GB = 1e9
#: binary gibibyte (memory as the driver reports it)
GIB = 2.0**30
