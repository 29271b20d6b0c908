#!/usr/bin/env python3
"""Backup manager for the PMO Recovery Bot: `python backup_manager.py --help`."""

import sys
from pathlib import Path

# Run from any folder (a double-clicked .bat starts elsewhere): import from beside this file.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from src.cli.commands import main

if __name__ == "__main__":
    sys.exit(main())
