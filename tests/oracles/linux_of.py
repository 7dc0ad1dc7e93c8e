"""drivers/of/base.c of_map_id() as of Linux v7.2 (variable-size entries
after the target's #iommu-cells / #msi-cells), over plain lists.

    prop     the map property as u32 cells, phandles as numbers (None: absent)
    mask     the -mask property (None: absent, all ones)
    targets  phandle -> (cells or None when the property is absent, available)

Outcomes: ("T", phandle, args) -- args the specifier cells, () for a 0-cell
target; ("F", "no-match") for an ID no entry covers (bypass, and on the MSI
path no MSI domain with the ID unchanged); ("F", "unavailable") for a
target whose status is not okay; ("F", errno) for an error.
"""
from __future__ import annotations

U32 = 0xFFFFFFFF


def of_map_id(prop, mask, targets, ident):
    if prop is None:
        return ("F", "no-description")
    mask = U32 if mask is None else mask
    masked = ident & mask
    cells = list(prop)
    # the legacy heuristic: a 2-cell first target, 4-cell entries, one
    # phandle throughout and every length 1 -> read as 1-cell entries
    one_cell = False
    if len(cells) >= 4 and len(cells) % 4 == 0:
        first = targets.get(cells[1])
        if first is not None and first[0] == 2 and all(
                cells[i + 1] == cells[1] and cells[i + 3] == 1 for i in range(0, len(cells), 4)):
            one_cell = True
    pos = 0
    while pos < len(cells):
        if pos + 2 > len(cells):
            return ("F", "EINVAL")
        base, ph = cells[pos], cells[pos + 1]
        if base & ~mask & U32:
            return ("F", "EFAULT")
        target = targets.get(ph)
        n = 1
        if not one_cell:
            if target is None:
                return ("F", "ENODEV")
            n = 1 if target[0] is None else target[0]
            if n > 16:
                return ("F", "EINVAL")
        if pos + 3 + n > len(cells):
            return ("F", "EINVAL")
        out = cells[pos + 2:pos + 2 + n]
        length = cells[pos + 2 + n]
        pos += 3 + n
        off = (masked - base) & U32
        if not (masked >= base and off < length):
            continue
        if length > 1 and n > 1:
            return ("F", "EINVAL")
        if target is None:
            return ("F", "ENODEV")
        if not target[1]:
            return ("F", "unavailable")
        return ("T", ph, tuple((off + o) & U32 for o in out))
    return ("F", "no-match")
