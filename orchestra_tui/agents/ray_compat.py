"""Every use of Ray's private API, in one place, each shim saying which upstream behaviour it works around.

Written against ray 2.60. ``PRIVATE_API`` lists every private name used here; ``tests/agents/test_ray_compat.py``
checks each one exists and is used as this module assumes, so a Ray upgrade that changes one fails there, naming
it.

1. The cluster's messages on the command's own output (:func:`quiet_cluster_messages`). Every process that calls
   ``ray.init`` runs Ray's error listener (``ray._private.worker.listen_error_messages``), which prints each
   message the cluster publishes to all drivers (a node marked dead, a worker killed for memory) to
   ``sys.stdout`` through ``print_to_stdstream``, with a coloured ``(raylet)`` prefix, whatever ``log_to_driver``
   says. In a face that is someone else's text in the command's output: ``orchestra ps --json`` began with such a
   line, before its JSON. Here they go to the ``orchestra_tui.agents.ray`` logger (INFO, one printable line each)
   instead; what a run lost to them becomes is the run's own failure (``ray_remote.failure``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from ..display import one_line

log = logging.getLogger("orchestra_tui.agents.ray")

PRIVATE_API = (
    ("ray._private.worker", "listen_error_messages"),
    ("ray._private.worker", "print_to_stdstream"),
)


def quiet_cluster_messages() -> None:
    """Route what Ray's listener would print to stdout to :data:`log` instead (idempotent; the listener looks
    ``print_to_stdstream`` up as it prints, so this holds for a listener already running too)."""
    from ray._private import worker

    worker.print_to_stdstream = _to_log


def _to_log(data: Mapping[str, Any], ignore_prefix: bool = False) -> None:
    source = one_line(str(data.get("pid", "ray")))
    for line in data.get("lines", ()):
        log.info("ray (%s): %s", source, one_line(str(line)))
