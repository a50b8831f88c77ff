"""``python -m dexplorer``."""

from .cli import main

raise SystemExit(main())
