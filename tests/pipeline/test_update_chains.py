"""Real update chains through the pipeline: one TOO per event, with the best position."""

from __future__ import annotations

from autotoo.store.rows import SubmissionState as S
from tests.pipeline.conftest import KAFKA, Pipeline

# Fermi GBM trigger 799078840 as GCN Kafka delivered it (ALERT, GND_POS twice, FIN_POS).
CHAIN = [
    ("000000000877_4006_gcn_classic_voevent_fermi_gbm_alert.xml", "FERMI_GBM_ALERT"),
    ("000000000339_1880_gcn_classic_voevent_fermi_gbm_gnd_pos.xml", "FERMI_GBM_GND_POS"),
    ("000000000340_1881_gcn_classic_voevent_fermi_gbm_gnd_pos.xml", "FERMI_GBM_GND_POS"),
    ("000000001675_1050_gcn_classic_voevent_fermi_gbm_fin_pos.xml", "FERMI_GBM_FIN_POS"),
]

RULE = """\
rules:
  - name: gbm
    match:
      topics: [gcn.classic.voevent.FERMI_GBM_GND_POS, gcn.classic.voevent.FERMI_GBM_FIN_POS]
    when: alert.error_deg <= 4.0 && !alert.flags.Def_NOT_a_GRB
    settle: 10m
    once_per: event
    too:
      source_name: "GRB {{ alert.event_key }}"
      source_type: GRB
      grb_detector: Fermi/GBM
      grb_triggertime: "{{ alert.trigger_time | swift_time }}"
      position: best
      urgency: 3
      obs_type: Position
      exp_time_per_visit: 500
      num_of_visits: 1
      other_brightness: "GBM GRB"
      immediate_objective: "Find the afterglow of GBM {{ alert.event_key }}"
      science_just: "A GBM GRB with a small error region; XRT tiles find the afterglow."
      exp_time_just: "500 s per tile detects a typical afterglow."
"""


async def test_fermi_chain_gives_one_too_with_the_final_position(
    make_emulator, make_pipeline
) -> None:
    emulator = await make_emulator()
    p: Pipeline = await make_pipeline(emulator, RULE)
    for name, kind in CHAIN:
        await p.feed((KAFKA / name).read_bytes(), f"gcn.classic.voevent.{kind}")
        p.clock.advance(minutes=2)
        await p.run()
    [row] = await p.rows()  # three matching notices, one event, one key
    assert row.state is S.PLANNED  # still settling: every update re-rendered it
    assert abs(row.request["body"]["poserr"] - 2.12 * 60) < 0.5
    p.clock.advance(minutes=10)
    await p.run()
    [row] = await p.rows()
    assert row.state in {S.SUBMITTED, S.TRACKING}
    [too] = emulator.swift.toos.values()
    assert abs(too.form.poserr - row.request["body"]["poserr"]) < 1e-6
    decisions = await p.repo.recent_alerts(limit=10)
    assert len(decisions) == len(CHAIN)  # every alert recorded with its event
    assert {d["group_key"] for d in decisions} == {"fermi:799078840"}
