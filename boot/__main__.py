"""`python -m boot` is `agentrun-boot`."""

from __future__ import annotations

import sys

from boot.cli import main

sys.exit(main())
