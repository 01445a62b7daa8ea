"""The console commands. Entry points live here, not in the command modules, so that a Ctrl-C
while torch and the codecs are still importing (a second or more on a cold start) ends like any
other interrupt: exit status 130 and one line, not a KeyboardInterrupt traceback. Nothing heavy
is imported by this module or by the (lazy) dcpt_sdk package it lives in."""

from __future__ import annotations

import importlib
import sys
from typing import NoReturn

__all__ = ["dcpt_degrade", "dcpt_export", "dcpt_restore", "dcpt_serve"]


def _run(module: str) -> NoReturn:
    try:
        status = importlib.import_module(module).main()
    except KeyboardInterrupt:  # while importing (main() handles its own run)
        print("error: interrupted while starting", file=sys.stderr)
        status = 130
    sys.exit(status)


def dcpt_restore() -> NoReturn:
    _run("dcpt_sdk.cli.restore")


def dcpt_export() -> NoReturn:
    _run("dcpt_sdk.export.cli")


def dcpt_degrade() -> NoReturn:
    _run("dcpt_sdk.cli.degrade")


def dcpt_serve() -> NoReturn:
    _run("dcpt_sdk.serve.cli")
