"""Our IVRS decode against ACPICA's `iasl -d`, field by field (the
comparison of tests/test_dmar_iasl.py). Bookworm's 20200925 stops at the
first IVHD of type 40h; trixie's 20250404 knows 40h and stops at the
undefined type 51h and after an ACPI HID entry with a short integer UID."""
from __future__ import annotations

import pytest

from test_dmar_iasl import IASLS, check_table, ident, tables

pytestmark = pytest.mark.iasl


@pytest.mark.parametrize("which", sorted(IASLS))
@pytest.mark.parametrize("path", tables("IVRS"), ids=ident)
def test_decode_matches_iasl(path, which, tmp_path):
    check_table(path, which, tmp_path)

