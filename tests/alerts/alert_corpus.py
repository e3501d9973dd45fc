"""The real alert payloads the tests use (``tests/data/alerts``, see its README), and the
Kafka topic each captured file arrived on."""

from __future__ import annotations

import re
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

# Kafka topic of each gcn-kafka-2026 file-name suffix (tests/data/alerts/README.md).
CAPTURE_TOPICS = {
    "gcn_classic_voevent_fermi_gbm_alert": "gcn.classic.voevent.FERMI_GBM_ALERT",
    "gcn_classic_voevent_fermi_gbm_flt_pos": "gcn.classic.voevent.FERMI_GBM_FLT_POS",
    "gcn_classic_voevent_fermi_gbm_gnd_pos": "gcn.classic.voevent.FERMI_GBM_GND_POS",
    "gcn_classic_voevent_fermi_gbm_fin_pos": "gcn.classic.voevent.FERMI_GBM_FIN_POS",
    "gcn_notices_svom_voevent_grm": "gcn.notices.svom.voevent.grm",
    "gcn_notices_svom_voevent_eclairs": "gcn.notices.svom.voevent.eclairs",
    "gcn_notices_svom_voevent_mxt": "gcn.notices.svom.voevent.mxt",
    "gcn_notices_einstein_probe_wxt_alert": "gcn.notices.einstein_probe.wxt.alert",
}
_CAPTURE_NAME = re.compile(r"\d+_\d+_(?P<suffix>.+)\.(?:xml|json)\Z")


CORPUS: Path = REPO_ROOT / "tests" / "data" / "alerts"


def corpus_files() -> list[Path]:
    return sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.suffix in {".json", ".xml"})


def capture_topic(path: Path) -> str | None:
    """The Kafka topic a gcn-kafka-2026 capture came from, from its file name."""
    match = _CAPTURE_NAME.match(path.name)
    return CAPTURE_TOPICS[match.group("suffix")] if match else None


def corpus_id(path: Path) -> str:
    return str(path.relative_to(CORPUS))
