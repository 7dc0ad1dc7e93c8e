"""Independent models of Linux's lookups, for differential tests.

Each oracle reads what Linux reads -- raw ACPI table bytes through the
struct module, Devicetree properties as plain lists of cells -- and walks
it the way the kernel's loops do, line by line. Nothing here imports
acpitables: an oracle shares no code with the engine it checks.

    linux_iort   drivers/acpi/arm64/iort.c (Linux 7.0, with GICv5 IWB)
    linux_viot   drivers/acpi/viot.c
    linux_of     drivers/of/base.c of_map_id() (v7.2 variable-size entries)
"""
