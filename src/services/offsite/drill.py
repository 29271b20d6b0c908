"""The off-machine drill: restore the newest copy of each target into a throw-away database."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from src.config.settings import Settings
from src.errors import BackupError
from src.services.drill import DrillResult, restore_drill
from src.services.naming import clean_stale, work_prefix
from src.services.offsite import crypto
from src.services.offsite.fetching import copies_on, fetch
from src.services.offsite.targets import open_target

logger = logging.getLogger(__name__)


def offsite_drills(settings: Settings) -> dict[str, DrillResult]:
    """Download, decrypt and drill the newest copy on every target (needs AGE_IDENTITY_FILE).

    Returns:
        One result per target; none at all without an identity to open the copies.
    """
    offsite = settings.offsite
    if not offsite.enabled or (offsite.encrypted and offsite.identity_file is None):
        return {}
    settings.recovery_dir.mkdir(parents=True, exist_ok=True)
    clean_stale(settings.recovery_dir, "offsite-drill")
    results = {}
    for configured in offsite.targets:
        target = open_target(configured, settings)
        with tempfile.TemporaryDirectory(
            dir=settings.recovery_dir, prefix=work_prefix("offsite-drill")
        ) as tmp:
            try:
                copies = [c for c in copies_on(target) if c.encrypted or not offsite.encrypted]
                if not copies:
                    results[target.name] = DrillResult(Path(target.name), False, "no copy there")
                    continue
                identities = (
                    crypto.identities_of(offsite.identity_file) if copies[0].encrypted else None
                )
                reserve = settings.min_free_mb * 2**20
                path, _ = fetch(target, copies[0], Path(tmp), identities, reserve)
                result = restore_drill(settings, path)
            except BackupError as error:
                result = DrillResult(Path(target.name), False, str(error))
            results[target.name] = result
            logger.log(
                logging.INFO if result.ok else logging.ERROR,
                "off-machine drill of %s: %s",
                target.name,
                result.detail,
            )
    return results
