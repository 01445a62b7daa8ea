"""The package's public names: lazily imported, all resolvable, and `import dcpt_sdk` is light."""

from __future__ import annotations

import subprocess
import sys

import pytest

import dcpt_sdk


def test_every_public_name_resolves_and_all_lists_exactly_them() -> None:
    assert sorted(dcpt_sdk.__all__) == sorted([*dcpt_sdk._PUBLIC, "__version__"])
    for name in dcpt_sdk.__all__:
        assert getattr(dcpt_sdk, name) is not None
    assert dcpt_sdk.Restorer.__module__ == "dcpt_sdk.restorer"


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="has no attribute 'Restorr'"):
        dcpt_sdk.Restorr  # noqa: B018


def test_importing_the_package_and_the_command_entry_points_imports_no_torch() -> None:
    code = "import sys, dcpt_sdk, dcpt_sdk.cli; print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
